"""Mailgun's event webhooks: delivered, failed (temporary, permanent), complained; HMAC."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import HttpReply, InboundRequest, InboundSecrets
from app.mail.delivery import DeliveryEvent, EventError, EventKind, EventSecrets
from app.mail.events.mailgun import EVENTS
from tests.mail.events.properties import check_parse, json_values, shaped
from tests.mail.events.signers import MAILGUN_KEY, fixture, mailgun_signed

NOW = 1_796_551_200


def request(body: bytes) -> InboundRequest:
    return InboundRequest(headers={}, body=body, content_type="application/json")


def secrets(key: str | None = MAILGUN_KEY, **inbound: object) -> EventSecrets:
    return EventSecrets(inbound=InboundSecrets(mailgun_signing_key=key, **inbound))  # type: ignore[arg-type]


async def no_http(url: str, headers: object) -> HttpReply:
    raise AssertionError("Mailgun's signature needs no fetch")


def parse(name: str) -> DeliveryEvent:
    [event] = EVENTS.parse(request(fixture("mailgun", name))).events
    return event


def test_a_delivery_names_the_email_by_its_message_id() -> None:
    event = parse("delivered.json")
    assert event.kind is EventKind.DELIVERED
    assert event.rfc_message_id == event.provider_message_id == "<reply.0f3c@shop.test>"
    assert event.recipient == "sara.ahmadi@example.com"
    # Mailgun's event id is unique within a day only: the time makes it unique for good.
    assert event.event_id == "CPgfbmQMTCKtHW6uIWtuVe@1796548870.284541"


def test_a_permanent_failure_is_a_hard_bounce_and_a_temporary_one_a_deferral() -> None:
    bounce, later = parse("failed_permanent.json"), parse("failed_temporary.json")
    assert (bounce.kind, bounce.hard, bounce.suppresses) == (EventKind.BOUNCED, True, True)
    assert bounce.reason == "550 The email account that you tried to reach does not exist."
    assert (later.kind, later.hard) == (EventKind.DEFERRED, False)
    assert later.reason.startswith("452 4.2.2")


def test_a_failure_mailgun_did_not_even_try_is_a_drop_and_expired_retries_are_soft() -> None:
    data = json.loads(fixture("mailgun", "failed_permanent.json"))
    data["event-data"]["reason"] = "suppress-bounce"
    dropped = EVENTS.parse(request(json.dumps(data).encode())).events[0]
    assert (dropped.kind, dropped.suppresses) == (EventKind.DROPPED, False)
    data["event-data"]["reason"] = "old"
    expired = EVENTS.parse(request(json.dumps(data).encode())).events[0]
    assert (expired.kind, expired.hard) == (EventKind.BOUNCED, False)


def test_a_complaint_is_a_spam_report_and_opens_are_ignored() -> None:
    complaint = parse("complained.json")
    assert (complaint.kind, complaint.suppresses) == (EventKind.SPAM_REPORT, True)
    assert EVENTS.parse(request(fixture("mailgun", "opened.json"))).ignored == ("opened",)


def test_a_body_without_event_data_is_refused() -> None:
    for body in (b"[]", b"{}", b"nope", b'{"event-data": []}'):
        try:
            EVENTS.parse(request(body))
        except EventError:
            continue
        raise AssertionError(f"{body!r} was read")


# --- the signature ------------------------------------------------------------------------------


async def test_a_fresh_body_signed_with_the_key_is_accepted() -> None:
    body = mailgun_signed(fixture("mailgun", "delivered.json"), NOW)
    assert EVENTS.check_headers({}, secrets(), NOW)
    assert await EVENTS.check_body(request(body), secrets(), NOW, no_http)


async def test_a_forged_stale_or_unsigned_body_is_refused() -> None:
    payload = fixture("mailgun", "failed_permanent.json")
    forged = mailgun_signed(payload, NOW, key="another-key")
    assert not await EVENTS.check_body(request(forged), secrets(), NOW, no_http)
    stale = mailgun_signed(payload, NOW - 601)
    assert not await EVENTS.check_body(request(stale), secrets(max_age_seconds=600), NOW, no_http)
    assert await EVENTS.check_body(request(stale), secrets(max_age_seconds=0), NOW, no_http)
    unsigned = json.dumps({"event-data": json.loads(payload)["event-data"]}).encode()
    assert not await EVENTS.check_body(request(unsigned), secrets(), NOW, no_http)
    assert not await EVENTS.check_body(request(b"not json"), secrets(), NOW, no_http)
    # The signature covers the timestamp and token only, so a replayed signature block on other
    # event data still verifies; the freshness window and the event id's uniqueness bound it.
    tampered = json.loads(mailgun_signed(payload, NOW))
    tampered["signature"]["token"] = "u" * 50
    assert not await EVENTS.check_body(
        request(json.dumps(tampered).encode()), secrets(), NOW, no_http
    )


def test_without_a_key_the_route_is_closed_unless_explicitly_open() -> None:
    assert not EVENTS.check_headers({}, secrets(None), NOW)
    assert EVENTS.check_headers({}, secrets(None, allow_unauthenticated=True), NOW)


# --- properties ---------------------------------------------------------------------------------

FIELDS = ["id", "timestamp", "event", "severity", "reason", "recipient", "message",
          "delivery-status"]  # fmt: skip
NAMES = st.sampled_from(["delivered", "failed", "complained", "opened", "permanent", "temporary"])


@given(json_values)
def test_any_json_is_read_or_refused_as_not_mailguns(payload: object) -> None:
    check_parse(EVENTS, payload)


@given(shaped(FIELDS, json_values | NAMES))
def test_any_event_like_object_is_read_or_ignored(data: dict[str, object]) -> None:
    batch = check_parse(EVENTS, {"event-data": data})
    assert batch is not None
    assert len(batch.events) + len(batch.ignored) == 1
