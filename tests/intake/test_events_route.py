"""`POST /webhooks/<provider>/events` through the real app: delivery events of replies we sent.

Each provider's requests are signed (or authenticated) as the provider does it, with keys made
for the tests; replies are rows as the outbox leaves them. What is promised: forged or stale
requests refused before anything is stored; an event stored once however often it comes; the
most final state kept whatever the order; an event that comes before its reply's send is
recorded matched when it is; a hard bounce or a spam report suppresses the address in the
reply's store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db.engine import Database
from app.db.models import DeliveryEventRecord, Reply, Suppression
from app.db.scope import ALL_STORES
from app.db.stores import DEFAULT_STORE_ID
from app.main import create_app
from app.providers import Providers
from app.replies.senders import OutgoingEmail, SendResult
from tests.conftest import BASIC_AUTH
from tests.mail.events.signers import MAILGUN_KEY, fixture, mailgun_signed, sendgrid_key
from tests.replies.test_outbox import add_message, add_reply, load_reply
from tests.replies.test_outbox import deliver as outbox_deliver

SENDGRID = "/webhooks/sendgrid/events"
MAILGUN = "/webhooks/mailgun/events"
POSTMARK = "/webhooks/postmark/events"
SG_SENT = "W86EgYT6SQKk0lRflfLRsA"
SG_EVENT_ID = f"{SG_SENT}.recvd-7f6d9c4b5d-x2k8p-1-6B0F3C20-2.0"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        SENDGRID_EVENT_PUBLIC_KEY=sendgrid_key().public_b64, MAILGUN_SIGNING_KEY=MAILGUN_KEY
    )


def sg_event(kind: str, at: int, *, event_id: str, **values: Any) -> dict[str, Any]:
    """One SendGrid event about the reply sent as `SG_SENT`, to sara@example.com."""
    return {
        "email": "sara@example.com",
        "timestamp": at,
        "event": kind,
        "sg_event_id": event_id,
        "sg_message_id": SG_EVENT_ID,
        **values,
    }


async def post_sendgrid(
    client: httpx.AsyncClient, events: list[dict[str, Any]], *, key: int = 0
) -> httpx.Response:
    body = json.dumps(events).encode()
    return await client.post(
        SENDGRID, content=body, headers=sendgrid_key(key).headers(body, int(time.time()))
    )


async def sent_reply(db: Database, **values: Any) -> int:
    """A reply the outbox sent (its provider id recorded), to sara@example.com."""
    message_pk = await add_message(db)
    fields: dict[str, Any] = {"status": "sent", "provider_message_id": SG_SENT}
    return await add_reply(db, message_pk, enqueue=False, **(fields | values))


async def events_stored(db: Database) -> list[DeliveryEventRecord]:
    async with db.read(ALL_STORES) as session:
        statement = select(DeliveryEventRecord).order_by(DeliveryEventRecord.id)
        return list((await session.execute(statement)).scalars())


async def suppressions(db: Database) -> list[Suppression]:
    async with db.read(ALL_STORES) as session:
        return list((await session.execute(select(Suppression))).scalars())


# --- authentication -----------------------------------------------------------------------------


async def test_sendgrid_events_signed_with_the_key_are_stored_and_matched(
    client: httpx.AsyncClient, db: Database
) -> None:
    reply_pk = await sent_reply(db)
    response = await post_sendgrid(
        client, [sg_event("delivered", 1_796_551_200, event_id="d1", response="250 OK")]
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 1, "duplicates": 0, "matched": 1, "ignored": 0}
    [stored] = await events_stored(db)
    assert (stored.reply_id, stored.store_id, stored.kind) == (
        reply_pk,
        DEFAULT_STORE_ID,
        "delivered",
    )
    reply = await load_reply(db, reply_pk)
    assert (reply.delivery_state, reply.delivery_reason) == ("delivered", "250 OK")


async def test_forged_or_stale_sendgrid_events_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    await sent_reply(db)
    events = [sg_event("bounce", 1_796_551_200, event_id="b1", type="bounce")]
    forged = await post_sendgrid(client, events, key=1)
    body = json.dumps(events).encode()
    stale = await client.post(
        SENDGRID, content=body, headers=sendgrid_key().headers(body, int(time.time()) - 3600)
    )
    unsigned = await client.post(SENDGRID, content=body)
    assert [forged.status_code, stale.status_code, unsigned.status_code] == [401, 401, 401]
    assert await events_stored(db) == []
    assert await suppressions(db) == []


async def test_without_an_event_key_sendgrids_route_refuses_everything(
    make_settings: Callable[..., Settings], db: Database, providers: Providers
) -> None:
    app = create_app(make_settings(), db=db, providers=providers)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await post_sendgrid(client, [sg_event("delivered", 1, event_id="d1")])
    assert response.status_code == 401


async def test_mailgun_events_are_checked_by_their_hmac(
    client: httpx.AsyncClient, db: Database
) -> None:
    reply_pk = await sent_reply(
        db, provider_message_id=None, rfc_message_id="<reply.77aa@shop.test>"
    )
    payload = fixture("mailgun", "failed_permanent.json")
    now = int(time.time())
    forged = await client.post(MAILGUN, content=mailgun_signed(payload, now, key="wrong"))
    assert forged.status_code == 401
    assert await events_stored(db) == []
    response = await client.post(MAILGUN, content=mailgun_signed(payload, now))
    assert response.status_code == 200, response.text
    assert response.json()["matched"] == 1
    reply = await load_reply(db, reply_pk)
    assert (reply.delivery_state, reply.delivery_hard) == ("bounced", True)
    [suppressed] = await suppressions(db)
    assert (suppressed.address, suppressed.kind, suppressed.reply_id) == (
        "gone@example.com",
        "bounced",
        reply_pk,
    )


async def test_postmark_events_need_the_basic_credentials(
    client: httpx.AsyncClient, db: Database
) -> None:
    reply_pk = await sent_reply(db, provider_message_id="00000000-0000-0000-0000-000000000042")
    body = fixture("postmark", "spam_complaint.json")
    refused = await client.post(POSTMARK, content=body, auth=(BASIC_AUTH[0], "guess"))
    assert refused.status_code == 401
    assert await events_stored(db) == []
    response = await client.post(POSTMARK, content=body, auth=BASIC_AUTH)
    assert response.status_code == 200, response.text
    assert (await load_reply(db, reply_pk)).delivery_state == "spam_report"
    [suppressed] = await suppressions(db)
    assert (suppressed.address, suppressed.kind) == ("angry@example.com", "spam_report")


async def test_an_unknown_provider_is_404_and_an_authentic_body_in_no_format_400(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (await client.post("/webhooks/nobody/events", content=b"[]")).status_code == 404
    response = await client.post(POSTMARK, content=b"[1, 2]", auth=BASIC_AUTH)
    assert response.status_code == 400
    assert await events_stored(db) == []


async def test_engagement_events_are_acknowledged_and_not_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(
        POSTMARK, content=fixture("postmark", "open.json"), auth=BASIC_AUTH
    )
    assert response.json() == {"stored": 0, "duplicates": 0, "matched": 0, "ignored": 1}
    assert await events_stored(db) == []


# --- duplicates and order -----------------------------------------------------------------------


async def test_a_redelivered_event_is_stored_once(client: httpx.AsyncClient, db: Database) -> None:
    await sent_reply(db)
    events = [
        sg_event("deferred", 1_796_551_200, event_id="e1", response="421 later"),
        sg_event("delivered", 1_796_551_260, event_id="e2"),
    ]
    first = await post_sendgrid(client, events)
    again = await post_sendgrid(client, events)
    assert first.json()["stored"] == 2
    assert again.json() == {"stored": 0, "duplicates": 2, "matched": 0, "ignored": 0}
    assert [event.event_id for event in await events_stored(db)] == ["e1", "e2"]


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
async def test_out_of_order_events_leave_the_most_final_state(
    client: httpx.AsyncClient, db: Database, order: tuple[int, ...]
) -> None:
    reply_pk = await sent_reply(db)
    events = [
        sg_event("deferred", 1_796_551_200, event_id="e1", response="421 later"),
        sg_event("bounce", 1_796_551_300, event_id="e2", type="bounce", reason="550 no user"),
        # A delivery reported after (and timed after) the bounce does not undo it.
        sg_event("delivered", 1_796_551_400, event_id="e3", response="250 OK"),
    ]
    for index in order:
        assert (await post_sendgrid(client, [events[index]])).status_code == 200
    reply = await load_reply(db, reply_pk)
    assert (reply.delivery_state, reply.delivery_hard, reply.delivery_reason) == (
        "bounced",
        True,
        "550 no user",
    )
    assert reply.delivery_at is not None
    assert int(reply.delivery_at.timestamp()) == 1_796_551_300
    assert len(await suppressions(db)) == 1


async def test_within_one_state_the_newest_event_is_kept(
    client: httpx.AsyncClient, db: Database
) -> None:
    reply_pk = await sent_reply(db)
    newer = sg_event("deferred", 1_796_551_900, event_id="e2", response="421 still busy")
    older = sg_event("deferred", 1_796_551_200, event_id="e1", response="421 busy")
    await post_sendgrid(client, [newer])
    await post_sendgrid(client, [older])
    reply = await load_reply(db, reply_pk)
    assert (reply.delivery_state, reply.delivery_reason) == ("deferred", "421 still busy")


# --- before the send is recorded ----------------------------------------------------------------


class EventsFirst:
    """A provider that accepts the email and reports its delivery before answering the send."""

    kind = "sendgrid"

    def __init__(self, client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
        self.client = client
        self.events = events

    async def send(self, email: OutgoingEmail) -> SendResult:
        response = await post_sendgrid(self.client, self.events)
        assert response.json()["matched"] == 0, "the send is not recorded yet"
        return SendResult(provider_message_id=SG_SENT)


async def test_an_event_before_the_send_is_recorded_is_matched_when_it_is(
    client: httpx.AsyncClient, db: Database
) -> None:
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk, to_address="sara@example.com")
    bounce = sg_event("bounce", 1_796_551_300, event_id="b1", type="bounce", reason="550 gone")
    outcome = await outbox_deliver(db, reply_pk, EventsFirst(client, [bounce]))
    assert outcome == "sent"
    reply = await load_reply(db, reply_pk)
    assert (reply.provider_message_id, reply.delivery_state, reply.delivery_hard) == (
        SG_SENT,
        "bounced",
        True,
    )
    [event] = await events_stored(db)
    assert (event.reply_id, event.store_id) == (reply_pk, DEFAULT_STORE_ID)
    [suppressed] = await suppressions(db)
    assert (suppressed.store_id, suppressed.address) == (DEFAULT_STORE_ID, "sara@example.com")


async def test_an_event_about_mail_we_never_sent_waits_unmatched(
    client: httpx.AsyncClient, db: Database
) -> None:
    await sent_reply(db)
    other = {**sg_event("bounce", 1, event_id="x", type="bounce"), "sg_message_id": "Other.filter"}
    assert (await post_sendgrid(client, [other])).json()["matched"] == 0
    [event] = await events_stored(db)
    assert (event.reply_id, event.store_id) == (None, None)
    assert await suppressions(db) == []
    async with db.read(ALL_STORES) as session:
        assert (
            await session.scalar(
                select(func.count(Reply.id)).where(Reply.delivery_state.is_not(None))
            )
            == 0
        )


async def test_a_legacy_dotted_message_id_still_names_its_reply(
    client: httpx.AsyncClient, db: Database
) -> None:
    legacy = "14c5d75ce93.dfd.64b469"
    reply_pk = await sent_reply(db, provider_message_id=legacy)
    event = {
        **sg_event("delivered", 1_796_551_200, event_id="d1"),
        "sg_message_id": f"{legacy}.filter0001.16648.5515E0B88.0",
    }
    assert (await post_sendgrid(client, [event])).json()["matched"] == 1
    assert (await load_reply(db, reply_pk)).delivery_state == "delivered"
