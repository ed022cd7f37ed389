"""Amazon SES's sending events through SNS: both shapes, one event per recipient, SNS signed."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import HttpReply, InboundRequest, InboundSecrets
from app.mail.delivery import DeliveryEvent, EventBatch, EventError, EventKind, EventSecrets
from app.mail.events import source_for
from app.mail.events.amazon_ses import EVENTS
from app.mail.sns import CERTIFICATES
from tests.mail.events.properties import check_parse, json_values, shaped
from tests.mail.events.signers import fixture
from tests.provider_fakes import (
    CERT_URL,
    SUBSCRIBE_URL,
    TOPIC,
    FakeGet,
    SnsSigner,
    certificate_pem,
    rsa_key,
    sns_headers,
)

SNS_ID = "7c3e5b2a-1f4d-5e6a-9b8c-0d1e2f3a4b5c"
SECRETS = EventSecrets(
    inbound=InboundSecrets(sns_cert_hosts=("sns.*.amazonaws.com",), sns_topic_arns=(TOPIC,))
)


@pytest.fixture(autouse=True)
def fresh_certificates() -> None:
    """Each test fetches the certificate itself: the cache lives as long as the process."""
    CERTIFICATES.clear()


def signed(message: dict[str, str]) -> InboundRequest:
    return InboundRequest(
        headers=sns_headers(message), body=json.dumps(message).encode(), content_type="text/plain"
    )


def notified(notification: dict[str, Any] | str, **sns: Any) -> InboundRequest:
    return signed(SnsSigner().notification(notification, **sns))


def ses(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(fixture("amazon_ses", name))
    return found


def batch_of(name: str, **sns: Any) -> EventBatch:
    return EVENTS.parse(notified(ses(name), **sns))


def parse(name: str) -> DeliveryEvent:
    [event] = batch_of(name).events
    return event


@functools.cache
def stranger_key() -> rsa.RSAPrivateKey:
    """A key that is not the one in the certificate SNS serves."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def aws() -> FakeGet:
    return FakeGet.serving(certificate_pem(rsa_key()))


def test_the_source_is_found_under_the_routes_name() -> None:
    assert source_for("amazon_ses") is EVENTS


def test_a_delivery_names_the_email_by_ses_id_and_by_its_message_id_header() -> None:
    event = parse("delivery.json")
    assert (event.provider, event.kind, event.suppresses) == (
        "amazon_ses",
        EventKind.DELIVERED,
        False,
    )
    assert event.recipient == "sara.ahmadi@example.com"
    assert event.provider_message_id == (
        "0100019a51c2d7e8-5f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d-000000"
    )
    assert event.rfc_message_id == "<reply.5e2a@shop.test>"
    assert event.event_id == f"{SNS_ID}:sara.ahmadi@example.com"
    assert event.occurred_at.isoformat() == "2026-11-23T09:15:01.337000+00:00"
    assert event.reason == "250 2.0.0 OK 1795425301 a1b2c3d4e5f6-gsmtp"


def test_a_permanent_bounce_is_one_hard_bounce_per_recipient() -> None:
    first, second = batch_of("bounce_permanent.json").events
    assert [event.recipient for event in (first, second)] == [
        "gone@example.com",
        "old.address@example.org",
    ]
    for event in (first, second):
        assert (event.kind, event.hard, event.suppresses) == (EventKind.BOUNCED, True, True)
        assert event.rfc_message_id == "<reply.77aa@shop.test>"
    # Each recipient is its own event, so neither redelivery nor a sibling collides.
    assert first.event_id == f"{SNS_ID}:gone@example.com"
    assert second.event_id == f"{SNS_ID}:old.address@example.org"
    assert first.reason == (
        "Permanent/General: smtp; 550 5.1.1 The email account that you tried to reach does not "
        "exist."
    )


