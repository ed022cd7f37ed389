"""SparkPost relay webhooks: batches of relay_message events to deliveries and `InboundEmail`s."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import (
    Batch,
    Delivery,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    UnusableEmail,
)
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.models import InboundEmail
from app.mail.providers.sparkpost import ADAPTER, FORMAT_RELAY
from tests.builders import payload

BASIC = InboundSecrets(basic_user="sparkpost", basic_password="relay-token-7c1e")


def fixture(name: str) -> list[Any]:
    found: list[Any] = json.loads(payload(f"sparkpost/{name}"))
    return found


def body_of(post: object) -> bytes:
    return post if isinstance(post, bytes) else json.dumps(post).encode()


def read(post: object) -> Delivery | Batch | NotAnEmail:
    request = InboundRequest(headers={}, body=body_of(post), content_type="application/json")
    return ADAPTER.read(request, max_parts=1000)


def delivery_of(post: object) -> Delivery:
    found = read(post)
    assert isinstance(found, Delivery)
    return found


def parse_as(body: bytes, delivery: Delivery) -> InboundEmail:
    return ADAPTER.parse(
        body, "application/json", delivery, max_parts=1000, ceilings=MimeCeilings()
    )


def parse(post: object) -> InboundEmail:
    body = body_of(post)
    return parse_as(body, delivery_of(body))


def rfc822(post: list[Any], index: int = 0) -> str:
    found: str = post[index]["msys"]["relay_message"]["content"]["email_rfc822"]
    return found


def test_one_relayed_email_is_one_delivery_of_the_post_as_posted() -> None:
    post = fixture("relay_single.json")
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_RELAY
    assert delivery.message_id == "<sp-order-1001@mail.example.com>"
    assert delivery.recipients == ("support@parse.shop.test",)
    assert delivery.checksum == hashlib.sha256(rfc822(post).encode()).hexdigest()
    assert delivery.body is None


def test_the_relayed_email_is_parsed_from_its_raw_message_never_verified() -> None:
    email = parse(fixture("relay_single.json"))
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "Where is my order #1001?"
    assert email.text.startswith("Hi, where is my order #1001?")
    assert email.envelope_from == "sara@example.com"
    assert email.envelope_to == ("support@parse.shop.test",)
    # SparkPost reports no SPF or DKIM result.
    assert (email.auth.spf, email.auth.dkim) == (None, ())
    assert not verify_sender(email).verified


def test_a_base64_email_in_a_legacy_charset_is_decoded_byte_exact() -> None:
    post = fixture("relay_base64_latin1.json")
    raw = base64.b64decode(rfc822(post))
    assert delivery_of(post).checksum == hashlib.sha256(raw).hexdigest()
    email = parse(post)
    assert email.from_ is not None
    assert email.from_.name == "María García"
    assert email.subject == "Devolución del pedido #1001"
    assert "¡Gracias! Un saludo, María" in email.text


def test_attachments_are_metadata_from_the_mime_parts() -> None:
    email = parse(fixture("relay_attachments.json"))
    photo, invoice = email.attachments
    assert (photo.filename, photo.is_inline, photo.content_id) == (
        "parcel.png",
        True,
        "parcel@example.com",
    )
    assert (invoice.filename, invoice.content_type) == ("invoice 1001.pdf", "application/pdf")


def test_an_email_without_a_sender_parses_without_one() -> None:
    email = parse(fixture("relay_no_sender.json"))
    assert email.from_ is None
    assert email.subject == "No sender here"


def test_a_batch_is_one_delivery_per_email_each_parsed_from_its_own_body() -> None:
    post = fixture("relay_batch.json")
    found = read(post)
    assert isinstance(found, Batch)
    first, second = found.deliveries
    assert (first.message_id, second.message_id) == (
        "<sp-order-1001@mail.example.com>",
        "<sp-order-1002@mail.example.com>",
    )
    assert (first.recipients, second.recipients) == (
        ("support@parse.shop.test",),
        ("orders@parse.shop.test",),
    )
    assert first.body is not None
    assert second.body is not None
    assert json.loads(first.body) == [post[0]]
    # Each is the delivery it would have been alone, so a lone retry of it is a duplicate.
    assert first.checksum == delivery_of([post[0]]).checksum
    assert parse_as(second.body, second).subject == "Can I change the address for #1002?"


def test_a_stored_post_of_several_emails_parses_the_one_its_delivery_names() -> None:
    body = payload("sparkpost/relay_batch.json")
    found = read(body)
    assert isinstance(found, Batch)
    second = found.deliveries[1]
    assert parse_as(body, second).message_id == "<sp-order-1002@mail.example.com>"
    stranger = Delivery(FORMAT_RELAY, "0" * 64, "<x@y>", False)
    with pytest.raises(ReadError):
        parse_as(body, stranger)


def test_other_events_and_the_test_post_are_recognised_and_never_emails() -> None:
    assert read(fixture("message_events.json")) == NotAnEmail(kind="message_event.delivery")
    assert read(fixture("test_ping.json")) == NotAnEmail(kind="empty batch")
    assert read([]) == NotAnEmail(kind="empty batch")


def test_other_events_beside_a_relayed_email_leave_it_one_delivery() -> None:
    post = fixture("message_events.json") + fixture("relay_single.json")
    delivery = delivery_of(post)
    assert parse_as(body_of(post), delivery).subject == "Where is my order #1001?"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"{}",
        b'{"msys": {}}',
        b"[1]",
        b'[{"msys": []}]',
        b'[{"msys": {"relay_message": "x"}}]',
        b'[{"msys": {"relay_message": {"content": {}}}}]',
        b'[{"msys": {"relay_message": {"content": '
        b'{"email_rfc822": "%%%", "email_rfc822_is_base64": true}}}}]',
        b"[" * 50_000,
    ],
)
def test_a_post_that_is_not_sparkpost_s_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


def test_an_empty_relayed_email_is_unusable() -> None:
    post = fixture("relay_single.json")
    post[0]["msys"]["relay_message"]["content"]["email_rfc822"] = ""
    with pytest.raises(UnusableEmail):
        parse(post)


def test_the_relay_webhook_s_auth_token_or_basic_credentials_let_it_in() -> None:
    token = {"x-messagesystems-webhook-token": "relay-token-7c1e"}
    assert ADAPTER.check_headers(token, BASIC, 0.0)
    assert ADAPTER.check_headers(
        {"authorization": "Basic c3Bhcmtwb3N0OnJlbGF5LXRva2VuLTdjMWU="}, BASIC, 0.0
    )
    assert not ADAPTER.check_headers({"x-messagesystems-webhook-token": "guess"}, BASIC, 0.0)
    assert not ADAPTER.check_headers({"x-messagesystems-webhook-token": ""}, BASIC, 0.0)
    assert not ADAPTER.check_headers({}, BASIC, 0.0)
    assert not ADAPTER.check_headers(token, InboundSecrets(mailgun_signing_key="k"), 0.0)
    assert ADAPTER.headers_prove_sender(BASIC)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "msys",
        "relay_message",
        "message_event",
        "type",
        "content",
        "email_rfc822",
        "email_rfc822_is_base64",
        "msg_from",
        "rcpt_to",
    ]
)
SPARKPOST_LIKE = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=60)
    | st.sampled_from(["From: a@b.test\r\n\r\nhi", "RnJvbTogYUBiLnRlc3QNCg0KaGk=", "%%"]),
    lambda inner: st.dictionaries(KEYS, inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=25,
)


RELAY = st.fixed_dictionaries(
    {
        "content": st.dictionaries(KEYS, SPARKPOST_LIKE),
        "rcpt_to": SPARKPOST_LIKE,
        "msg_from": SPARKPOST_LIKE,
    }
)
RELAY_LIKE = st.lists(
    st.fixed_dictionaries({"msys": st.fixed_dictionaries({"relay_message": RELAY})}), max_size=3
)


@given(JSON | SPARKPOST_LIKE | RELAY_LIKE)
def test_any_json_is_read_and_parsed_or_refused_with_a_documented_error(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        found = read(body)
    except ReadError:
        return
    deliveries = found.deliveries if isinstance(found, Batch) else (found,)
    for delivery in deliveries:
        if not isinstance(delivery, Delivery):
            continue
        try:
            parse_as(delivery.body if delivery.body is not None else body, delivery)
        except (ReadError, UnusableEmail, OverCeiling):
            pass
