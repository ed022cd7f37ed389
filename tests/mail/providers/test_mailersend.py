"""MailerSend inbound routes: signed inbound.message posts (raw MIME or fields) to emails."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.demo.provider_posts import mailersend_signature
from app.mail.adapter import (
    Delivery,
    HttpReply,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    UnusableEmail,
)
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.models import InboundEmail
from app.mail.providers.mailersend import ADAPTER, FORMAT_FIELDS, FORMAT_RAW, spf_result
from tests.builders import payload

SECRET = "ms-route-secret-4f1a"
SECRETS = InboundSecrets(mailersend_signing_secret=SECRET)


def fixture(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"mailersend/{name}"))
    return found


def body_of(post: dict[str, Any] | bytes) -> bytes:
    return post if isinstance(post, bytes) else json.dumps(post).encode()


def signature(body: bytes, secret: str = SECRET) -> str:
    return mailersend_signature(secret, body)


def request(body: bytes, headers: dict[str, str] | None = None) -> InboundRequest:
    return InboundRequest(headers=headers or {}, body=body, content_type="application/json")


def read(post: dict[str, Any] | bytes) -> Delivery | NotAnEmail:
    return ADAPTER.read(request(body_of(post)), max_parts=1000)


def delivery_of(post: dict[str, Any] | bytes) -> Delivery:
    found = read(post)
    assert isinstance(found, Delivery)
    return found


def parse(post: dict[str, Any] | bytes) -> InboundEmail:
    body = body_of(post)
    return ADAPTER.parse(
        body, "application/json", delivery_of(body), max_parts=1000, ceilings=MimeCeilings()
    )


async def _no_http(url: str, headers: Any) -> HttpReply:
    raise OSError("no network in parser tests")


def body_ok(body: bytes, headers: dict[str, str], secrets: InboundSecrets = SECRETS) -> bool:
    return asyncio.run(ADAPTER.check_body(request(body, headers), secrets, 0.0, _no_http))


def test_the_raw_message_is_read_by_its_message_id_and_envelope_recipient() -> None:
    post = fixture("inbound_raw.json")
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_RAW
    assert delivery.message_id == "<ms-order-1001@mail.example.com>"
    assert delivery.recipients == ("support@parse.shop.test",)
    raw = post["data"]["raw"].encode()
    assert delivery.checksum == hashlib.sha256(raw).hexdigest()


def test_the_raw_message_becomes_the_email_with_its_spf_verdict() -> None:
    email = parse(fixture("inbound_raw.json"))
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "Where is my order #1001?"
    assert email.text.startswith("Hi, where is my order #1001?")
    assert email.html.startswith("<p>Hi,")
    assert [r[1][:4] for r in email.headers if r[0] == "Received"] == ["from", "by m"]
    assert email.envelope_from == "sara@example.com"
    assert email.envelope_to == ("support@parse.shop.test",)
    assert email.auth.spf == "pass"
    assert email.auth.dkim == ()
    assert verify_sender(email).reason == "spf_pass_aligned:example.com"


def test_a_raw_message_in_a_legacy_charset_is_decoded_by_its_own_charset() -> None:
    email = parse(fixture("raw_latin1.json"))
    assert email.subject == "Devolución del pedido #1001"
    assert "¡Gracias!" in email.text
    assert "María" in email.text


def test_without_raw_the_fields_are_read_attachments_included() -> None:
    post = fixture("fields_attachments.json")
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_FIELDS
    assert delivery.message_id == "<ms-parcel@mail.example.com>"
    email = parse(post)
    assert email.subject == "Damaged parcel 📦"
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.text.startswith("The parcel for #1001 arrived damaged.")
    photo, invoice = email.attachments
    assert (photo.filename, photo.is_inline, photo.content_id) == (
        "parcel.png",
        True,
        "ii_parcel01",
    )
    assert (invoice.filename, invoice.content_type, invoice.size) == (
        "invoice-1001.csv",
        "text/csv",
        26,
    )
    assert not invoice.is_inline


def test_the_fields_checksum_ignores_the_delivery_and_follows_the_content() -> None:
    post = fixture("fields_attachments.json")
    first = delivery_of(post)
    post["data"]["id"] = "another-delivery"
    post["data"]["created_at"] = "2026-11-22T09:05:00Z"
    assert delivery_of(post).checksum == first.checksum
    post["data"]["text"] = "changed"
    assert delivery_of(post).checksum != first.checksum


def test_a_message_without_a_sender_parses_without_one() -> None:
    email = parse(fixture("no_sender.json"))
    assert email.from_ is None
    assert verify_sender(email).reason == "from_not_one_trustworthy_mailbox"


@pytest.mark.parametrize(
    ("check", "result"),
    [
        ({"code": "+", "value": None}, "pass"),
        ({"code": "-", "value": "550"}, "fail"),
        ({"code": "~"}, "softfail"),
        ({"code": "?"}, "neutral"),
        ({"code": "pass"}, None),
        ({"code": 1}, None),
        ({}, None),
        (None, None),
        ("+", None),
    ],
)
def test_spf_check_is_read_as_an_spf_qualifier_and_nothing_else(
    check: object, result: str | None
) -> None:
    assert spf_result(check, []) == result


def test_a_dkim_check_that_names_no_domain_credits_none() -> None:
    post = fixture("inbound_raw.json")
    post["data"]["dkim_check"] = True
    post["data"]["spf_check"] = {"code": "-"}
    email = parse(post)
    assert email.auth.dkim == ()
    assert not verify_sender(email).verified


def test_other_mailersend_webhooks_are_recognised_and_never_emails() -> None:
    assert read(fixture("activity_sent.json")) == NotAnEmail(kind="activity.sent")
    assert read({"type": "webhook.test"}) == NotAnEmail(kind="webhook.test")


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b"{}", b'{"type": 3}', b'{"type": "inbound.message"}', b"[" * 50_000],
)
def test_a_body_that_is_not_a_mailersend_payload_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


def test_an_inbound_message_with_nothing_in_it_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse({"type": "inbound.message", "data": {"raw": "   "}})


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = payload("mailersend/inbound_raw.json")
    assert body_ok(body, {"signature": signature(body)})
    assert body_ok(body, {"signature": signature(body).upper()})
    assert not body_ok(body, {"signature": signature(body, "guessed")})
    assert not body_ok(body + b" ", {"signature": signature(body)})
    assert not body_ok(body, {})


def test_headers_refuse_a_missing_or_malformed_signature_before_the_body() -> None:
    good = {"signature": "a" * 64}
    assert ADAPTER.check_headers(good, SECRETS, 0.0)
    assert not ADAPTER.check_headers({}, SECRETS, 0.0)
    assert not ADAPTER.check_headers({"signature": "not-hex"}, SECRETS, 0.0)
    assert not ADAPTER.headers_prove_sender(SECRETS)
    both = InboundSecrets(mailersend_signing_secret=SECRET, basic_user="u", basic_password="p")
    assert not ADAPTER.check_headers(good, both, 0.0)
    assert ADAPTER.check_headers({**good, "authorization": "Basic dTpw"}, both, 0.0)
    assert ADAPTER.headers_prove_sender(both)
    assert not ADAPTER.check_headers(good, InboundSecrets(), 0.0)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "type",
        "data",
        "raw",
        "headers",
        "from",
        "sender",
        "recipients",
        "rcptTo",
        "email",
        "name",
        "subject",
        "text",
        "html",
        "attachments",
        "file_name",
        "content_type",
        "content_id",
        "size",
        "spf_check",
        "code",
        "Message-ID",
        "From",
    ]
)
MAILERSEND_LIKE = st.recursive(
    st.none() | st.text(max_size=60) | st.integers() | st.just("inbound.message"),
    lambda inner: st.dictionaries(KEYS, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=25,
)


INBOUND_LIKE = st.fixed_dictionaries(
    {"type": st.just("inbound.message"), "data": st.dictionaries(KEYS, MAILERSEND_LIKE)}
)


@given(JSON | MAILERSEND_LIKE | INBOUND_LIKE)
def test_any_json_is_read_and_parsed_or_refused_with_a_documented_error(value: Any) -> None:
    body = json.dumps(value).encode()
    try:
        found = read(body)
    except ReadError:
        return
    if isinstance(found, Delivery):
        try:
            ADAPTER.parse(body, "application/json", found, max_parts=1000, ceilings=MimeCeilings())
        except (ReadError, UnusableEmail, OverCeiling):
            pass
