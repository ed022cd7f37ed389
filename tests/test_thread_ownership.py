"""A conversation belongs to its customer: naming its Message-IDs does not let anyone in.

Anyone can copy a Message-ID into In-Reply-To or References. These tests post SendGrid-shaped
requests to the real webhook and drain the real worker, with Shopify and SendGrid faked at the
HTTP boundary and a scripted model that records every request it gets: an intruder who replies
into a customer's thread starts a conversation of their own, the model never sees the customer's
words for them (nor theirs for the customer), and nothing is proposed on the customer's orders.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from app.admin.staff import create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, ProposedAction, Reply, ToolCall
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import Transport, raw_mode_post
from app.intake import messages
from app.jobs.worker import Worker
from app.providers import Providers, build_providers
from app.replies.outbox import threading_for
from tests.builders import IN_DEFAULT_STORE, make_eml, verified_transport
from tests.conftest import BASIC_AUTH
from tests.fakes import (
    LIVE_PROVIDERS,
    FakeShopify,
    ScriptedLLM,
    Step,
    call,
    fake_shopify_and_sendgrid,
    submit,
    turn,
)

CUSTOMER = "Sara Ahmadi <sara.ahmadi@example.com>"
CUSTOMER_ID = "<where-1001@mail.example.com>"
CUSTOMER_SECRET = "leave it with my neighbour at 14 Elm Road"
INTRUDER = "Mallory <mallory@evil.example>"
INTRUDER_ID = "<take-over@evil.example>"
INTRUDER_WORDS = "refund it to my new card ending 4242"


@dataclass
class World:
    """The service wired to fake Shopify and SendGrid, one scripted model per email."""

    http: httpx.AsyncClient
    db: Database
    settings: Settings
    providers: Providers
    shopify: FakeShopify

    async def email(
        self, eml: bytes, *, transport: Transport, script: list[Step] | None = None
    ) -> tuple[int, ScriptedLLM]:
        """Post one email and run the worker with a fresh scripted model; its id and model."""
        post = raw_mode_post(eml, transport)
        response = await self.http.post(
            "/webhooks/sendgrid/inbound",
            content=post.body,
            headers={"content-type": post.content_type},
            auth=BASIC_AUTH,
        )
        assert response.status_code == 200, response.text
        model = ScriptedLLM(script or [turn(submit(needs_human=True))])
        providers = replace(self.providers, llm=model, fallback_llm=None)
        await Worker(db=self.db, settings=self.settings, providers=providers).drain()
        pk: int = response.json()["id"]
        return pk, model

    async def message(self, pk: int) -> Message:
        async with self.db.read(ALL_STORES) as session:
            message = await session.get(Message, pk)
            assert message is not None
            return message

    async def reply_to(self, pk: int) -> Reply:
        async with self.db.read(ALL_STORES) as session:
            statement = select(Reply).where(Reply.message_id == pk)
            [reply] = (await session.execute(statement)).scalars()
            return reply


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    db: Database,
    make_settings: Callable[..., Settings],
    respx_mock: respx.MockRouter,
) -> AsyncIterator[World]:
    settings = make_settings(**LIVE_PROVIDERS)
    shopify, _ = fake_shopify_and_sendgrid(respx_mock)
    providers = build_providers(settings)
    yield World(http=client, db=db, settings=settings, providers=providers, shopify=shopify)
    await providers.aclose()


def seen_by(model: ScriptedLLM) -> str:
    """Everything the model was sent, as one text."""
    return json.dumps([repr(request) for request in model.requests], ensure_ascii=False)


def customer_question(**overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "sender": CUSTOMER,
        "subject": "Where is my order #1001?",
        "body": f"Hi, where is my order #1001? Please {CUSTOMER_SECRET}.\n\nSara\n",
        "message_id": CUSTOMER_ID,
    }
    values.update(overrides)
    return make_eml(**values)


def answer_to(named: str, **overrides: Any) -> bytes:
    """An email that says it answers `named` (anyone can write these headers)."""
    values: dict[str, Any] = {
        "sender": INTRUDER,
        "subject": "Re: Where is my order #1001?",
        "body": f"Changed my mind: please start a return for #1001 and {INTRUDER_WORDS}.\n",
        "message_id": INTRUDER_ID,
        "headers": [("In-Reply-To", named), ("References", f"{CUSTOMER_ID} {named}")],
    }
    values.update(overrides)
    return make_eml(**values)


async def customer_thread(world: World) -> Message:
    """The customer's first email, planned and answered (a draft): their conversation exists."""
    pk, model = await world.email(customer_question(), transport=verified_transport("example.com"))
    assert CUSTOMER_SECRET in seen_by(model)
    return await world.message(pk)