def test_a_transient_or_undetermined_bounce_is_soft() -> None:
    event = parse("bounce_transient.json")
    assert (event.kind, event.hard, event.suppresses) == (EventKind.BOUNCED, False, False)
    assert event.reason.startswith("Transient/MailboxFull: smtp; 452 4.2.2")
    undetermined = ses("bounce_transient.json")
    undetermined["bounce"].update(bounceType="Undetermined", bounceSubType="Undetermined")
    [event] = EVENTS.parse(notified(undetermined)).events
    assert (event.kind, event.hard) == (EventKind.BOUNCED, False)


def test_a_permanent_bounce_ses_never_sent_for_its_suppression_list_is_a_drop() -> None:
    suppressed = ses("bounce_permanent.json")
    suppressed["bounce"]["bounceSubType"] = "OnAccountSuppressionList"
    events = EVENTS.parse(notified(suppressed)).events
    assert [(event.kind, event.suppresses) for event in events] == [(EventKind.DROPPED, False)] * 2


def test_a_complaint_is_a_spam_report_matched_by_the_headers_list() -> None:
    event = parse("complaint.json")
    assert (event.kind, event.suppresses, event.recipient) == (
        EventKind.SPAM_REPORT,
        True,
        "angry@example.com",
    )
    # No commonHeaders here: the Message-ID comes from the `headers` list.
    assert event.rfc_message_id == "<reply.c0ff@shop.test>"
    assert (event.reason, event.occurred_at.hour) == ("abuse", 10)


def test_the_event_publishing_shape_reads_as_the_notification_one() -> None:
    event = parse("event_bounce.json")
    assert (event.kind, event.hard, event.recipient) == (
        EventKind.BOUNCED,
        True,
        "sara.ahmadi@example.com",
    )
    assert event.rfc_message_id == "<reply.e7e7@shop.test>"
    delayed = parse("event_delivery_delay.json")
    assert (delayed.kind, delayed.recipient) == (EventKind.DEFERRED, "slow@example.com")
    assert delayed.reason == "TransientCommunicationFailure: smtp; 421 4.4.1 Connection timed out"
    rejected = parse("event_reject.json")
    assert (rejected.kind, rejected.suppresses, rejected.reason) == (
        EventKind.DROPPED,
        False,
        "Bad content",
    )
    # A reject has no time of its own: the email's is used.
    assert rejected.occurred_at.isoformat() == "2026-11-23T09:14:58.120000+00:00"


