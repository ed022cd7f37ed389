"""A bounce suppresses the next automated reply to that address, end to end through the real app.

A customer's question is answered and sent (SendGrid faked at the HTTP boundary); SendGrid then
reports a hard bounce on its signed Event Webhook (or Amazon SES does, in a signed SNS post). The
customer's next email gets a reply the policy would send, but it waits as a draft saying why,
and nothing goes out. Staff lift the suppression through the admin API, and the email after that
is answered on its own again.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import select

from app.admin.staff import create_api_token, create_staff
from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, Suppression
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.mail.sns import CERTIFICATES
from app.providers import Providers, build_providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from tests.builders import IN_DEFAULT_STORE, verified_transport
from tests.fakes import LIVE_PROVIDERS, ScriptedLLM, call, fake_shopify_and_sendgrid, submit, turn
from tests.mail.events.signers import fixture, sendgrid_key
from tests.provider_fakes import TOPIC, FakeGet, SnsSigner, certificate_pem, rsa_key, sns_headers
from tests.test_pipeline import World, deliver, load, order_question, process, reply_of

CUSTOMER = "sara.ahmadi@example.com"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        **LIVE_PROVIDERS,
        SENDGRID_EVENT_PUBLIC_KEY=sendgrid_key().public_b64,
        SES_SNS_TOPIC_ARNS=TOPIC,
    )


@pytest.fixture
def providers(tmp_path: Path) -> Providers:
    """The webhooks' outside world: SNS serving its signing certificate (fetched once)."""
    CERTIFICATES.clear()
    return Providers(
        shop=DemoShop(),
        llm=OfflineModel(),
        mail=LogMailSender(tmp_path / "outbox"),
        http_get=FakeGet.serving(certificate_pem(rsa_key())),
    )


@pytest.fixture
async def world(settings: Settings, respx_mock: respx.MockRouter) -> AsyncIterator[World]:
    shopify, sendgrid = fake_shopify_and_sendgrid(respx_mock)
    providers = build_providers(settings)
    yield World(settings=settings, providers=providers, shopify=shopify, sendgrid=sendgrid)
    await providers.aclose()


def answerable() -> ScriptedLLM:
    """A model that answers an order question the policy sends on its own."""
    return ScriptedLLM(
        [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], paragraph="Thank you for your patience!")),
        ]
    )


async def customer_writes(
    client: httpx.AsyncClient, db: Database, world: World, number: int
) -> int:
    """The customer's `number`-th email (a thread of its own), through the webhook and worker."""
    eml = order_question(
        subject=f"Where is my order #1001? ({number})",
        message_id=f"<where-{number}@mail.example.com>",
        headers=[],
    )
    pk = await deliver(client, raw_mode_post(eml, verified_transport("example.com")))
    await process(db, world.settings, world.use(answerable()))
    return pk


async def sendgrid_reports(client: httpx.AsyncClient, events: list[dict[str, object]]) -> None:
    body = json.dumps(events).encode()
    headers = sendgrid_key().headers(body, int(time.time()))
    response = await client.post("/webhooks/sendgrid/events", content=body, headers=headers)
    assert response.status_code == 200, response.text


async def ses_reports_a_bounce(client: httpx.AsyncClient, rfc_message_id: str) -> None:
    """SES's event-publishing Bounce of the email with that Message-ID header, as SNS posts it."""
    notification = json.loads(fixture("amazon_ses", "event_bounce.json"))
    notification["mail"]["commonHeaders"]["messageId"] = rfc_message_id
    notification["mail"]["headers"] = []
    notification["bounce"]["timestamp"] = datetime.now(UTC).isoformat()
    message = SnsSigner().notification(notification)
    response = await client.post(
        "/webhooks/amazon_ses/events", content=json.dumps(message), headers=sns_headers(message)
    )
    assert response.status_code == 200, response.text
    assert response.json()["matched"] == 1


async def next_reply_is_held(
    client: httpx.AsyncClient, db: Database, world: World, bounce_reason: str
) -> int:
    """The customer's second email: its reply waits as a draft naming the bounce; its pk."""
    second = await customer_writes(client, db, world, 2)
    held = await reply_of(db, second)
    assert world.sendgrid.call_count == 1
    assert (held.status, held.decision, held.is_automated) == ("draft", "draft", False)
    [reason] = held.decision_reasons or []
    assert reason.startswith(f"suppression list: {CUSTOMER} bounced hard on ")
    assert reason.endswith(f": {bounce_reason}")
    return second


async def staff_token(db: Database) -> dict[str, str]:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ana@shop.test", password="correct horse battery")
        token = await create_api_token(session, email="ana@shop.test")
    return {"Authorization": f"Bearer {token}"}


