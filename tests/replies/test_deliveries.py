"""Delivery events at the outbox: an automated reply queued before its address was suppressed
is held as a draft when its retry comes, never sent (a reply staff approved is sent); an event
stored while its reply's send is being recorded is matched all the same.
"""

from __future__ import annotations

import asyncio

import pytest

from app.db.engine import Database
from app.db.models import Suppression, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import DeliveryState, ReplyStatus
from app.mail.delivery import DeliveryEvent, EventKind
from app.replies import deliveries, outbox
from app.replies.senders import OutgoingEmail, SendResult
from tests.builders import IN_DEFAULT_STORE
from tests.replies.test_outbox import add_message, add_reply, deliver, load_message, load_reply


class Provider:
    """Counts what it is handed."""

    kind = "log"

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> SendResult:
        self.sent.append(email)
        return SendResult(provider_message_id=f"id-{len(self.sent)}")


async def suppress(db: Database, address: str) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(
            Suppression(
                address=address,
                kind=DeliveryState.SPAM_REPORT,
                reason="",
                occurred_at=utcnow(),
            )
        )


@pytest.mark.parametrize("address", ["sara@example.com", "SARA@Example.com"])
async def test_an_automated_retry_to_a_suppressed_address_waits_as_a_draft(
    db: Database, address: str
) -> None:
    message_pk = await add_message(db)
    reply_pk = await add_reply(
        db, message_pk, status="failed", attempts=1, to_address=address, decision_reasons=[]
    )
    await suppress(db, "sara@example.com")
    provider = Provider()

    assert await deliver(db, reply_pk, provider) == "draft"

    assert provider.sent == []
    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.decision, reply.is_automated) == ("draft", "draft", False)
    [reason] = reply.decision_reasons or []
    assert reason.startswith(
        "suppression list: sara@example.com reported one of our replies as spam"
    )
    message = await load_message(db, message_pk)
    assert (message.status, message.status_reason) == ("drafted", reason)


async def test_a_reply_staff_approved_goes_to_a_suppressed_address(db: Database) -> None:
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk, is_automated=False)
    await suppress(db, "sara@example.com")
    provider = Provider()

    assert await deliver(db, reply_pk, provider) == "sent"
    assert [email.to_address for email in provider.sent] == ["sara@example.com"]


async def test_a_lifted_suppression_holds_nothing(db: Database) -> None:
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk)
    await suppress(db, "sara@example.com")
    async with db.write(IN_DEFAULT_STORE) as session:
        row = await session.get(Suppression, 1)
        assert row is not None
        row.lifted_at = utcnow()

    assert await deliver(db, reply_pk, Provider()) == "sent"


async def test_an_event_stored_while_the_send_is_being_recorded_waits_and_is_matched(
    db: Database,
) -> None:
    """The race the locks close: the event's unit of work must not miss the send being recorded.

    Without them, on PostgreSQL, the event's lookup would not see the reply's uncommitted id,
    the send's lookup would not see the uncommitted event, and the event would never be matched.
    """
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk, status="sending", attempts=1)
    attempt = outbox.Attempt(outcome=ReplyStatus.SENT, provider_id="Race1")
    bounce = DeliveryEvent(
        provider="sendgrid",
        event_id="e1",
        kind=EventKind.BOUNCED,
        hard=True,
        recipient="sara@example.com",
        provider_message_id="Race1.recvd-5f54b5d587-1",
        rfc_message_id=None,
        occurred_at=utcnow(),
        reason="550 5.1.1 gone",
    )
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.run_sync(lambda s: outbox.record_outcome_in(s, reply_pk, attempt))
        await session.flush()
        racing = asyncio.create_task(
            db.unit(lambda s: deliveries.record_events_in(s, [bounce]), ALL_STORES)
        )
        await asyncio.sleep(0.3)
        assert not racing.done(), "the event's unit of work did not wait for the send's"
    recorded = await racing
    assert (recorded.stored, recorded.matched, recorded.suppressed) == (1, 1, 1)
    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.delivery_state, reply.delivery_hard) == ("sent", "bounced", True)