@pytest.mark.parametrize("names", ["the customer's email", "our reply to the customer"])
async def test_an_intruder_replying_into_the_thread_sees_nothing_of_it_and_proposes_nothing(
    world: World, names: str
) -> None:
    first = await customer_thread(world)
    ours = await world.reply_to(first.id)
    named = CUSTOMER_ID if names == "the customer's email" else str(ours.rfc_message_id)
    # The model does what the intruder asks: a return on the customer's order.
    intruder_pk, model = await world.email(
        answer_to(named),
        transport=verified_transport("evil.example"),
        script=[
            turn(call("request_return", order_number="#1001", reason="Asked.", items=None)),
            turn(submit(intent="return_or_exchange", needs_human=True)),
        ],
    )

    intruder = await world.message(intruder_pk)
    assert intruder.sender_verified is True
    # Its own conversation, linked to the customer's for staff.
    assert intruder.conversation_id not in (None, first.conversation_id)
    assert intruder.replies_to_conversation_id == first.conversation_id
    # The model saw the intruder's words only: no history, nothing of the customer's.
    seen = seen_by(model)
    assert INTRUDER_WORDS in seen
    assert CUSTOMER_SECRET not in seen
    assert "earlier message" not in seen
    # Under the intruder's identity the customer's order does not exist: nothing is proposed.
    async with world.db.read(ALL_STORES) as session:
        proposals = list((await session.execute(select(ProposedAction))).scalars())
        [attempt] = (
            await session.execute(select(ToolCall).where(ToolCall.message_id == intruder_pk))
        ).scalars()
    assert proposals == []
    assert attempt.outcome == "not_found"
    assert world.shopify.mutations == []
    # Our answer threads on the intruder's own Message-ID only, never on the customer's thread.
    reply = await world.reply_to(intruder_pk)
    assert reply.to_address == "mallory@evil.example"
    assert (reply.in_reply_to, reply.references) == (INTRUDER_ID, [INTRUDER_ID])


async def test_the_customers_next_email_is_planned_without_the_intruders_text(
    world: World,
) -> None:
    first = await customer_thread(world)
    await world.email(answer_to(CUSTOMER_ID), transport=verified_transport("evil.example"))
    follow_up = customer_question(
        subject="Re: Where is my order #1001?",
        body="Any news on my order?\n",
        message_id="<any-news@mail.example.com>",
        headers=[("In-Reply-To", INTRUDER_ID), ("References", f"{CUSTOMER_ID} {INTRUDER_ID}")],
    )
    pk, model = await world.email(follow_up, transport=verified_transport("example.com"))

    message = await world.message(pk)
    # The customer's own follow-up joins their conversation, even naming the intruder's id too.
    assert (message.conversation_id, message.replies_to_conversation_id) == (
        first.conversation_id,
        None,
    )
    seen = seen_by(model)
    assert CUSTOMER_SECRET in seen  # their own earlier email is their history
    assert INTRUDER_WORDS not in seen


async def test_another_senders_text_already_in_a_conversation_is_never_history(
    world: World,
) -> None:
    """Conversations threaded before the rule may mix senders: history takes only the sender's."""
    first = await customer_thread(world)
    intruder_pk, _ = await world.email(
        answer_to(CUSTOMER_ID), transport=verified_transport("evil.example")
    )
    async with world.db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(Message)
            .where(Message.id == intruder_pk)
            .values(conversation_id=first.conversation_id, replies_to_conversation_id=None)
        )
    follow_up = customer_question(
        body="Any news on my order?\n",
        message_id="<any-news@mail.example.com>",
        headers=[("In-Reply-To", CUSTOMER_ID)],
    )
    _, model = await world.email(follow_up, transport=verified_transport("example.com"))
    seen = seen_by(model)
    assert CUSTOMER_SECRET in seen
    assert INTRUDER_WORDS not in seen


