"""SendGrid's Event Webhook: the array of events, and its ECDSA signature (SendGrid's helper)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import HttpReply, InboundRequest, InboundSecrets
from app.mail.delivery import EventError, EventKind, EventSecrets
from app.mail.events.sendgrid import EVENTS, SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.mail.events.properties import check_parse, json_values, shaped
from tests.mail.events.signers import fixture, sendgrid_key

NOW = 1_796_551_200


def request(body: bytes, headers: dict[str, str] | None = None) -> InboundRequest:
    return InboundRequest(headers=headers or {}, body=body, content_type="application/json")


def secrets(key: str | None = None, **inbound: object) -> EventSecrets:
    return EventSecrets(inbound=InboundSecrets(**inbound), sendgrid_public_key=key)  # type: ignore[arg-type]


async def no_http(url: str, headers: object) -> HttpReply:
    raise AssertionError("SendGrid's signature needs no fetch")


def test_delivery_events_are_read_and_engagement_events_ignored() -> None:
    batch = EVENTS.parse(request(fixture("sendgrid", "batch.json")))
    assert batch.ignored == ("processed", "open")
    deferred, delivered = batch.events
    assert (deferred.kind, delivered.kind) == (EventKind.DEFERRED, EventKind.DELIVERED)
    assert deferred.reason == "421 4.7.0 Try again later, closing connection."
    assert (delivered.provider_message_id or "").startswith("W86EgYT6SQKk0lRflfLRsA.recvd-")
    assert delivered.rfc_message_id == "<reply.0f3c@shop.test>"
    assert delivered.recipient == "sara.ahmadi@example.com"
    assert delivered.event_id == "ZGVsaXZlcmVkLTEtMw"
    assert delivered.occurred_at == datetime.fromtimestamp(1796548870, UTC)


def test_bounces_blocks_drops_and_spam_reports() -> None:
    hard, blocked, dropped, spam = EVENTS.parse(request(fixture("sendgrid", "bounce.json"))).events
    assert (hard.kind, hard.hard, hard.suppresses) == (EventKind.BOUNCED, True, True)
    assert hard.reason.startswith("550 5.1.1")
    assert (hard.provider_message_id or "").startswith("Xq2v3Dk1RkeB6kQm3oJ0Zg.")
    # A block says something about us or the receiving server, not the address.
    assert (blocked.kind, blocked.hard, blocked.suppresses) == (EventKind.BOUNCED, False, False)
    assert (dropped.kind, dropped.reason) == (EventKind.DROPPED, "5.0.0 Bounced Address")
    assert (spam.kind, spam.suppresses, spam.rfc_message_id) == (EventKind.SPAM_REPORT, True, None)


def test_an_event_without_an_id_gets_a_stable_one() -> None:
    item = {"email": "a@example.com", "timestamp": NOW, "event": "delivered"}
    first = EVENTS.parse(request(json.dumps([item]).encode())).events[0]
    again = EVENTS.parse(request(json.dumps([dict(reversed(item.items()))]).encode())).events[0]
    assert first.event_id == again.event_id
    assert first.event_id.startswith("sha256:")


def test_one_unreadable_event_costs_only_itself() -> None:
    good = {"email": "a@example.com", "timestamp": NOW, "event": "delivered", "sg_event_id": "x"}
    items = [good, "text", {"event": "delivered", "timestamp": NOW}, {**good, "timestamp": "soon"}]
    batch = EVENTS.parse(request(json.dumps(items).encode()))
    assert [e.event_id for e in batch.events] == ["x"]
    assert batch.ignored == ("unreadable",) * 3


def test_a_body_that_is_no_array_of_events_is_refused() -> None:
    for body in (b"{}", b"not json", b'{"event": "delivered"}'):
        try:
            EVENTS.parse(request(body))
        except EventError:
            continue
        raise AssertionError(f"{body!r} was read")


# --- the signature ------------------------------------------------------------------------------


async def test_a_body_signed_with_the_configured_key_is_accepted() -> None:
    key = sendgrid_key()
    body = fixture("sendgrid", "batch.json")
    headers = key.headers(body, NOW)
    assert EVENTS.check_headers(headers, secrets(key.public_b64), NOW)
    assert await EVENTS.check_body(request(body, headers), secrets(key.public_b64), NOW, no_http)


async def test_a_forged_or_altered_body_is_refused() -> None:
    key, other = sendgrid_key(), sendgrid_key(1)
    body = fixture("sendgrid", "bounce.json")
    good = secrets(key.public_b64)
    forged = other.headers(body, NOW)
    assert not await EVENTS.check_body(request(body, forged), good, NOW, no_http)
    altered = body.replace(b"gone@example.com", b"someone@example.com")
    headers = key.headers(body, NOW)
    assert not await EVENTS.check_body(request(altered, headers), good, NOW, no_http)
    # The timestamp is signed too: another one with the same signature fails.
    moved = {**headers, TIMESTAMP_HEADER: str(NOW + 1)}
    assert not await EVENTS.check_body(request(body, moved), good, NOW, no_http)
    for garbage in ("not base64!", base64.b64encode(b"not DER").decode()):
        bad = {**headers, SIGNATURE_HEADER: garbage}
        assert not await EVENTS.check_body(request(body, bad), good, NOW, no_http)


async def test_a_body_that_is_no_utf8_cannot_carry_a_valid_signature() -> None:
    key = sendgrid_key()
    body = b"[\xff]"
    headers = key.headers(body, NOW)
    assert not await EVENTS.check_body(
        request(body, headers), secrets(key.public_b64), NOW, no_http
    )


def test_the_headers_refuse_a_missing_or_stale_signature_before_the_body() -> None:
    key = sendgrid_key()
    configured = secrets(key.public_b64, max_age_seconds=600)
    headers = key.headers(b"[]", NOW)
    assert not EVENTS.check_headers({}, configured, NOW)
    assert not EVENTS.check_headers({TIMESTAMP_HEADER: str(NOW)}, configured, NOW)
    assert not EVENTS.check_headers(headers, configured, NOW + 601)
    assert EVENTS.check_headers(headers, secrets(key.public_b64, max_age_seconds=0), NOW + 10**6)


def test_without_a_key_the_route_is_closed_unless_explicitly_open() -> None:
    assert not EVENTS.configured(secrets())
    assert not EVENTS.check_headers({}, secrets(), time.time())
    assert EVENTS.check_headers({}, secrets(allow_unauthenticated=True), time.time())


# --- properties ---------------------------------------------------------------------------------

FIELDS = ["email", "timestamp", "event", "sg_event_id", "sg_message_id", "smtp-id", "type",
          "reason", "response", "status"]  # fmt: skip
EVENT_NAMES = st.sampled_from(["delivered", "deferred", "bounce", "dropped", "spamreport", "open"])


@given(json_values)
def test_any_json_is_read_or_refused_as_not_sendgrids(payload: object) -> None:
    check_parse(EVENTS, payload)


@given(st.lists(shaped(FIELDS, json_values | EVENT_NAMES), max_size=5))
def test_any_array_of_event_like_objects_is_read_event_by_event(payload: list[object]) -> None:
    batch = check_parse(EVENTS, payload)
    assert batch is not None
    assert len(batch.events) + len(batch.ignored) == len(payload)