async def test_a_hard_bounce_holds_the_next_automated_reply_until_staff_lift_it(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    first = await customer_writes(client, db, world, 1)
    sent = await reply_of(db, first)
    assert (sent.status, sent.provider_message_id) == ("sent", "sg-msg-1")
    assert world.sendgrid.call_count == 1

    await sendgrid_reports(
        client,
        [
            {
                "email": CUSTOMER,
                "timestamp": int(time.time()),
                "event": "bounce",
                "type": "bounce",
                "status": "5.1.1",
                "reason": "550 5.1.1 The email account that you tried to reach does not exist.",
                "sg_event_id": "Ym91bmNlLTE",
                "sg_message_id": "sg-msg-1.recvd-5f54b5d587-pczjm-1-67BADEEA-6.0",
                "smtp-id": sent.rfc_message_id,
            }
        ],
    )
    bounced = await reply_of(db, first)
    assert (bounced.delivery_state, bounced.delivery_hard) == ("bounced", True)

    # The next reply would go out on its own (same question, same grounding): it waits.
    second = await next_reply_is_held(
        client, db, world, "550 5.1.1 The email account that you tried to reach does not exist."
    )
    message = await load(db, second)
    assert message.status == "drafted"
    assert "suppression list" in (message.status_reason or "")

    # Staff see why on the email, and lift it.
    auth = await staff_token(db)
    trace = (await client.get(f"/admin/api/messages/{second}", headers=auth)).json()
    suppression = trace["suppression"]
    assert (suppression["address"], suppression["kind"], suppression["reply_id"]) == (
        CUSTOMER,
        "bounced",
        sent.id,
    )
    first_trace = (await client.get(f"/admin/api/messages/{first}", headers=auth)).json()
    assert first_trace["replies"][0]["delivery_state"] == "bounced"
    assert [e["kind"] for e in first_trace["delivery_events"]] == ["bounced"]
    lifted = await client.post(f"/admin/api/suppressions/{suppression['id']}/lift", headers=auth)
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["lifted_by"] == "ana@shop.test"
    again = await client.post(f"/admin/api/suppressions/{suppression['id']}/lift", headers=auth)
    assert again.status_code == 409

    third = await customer_writes(client, db, world, 3)
    assert (await reply_of(db, third)).status == "sent"
    assert world.sendgrid.call_count == 2
    async with db.read(ALL_STORES) as session:
        actions = list(
            (await session.execute(select(AuditEntry.action, AuditEntry.message_id))).all()
        )
        [row] = (await session.execute(select(Suppression))).scalars()
    assert ("lift_suppression", first) in actions
    assert row.lifted_at is not None


async def test_the_same_bounce_redelivered_after_the_lift_does_not_suppress_again(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    first = await customer_writes(client, db, world, 1)
    bounce = {
        "email": CUSTOMER,
        "timestamp": int(time.time()) - 60,
        "event": "bounce",
        "type": "bounce",
        "reason": "550 no such user",
        "sg_message_id": "sg-msg-1.recvd-1",
    }
    await sendgrid_reports(client, [{**bounce, "sg_event_id": "b-1"}])
    auth = await staff_token(db)
    listed = (await client.get("/admin/api/suppressions", headers=auth)).json()
    assert [entry["address"] for entry in listed] == [CUSTOMER]
    await client.post(f"/admin/api/suppressions/{listed[0]['id']}/lift", headers=auth)
    # A bounce that happened before the lift (reported again under another id) stays lifted...
    await sendgrid_reports(client, [{**bounce, "sg_event_id": "b-2"}])
    assert (await client.get("/admin/api/suppressions", headers=auth)).json() == []
    # ...one that happened after it puts the address back.
    await sendgrid_reports(
        client, [{**bounce, "sg_event_id": "b-3", "timestamp": int(time.time()) + 60}]
    )
    assert len((await client.get("/admin/api/suppressions", headers=auth)).json()) == 1
    assert (await reply_of(db, first)).delivery_state == "bounced"


async def test_a_hard_bounce_reported_by_amazon_ses_holds_the_next_automated_reply(
    client: httpx.AsyncClient, db: Database, world: World
) -> None:
    first = await customer_writes(client, db, world, 1)
    sent = await reply_of(db, first)
    assert sent.status == "sent"
    assert sent.rfc_message_id is not None
    # SES names the email by its own id and by the Message-ID header it was given: the header
    # is what matches a reply.
    await ses_reports_a_bounce(client, sent.rfc_message_id)
    bounced = await reply_of(db, first)
    assert (bounced.delivery_state, bounced.delivery_hard) == ("bounced", True)
    await next_reply_is_held(client, db, world, "Permanent/General: smtp; 550 5.1.1 user unknown")