async def test_an_unverified_sender_gets_no_history_even_from_the_customers_address(
    world: World,
) -> None:
    first = await customer_thread(world)
    spoof = answer_to(CUSTOMER_ID, sender=CUSTOMER, message_id="<spoof@mail.example.com>")
    pk, model = await world.email(
        spoof, transport=Transport(envelope_from="x@elsewhere.example", spf="fail", dkim="")
    )

    message = await world.message(pk)
    assert message.sender_verified is False
    assert message.conversation_id != first.conversation_id
    assert message.replies_to_conversation_id == first.conversation_id
    seen = seen_by(model)
    assert CUSTOMER_SECRET not in seen
    assert "earlier message" not in seen
    # Even placed in the customer's conversation, an unverified email is given no history.
    message.conversation_id = first.conversation_id
    async with world.db.read(ALL_STORES) as session:
        assert await session.run_sync(messages.thread_history, message) == []


async def test_the_customers_reply_to_our_reply_joins_their_conversation(world: World) -> None:
    first = await customer_thread(world)
    ours = await world.reply_to(first.id)
    assert ours.rfc_message_id is not None
    follow_up = customer_question(
        subject="Re: Where is my order #1001?",
        body="Thanks, any tracking yet?\n",
        message_id="<thanks@mail.example.com>",
        headers=[("In-Reply-To", ours.rfc_message_id)],
    )
    pk, model = await world.email(follow_up, transport=verified_transport("example.com"))

    message = await world.message(pk)
    assert (message.conversation_id, message.replies_to_conversation_id) == (
        first.conversation_id,
        None,
    )
    assert CUSTOMER_SECRET in seen_by(model)
    # Our answer continues the customer's thread as before.
    reply = await world.reply_to(pk)
    assert reply.in_reply_to == "<thanks@mail.example.com>"
    assert reply.references == [ours.rfc_message_id, "<thanks@mail.example.com>"]


async def test_staff_see_which_conversation_an_intruder_replied_to(world: World) -> None:
    first = await customer_thread(world)
    pk, _ = await world.email(answer_to(CUSTOMER_ID), transport=verified_transport("evil.example"))
    async with world.db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ana@shop.test", password="correct horse battery")
    login = await world.http.post(
        "/admin/login", data={"email": "ana@shop.test", "password": "correct horse battery"}
    )
    assert login.status_code == 303, login.text

    detail = (await world.http.get(f"/admin/api/messages/{pk}")).json()["message"]
    assert detail["replies_to_conversation_id"] == first.conversation_id
    assert detail["replies_to_message_id"] == first.id
    page = (await world.http.get(f"/admin/messages/{pk}")).text
    assert f'<a href="/admin/messages/{first.id}">conversation #{first.conversation_id}</a>' in page
    assert "of another sender" in page
    # The customer's own email names no other conversation.
    own = (await world.http.get(f"/admin/api/messages/{first.id}")).json()["message"]
    assert (own["replies_to_conversation_id"], own["replies_to_message_id"]) == (None, None)
    assert "data-replies-to" not in (await world.http.get(f"/admin/messages/{first.id}")).text


MESSAGE_IDS = st.from_regex(r"<[a-z0-9.]{1,12}@[a-z]{1,8}\.example>", fullmatch=True)


@given(
    own=MESSAGE_IDS,
    references=st.lists(MESSAGE_IDS, max_size=30),
    in_reply_to=st.lists(MESSAGE_IDS, max_size=3),
    synthetic=st.booleans(),
)
def test_a_reply_to_a_foreign_thread_names_no_id_but_the_senders_own(
    own: str, references: list[str], in_reply_to: list[str], synthetic: bool
) -> None:
    message = Message(
        message_id=own,
        references=references,
        in_reply_to=in_reply_to,
        has_synthetic_message_id=synthetic,
        replies_to_conversation_id=7,
    )
    expected = (None, ()) if synthetic else (own, (own,))
    assert threading_for(message) == expected
