"""The product, end to end: a provider posts an email, the worker runs, decisions are recorded.

Each test posts a SendGrid-shaped request to the real webhook, drains the real worker over the
real database, and asserts on what was stored and decided.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.agent import offered_tools
from app.config import Settings
from app.db import Database
from app.demo.sendgrid_posts import SendGridPost, Transport, parsed_mode_post, raw_mode_post
from app.llm import tools_hash
from app.models import AgentRun, Conversation, Message, ModelTurn, Reply, ToolCall, utcnow
from app.offline_model import OfflineModel
from app.pipeline import handle_inbound_email
from app.providers import Providers
from app.tools import registry
from app.worker import Worker
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH


async def deliver(client: httpx.AsyncClient, payload: SendGridPost) -> int:
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=payload.body,
        headers={"content-type": payload.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    message_pk: int = response.json()["id"]
    return message_pk


async def process(db: Database, settings: Settings, providers: Providers | None = None) -> int:
    if providers is None:
        from app.demo_shop import DemoShop

        providers = Providers(shop=DemoShop(), llm=OfflineModel())
    return await Worker(db=db, settings=settings, providers=providers).drain()


async def load(db: Database, message_pk: int) -> Message:
    async with db.read() as session:
        message = await session.get(Message, message_pk)
        assert message is not None
        return message


FINISHED = ("drafted", "answered")


def stage(message: Message, name: str) -> str:
    """The outcome the pipeline recorded for one of its steps."""
    outcomes = [step["outcome"] for step in message.steps or [] if step["step"] == name]
    assert outcomes, f"no {name} step in {message.steps}"
    return str(outcomes[-1])


def codes(message: Message) -> set[str]:
    return {decision["code"] for decision in message.guard_decisions or []}


async def test_a_verified_customer_question_is_ready_for_the_agent(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(
        body="Hi, where is my order #1001?\n\nThanks, Sara\n\n"
        "On Mon, Nov 16, 2026 at 9:00 AM Test Shop <support@shop.test> wrote:\n"
        "> Thanks for your order!\n"
    )
    pk = await deliver(client, raw_mode_post(eml, verified_transport("example.com")))
    assert await process(db, settings) == 1
    message = await load(db, pk)
    assert stage(message, "guards") == "ready"
    assert message.status in FINISHED
    assert message.sender_verified is True
    assert message.identity_reason == "dkim_pass_aligned:example.com"
    assert message.from_address == "sara@example.com"
    assert message.subject == "Where is my order #1001?"
    assert message.clean_text is not None
    assert message.clean_text.startswith("Hi, where is my order #1001?")
    assert "Thanks for your order" not in message.clean_text
    assert message.guard_decisions == []
    assert message.processed_at is not None


async def test_parsed_mode_fields_are_decoded_with_their_charsets(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    payload = parsed_mode_post(
        {
            "headers": (
                "utf-8",
                "From: =?UTF-8?Q?Luc=C3=ADa?= <lucia@example.es>\nTo: support@shop.test\n"
                "Subject: =?UTF-8?Q?Devoluci=C3=B3n?=\nMessage-ID: <dev-1@example.es>\n",
            ),
            "from": ("utf-8", "Lucía <lucia@example.es>"),
            "subject": ("cp850", "Devolución del pedido 1003"),
            "text": ("windows-1252", "¿Cómo devuelvo el bolso? Gracias — Lucía"),
        },
        verified_transport("example.es"),
    )
    pk = await deliver(client, payload)
    await process(db, settings)
    message = await load(db, pk)
    assert message.subject == "Devolución del pedido 1003"
    assert message.clean_text == "¿Cómo devuelvo el bolso? Gracias — Lucía"
    assert (message.from_name, message.sender_verified) == ("Lucía", True)


@pytest.mark.parametrize(
    ("headers", "expected_code"),
    [
        ([("Auto-Submitted", "auto-replied")], "auto_submitted"),
        ([("Precedence", "bulk"), ("List-Id", "<news.example.com>")], "list_mail"),
        ([("X-Autoreply", "yes")], "autoreply_header"),
    ],
)
async def test_machine_mail_is_skipped_with_its_reason(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    headers: list[tuple[str, str]],
    expected_code: str,
) -> None:
    pk = await deliver(client, raw_mode_post(make_eml(headers=headers), verified_transport()))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "skipped"
    assert expected_code in codes(message)
    assert message.status_reason is not None
    assert expected_code in message.status_reason


async def test_a_bounce_from_the_null_sender_is_skipped(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(sender="Mail Delivery System <MAILER-DAEMON@mx.example.org>")
    pk = await deliver(client, raw_mode_post(eml, Transport(envelope_from="", spf="none", dkim="")))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "skipped"
    assert {"null_sender", "robot_sender"} <= codes(message)


async def test_our_own_mail_is_never_answered(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(sender="Test Shop <support@shop.test>", subject="Re: Where is my order?")
    pk = await deliver(client, raw_mode_post(eml, verified_transport("shop.test")))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "skipped"
    assert "own_address" in codes(message)


async def test_a_display_name_spoof_is_unverified_and_held_for_a_person(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(sender='"sara@example.com" <mallory@evil.example>')
    pk = await deliver(client, raw_mode_post(eml, verified_transport("evil.example")))
    await process(db, settings)
    message = await load(db, pk)
    assert message.sender_verified is False
    # Held for a person, with no address to draft an answer to: staff decide who wrote it.
    assert (stage(message, "guards"), message.status) == ("needs_human", "needs_human")
    assert "guard: no_single_sender" in (message.status_reason or "")
    assert message.reply_plan is not None
    assert "no_single_sender" in codes(message)


async def test_an_unauthenticated_sender_is_recorded_as_unverified(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    transport = Transport(envelope_from="sara@example.com", spf="softfail", dkim="none")
    pk = await deliver(client, raw_mode_post(make_eml(), transport))
    await process(db, settings)
    message = await load(db, pk)
    assert message.sender_verified is False
    assert message.identity_reason == "no_aligned_pass:spf=softfail"


async def test_a_high_spam_score_holds_the_email(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    pk = await deliver(client, raw_mode_post(make_eml(), verified_transport(spam_score="7.5")))
    await process(db, settings)
    message = await load(db, pk)
    assert (message.status, message.status_reason) == ("needs_human", "spam_score")


async def add_reply(db: Database, message_pk: int, **values: Any) -> None:
    async with db.write() as session:
        session.add(
            Reply(**{"message_id": message_pk, "status": "sent", "is_automated": True, **values})
        )


async def test_the_per_sender_cap_holds_the_next_email(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    first = await deliver(client, raw_mode_post(make_eml(message_id="<a@example.com>")))
    await process(db, settings)
    for _ in range(settings.REPLY_CAP_PER_SENDER):
        await add_reply(db, first, to_address="SARA@example.com")
    # An old reply outside the window and a failed one do not count; neither do replies to others.
    await add_reply(
        db, first, to_address="sara@example.com", created_at=utcnow() - timedelta(days=2)
    )
    await add_reply(db, first, to_address="other@example.com")
    pk = await deliver(client, raw_mode_post(make_eml(message_id="<b@example.com>", body="Again?")))
    await process(db, settings)
    message = await load(db, pk)
    assert (stage(message, "guards"), message.status) == ("needs_human", "drafted")
    assert "guard: sender_reply_cap" in (message.status_reason or "")


async def test_below_the_per_sender_cap_the_email_is_ready(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    first = await deliver(client, raw_mode_post(make_eml(message_id="<a@example.com>")))
    await process(db, settings)
    for _ in range(settings.REPLY_CAP_PER_SENDER - 1):
        await add_reply(db, first, to_address="sara@example.com")
    # A reply given up on (dead) never reached the customer, so it does not count.
    await add_reply(db, first, to_address="sara@example.com", status="dead")
    pk = await deliver(client, raw_mode_post(make_eml(message_id="<b@example.com>", body="Again?")))
    await process(db, settings)
    assert stage(await load(db, pk), "guards") == "ready"


async def test_a_reply_to_our_reply_joins_the_thread_and_the_thread_cap_applies(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    first = await deliver(client, raw_mode_post(make_eml(message_id="<q1@example.com>")))
    await process(db, settings)
    conversation_id = (await load(db, first)).conversation_id
    for n in range(settings.REPLY_CAP_PER_THREAD):
        await add_reply(
            db,
            first,
            to_address=f"other{n}@example.com",
            conversation_id=conversation_id,
            rfc_message_id=f"<reply-{n}@shop.test>",
        )
    follow_up = make_eml(
        message_id="<q2@example.com>",
        subject="Re: Where is my order #1001?",
        body="Still nothing.",
        headers=[
            ("In-Reply-To", "<reply-1@shop.test>"),
            ("References", "<q1@example.com> <reply-1@shop.test>"),
        ],
    )
    pk = await deliver(client, raw_mode_post(follow_up))
    await process(db, settings)
    message = await load(db, pk)
    assert message.conversation_id == conversation_id
    assert (stage(message, "guards"), message.status) == ("needs_human", "drafted")
    assert "guard: thread_reply_cap" in (message.status_reason or "")


async def test_a_follow_up_referencing_an_earlier_email_joins_its_conversation(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    first = await deliver(client, raw_mode_post(make_eml(message_id="<q1@example.com>")))
    unrelated = await deliver(
        client, raw_mode_post(make_eml(message_id="<z@example.com>", body="Other"))
    )
    follow_up = make_eml(
        message_id="<q2@example.com>",
        body="Any news?",
        headers=[("In-Reply-To", "<q1@example.com>")],
    )
    second = await deliver(client, raw_mode_post(follow_up))
    await process(db, settings)
    first_message, other, second_message = [await load(db, pk) for pk in (first, unrelated, second)]
    assert first_message.conversation_id == second_message.conversation_id
    assert other.conversation_id != first_message.conversation_id
    async with db.read() as session:
        conversations = (await session.execute(select(Conversation))).scalars().all()
    assert len(conversations) == 2


async def test_a_reused_message_id_with_other_content_is_flagged(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    original = await deliver(client, raw_mode_post(make_eml(body="Where is my order?")))
    await process(db, settings)
    impostor = await deliver(client, raw_mode_post(make_eml(body="Cancel all my orders.")))
    await process(db, settings)
    assert (await load(db, original)).message_id_reused is False
    assert (await load(db, impostor)).message_id_reused is True


async def test_an_empty_raw_email_is_quarantined_by_the_worker(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    pk = await deliver(client, raw_mode_post(b""))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "quarantined"
    assert message.status_reason == "unparseable: raw-mode post with an empty email field"


async def test_nul_bytes_are_kept_raw_but_never_reach_text_columns(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = (
        b"From: Sara <sara@example.com>\r\nTo: support@shop.test\r\n"
        b"Subject: order \x00 1001 \xff\r\nMessage-ID: <nul@example.com>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nWhere is \x00 my order \xc3\x28?\r\n"
    )
    payload = raw_mode_post(eml, verified_transport())
    pk = await deliver(client, payload)
    await process(db, settings)
    message = await load(db, pk)
    assert message.raw == payload.body
    assert message.status in FINISHED
    for value in (message.subject, message.text, message.clean_text):
        assert value is not None
        assert "\x00" not in value
    assert message.clean_text is not None
    assert message.clean_text.startswith("Where is")


async def test_a_25_mb_email_is_processed(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    body = "Here is everything about my order #1001.\n" + ("lorem ipsum " * 2_200_000)
    pk = await deliver(client, raw_mode_post(make_eml(body=body), verified_transport()))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status in FINISHED
    assert message.text is not None
    assert len(message.text) > 25_000_000
    assert message.clean_text is not None
    assert len(message.clean_text) <= 16_000


async def test_processing_twice_changes_nothing(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await deliver(client, raw_mode_post(make_eml(), verified_transport()))
    await process(db, settings)
    before = await load(db, pk)
    status = await handle_inbound_email(pk, db=db, settings=settings, providers=providers)
    after = await load(db, pk)
    assert status.value == before.status
    assert (after.processed_at, after.conversation_id, after.steps) == (
        before.processed_at,
        before.conversation_id,
        before.steps,
    )


async def agent_rows(
    db: Database, message_pk: int
) -> tuple[list[AgentRun], list[ModelTurn], list[ToolCall]]:
    async with db.read() as session:
        runs = list(
            (
                await session.execute(select(AgentRun).where(AgentRun.message_id == message_pk))
            ).scalars()
        )
        turns = list(
            (
                await session.execute(select(ModelTurn).where(ModelTurn.message_id == message_pk))
            ).scalars()
        )
        calls = list(
            (
                await session.execute(select(ToolCall).where(ToolCall.message_id == message_pk))
            ).scalars()
        )
    return runs, turns, calls


async def test_a_cleared_email_gets_a_logged_reply_plan(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(
        sender="Sara Ahmadi <sara.ahmadi@example.com>",
        body="Hi, where is my order #1001? It has not arrived.\n",
    )
    pk = await deliver(client, raw_mode_post(eml, verified_transport("example.com")))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status in FINISHED
    assert message.reply_plan is not None
    assert message.reply_plan["intent"] in ("order_status", "shipping_problem")
    assert message.reply_plan["offline"] is True
    runs, turns, calls = await agent_rows(db, pk)
    [run] = runs
    assert (run.status, run.llm_kind, run.steps) == ("finished", "offline", 2)
    assert [t.step for t in sorted(turns, key=lambda t: t.step)] == [1, 2]
    assert [(c.tool, c.outcome, c.agent_run_id) for c in calls] == [("get_order", "ok", run.id)]
    assert message.reply_plan["facts"] == [calls[0].call_id]


async def test_an_unverified_sender_gets_a_plan_without_any_customer_data(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    eml = make_eml(sender="Sara Ahmadi <sara.ahmadi@example.com>", body="Where is order #1001?")
    transport = Transport(envelope_from="sara.ahmadi@example.com", spf="softfail", dkim="none")
    pk = await deliver(client, raw_mode_post(eml, transport))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "drafted"
    _, turns, calls = await agent_rows(db, pk)
    assert calls == []
    assert "could NOT be verified" in turns[0].request["instructions"]
    # The turn records which tools were offered by their schemas' hash: the public ones only.
    public = offered_tools(registry, verified_sender=False)
    assert {t.tools_hash for t in turns} == {tools_hash(public)}
    assert {t["name"] for t in public} == {
        "search_products",
        "get_store_policies",
        "submit_reply_plan",
    }


async def test_spam_is_held_without_spending_on_the_agent(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    pk = await deliver(client, raw_mode_post(make_eml(), verified_transport(spam_score="9.0")))
    await process(db, settings)
    message = await load(db, pk)
    assert message.status == "needs_human"
    runs, _, _ = await agent_rows(db, pk)
    assert runs == []


async def test_a_retried_job_does_not_plan_twice(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await deliver(client, raw_mode_post(make_eml(), verified_transport()))
    await process(db, settings)
    await handle_inbound_email(pk, db=db, settings=settings, providers=providers)
    runs, _, _ = await agent_rows(db, pk)
    assert len(runs) == 1