def test_opens_sends_clicks_and_rendering_failures_are_ignored() -> None:
    assert batch_of("event_open.json") == EventBatch(ignored=("Open",))
    for kind in ("Send", "Click", "Rendering Failure", "Subscription"):
        other = dict(ses("event_open.json"), eventType=kind)
        assert EVENTS.parse(notified(other)) == EventBatch(ignored=(kind,))
    subscribed = {"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}
    assert EVENTS.parse(notified(subscribed)).ignored == ("AmazonSnsSubscriptionSucceeded",)


def test_a_body_that_is_no_sns_message_or_no_ses_notification_is_refused() -> None:
    for body in (b"[]", b"{}", b"nope", json.dumps({"Type": "Notification"}).encode()):
        with pytest.raises(EventError):
            EVENTS.parse(InboundRequest(headers={}, body=body, content_type="text/plain"))
    for message in ("not json", "[1, 2]"):
        with pytest.raises(EventError):
            EVENTS.parse(notified(message))


# --- the signature and the subscription ---------------------------------------------------------


async def test_a_notification_signed_by_sns_for_our_topic_is_accepted() -> None:
    http = aws()
    for version in ("1", "2"):
        request = notified(ses("bounce_permanent.json"), version=version)
        assert EVENTS.check_headers(request.headers, SECRETS, time.time())
        assert await EVENTS.check_body(request, SECRETS, time.time(), http)
    # Fetched once from the allowed host, then kept.
    assert http.urls() == [CERT_URL]


async def test_a_forged_signature_or_a_tampered_message_is_refused() -> None:
    http = aws()
    forged = SnsSigner(key=stranger_key()).notification(ses("bounce_permanent.json"))
    assert not await EVENTS.check_body(signed(forged), SECRETS, time.time(), http)
    tampered = SnsSigner().notification(ses("bounce_permanent.json"))
    tampered["Message"] = tampered["Message"].replace("gone@example.com", "someone@example.com")
    assert not await EVENTS.check_body(signed(tampered), SECRETS, time.time(), http)


async def test_a_certificate_from_a_host_not_allowed_is_never_fetched() -> None:
    elsewhere = "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem"
    message = SnsSigner(cert_url=elsewhere).notification(ses("delivery.json"))
    http = FakeGet.serving(certificate_pem(rsa_key()), elsewhere)
    assert not await EVENTS.check_body(signed(message), SECRETS, time.time(), http)
    assert http.urls() == []


def test_the_headers_refuse_another_topic_and_an_unconfigured_route_refuses_everything() -> None:
    message = SnsSigner(topic="arn:aws:sns:us-east-1:999999999999:theirs").notification("{}")
    assert not EVENTS.check_headers(sns_headers(message), SECRETS, time.time())
    assert not EVENTS.check_headers({}, SECRETS, time.time())
    closed = EventSecrets(inbound=InboundSecrets(sns_cert_hosts=("sns.*.amazonaws.com",)))
    ours = sns_headers(SnsSigner().notification("{}"))
    assert not EVENTS.configured(closed)
    assert not EVENTS.check_headers(ours, closed, time.time())


async def test_a_subscription_confirmation_is_verified_then_confirmed_on_aws_only() -> None:
    confirmation = signed(SnsSigner().confirmation())
    assert await EVENTS.check_body(confirmation, SECRETS, time.time(), aws())
    assert EVENTS.parse(confirmation) == EventBatch(confirm_url=SUBSCRIBE_URL)
    # A link off AWS's SNS hosts is refused with the signature, and never followed anyway.
    elsewhere = signed(SnsSigner().confirmation(subscribe_url="https://evil.test/confirm"))
    assert not await EVENTS.check_body(elsewhere, SECRETS, time.time(), aws())
    assert EVENTS.parse(elsewhere) == EventBatch(ignored=("SubscriptionConfirmation",))
    goodbye = signed(SnsSigner().confirmation("UnsubscribeConfirmation"))
    assert EVENTS.parse(goodbye) == EventBatch(ignored=("UnsubscribeConfirmation",))


async def test_a_certificate_that_cannot_be_fetched_raises_for_the_route_to_refuse() -> None:
    http = FakeGet({CERT_URL: OSError("no route")})
    with pytest.raises(OSError, match="no route"):
        await EVENTS.check_body(notified(ses("delivery.json")), SECRETS, time.time(), http)
    missing = FakeGet({CERT_URL: HttpReply(status=404, body=b"", headers={})})
    assert not await EVENTS.check_body(
        notified(ses("delivery.json")), SECRETS, time.time(), missing
    )


# --- properties ---------------------------------------------------------------------------------

FIELDS = ["eventType", "notificationType", "mail", "bounce", "complaint", "delivery",
          "deliveryDelay", "reject"]  # fmt: skip
NAMES = st.sampled_from(["Bounce", "Complaint", "Delivery", "DeliveryDelay", "Reject", "Open"])
INNER = ["bounceType", "bouncedRecipients", "complainedRecipients", "recipients", "timestamp",
         "delayedRecipients", "destination", "messageId", "commonHeaders", "headers"]  # fmt: skip


@given(json_values)
def test_any_json_is_read_or_refused_as_not_sns(payload: object) -> None:
    check_parse(EVENTS, payload)


@given(shaped(FIELDS, json_values | NAMES | shaped(INNER, json_values | NAMES)))
def test_any_notification_like_object_is_read_or_ignored(data: dict[str, object]) -> None:
    sns = {"Type": "Notification", "MessageId": SNS_ID, "TopicArn": TOPIC}
    batch = check_parse(EVENTS, {**sns, "Message": json.dumps(data)})
    assert batch is not None
