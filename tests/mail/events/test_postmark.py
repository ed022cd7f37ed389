"""Postmark's webhooks: Delivery, Bounce (hard, soft, no failure), SpamComplaint; Basic auth."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import InboundRequest, InboundSecrets
from app.mail.delivery import EventError, EventKind, EventSecrets
from app.mail.events.postmark import EVENTS
from tests.mail.events.properties import check_parse, json_values, shaped
from tests.mail.events.signers import fixture

SECRETS = EventSecrets(inbound=InboundSecrets(basic_user="postmark", basic_password="s3cret"))


def request(body: bytes) -> InboundRequest:
    return InboundRequest(headers={}, body=body, content_type="application/json")


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_a_delivery_is_named_by_message_and_recipient() -> None:
    [event] = EVENTS.parse(request(fixture("postmark", "delivery.json"))).events
    assert event.kind is EventKind.DELIVERED
    assert event.provider_message_id == "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
    assert event.event_id == "Delivery:b7bc2f4a-e38e-4336-af7d-e6c392c2f817:sara.ahmadi@example.com"
    assert event.occurred_at == datetime(2026, 12, 6, 10, 1, 10, 907025, tzinfo=UTC)


def test_a_hard_bounce_suppresses_and_a_soft_one_does_not() -> None:
    [hard] = EVENTS.parse(request(fixture("postmark", "bounce.json"))).events
    assert (hard.kind, hard.hard, hard.suppresses) == (EventKind.BOUNCED, True, True)
    assert hard.event_id == "Bounce:4323372036854775807"
    assert hard.occurred_at == datetime(2026, 12, 6, 15, 5, 0, 123456, tzinfo=UTC)
    assert hard.reason.startswith("Hard bounce The server was unable")
    [soft] = EVENTS.parse(request(fixture("postmark", "soft_bounce.json"))).events
    assert (soft.kind, soft.hard, soft.suppresses) == (EventKind.BOUNCED, False, False)


def test_a_spam_complaint_suppresses() -> None:
    [spam] = EVENTS.parse(request(fixture("postmark", "spam_complaint.json"))).events
    assert (spam.kind, spam.suppresses, spam.event_id) == (
        EventKind.SPAM_REPORT,
        True,
        "SpamComplaint:42",
    )


def test_opens_and_bounce_records_that_are_no_failure_are_ignored() -> None:
    assert EVENTS.parse(request(fixture("postmark", "open.json"))).ignored == ("Open",)
    data = json.loads(fixture("postmark", "soft_bounce.json"))
    data["Type"] = "AutoResponder"
    batch = EVENTS.parse(request(json.dumps(data).encode()))
    assert (batch.events, batch.ignored) == ((), ("Bounce:AutoResponder",))


def test_a_body_that_is_no_object_is_refused() -> None:
    for body in (b"[]", b"nope", b"3"):
        try:
            EVENTS.parse(request(body))
        except EventError:
            continue
        raise AssertionError(f"{body!r} was read")


def test_basic_credentials_decide_before_the_body_is_read() -> None:
    assert EVENTS.check_headers(basic("postmark", "s3cret"), SECRETS, 0)
    assert not EVENTS.check_headers(basic("postmark", "guess"), SECRETS, 0)
    assert not EVENTS.check_headers({}, SECRETS, 0)
    assert not EVENTS.check_headers({}, EventSecrets(), 0)


FIELDS = ["RecordType", "Type", "ID", "MessageID", "Recipient", "Email", "DeliveredAt",
          "BouncedAt", "Description", "Details", "Name"]  # fmt: skip
VALUES = st.sampled_from(
    ["Delivery", "Bounce", "SpamComplaint", "HardBounce", "SoftBounce", "a@example.com",
     "2026-12-06T10:00:00Z"]
)  # fmt: skip


@given(json_values)
def test_any_json_is_read_or_refused_as_not_postmarks(payload: object) -> None:
    check_parse(EVENTS, payload)


@given(shaped(FIELDS, json_values | VALUES))
def test_any_record_like_object_is_read_or_ignored(record: dict[str, object]) -> None:
    batch = check_parse(EVENTS, record)
    assert batch is not None
    assert len(batch.events) + len(batch.ignored) == 1
