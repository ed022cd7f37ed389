"""Mailjet Parse API: posted JSON to dedupe keys and `InboundEmail`s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import (
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
from app.mail.providers.mailjet import ADAPTER, FORMAT_PARSE
from tests.builders import payload


def fixture(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"mailjet/{name}"))
    return found


def body_of(post: object) -> bytes:
    return post if isinstance(post, bytes) else json.dumps(post).encode()


def read(post: object) -> Delivery | NotAnEmail:
    request = InboundRequest(headers={}, body=body_of(post), content_type="application/json")
    return ADAPTER.read(request, max_parts=1000)


def delivery_of(post: object) -> Delivery:
    found = read(post)
    assert isinstance(found, Delivery)
    return found


def parse(post: object) -> InboundEmail:
    body = body_of(post)
    return ADAPTER.parse(
        body, "application/json", delivery_of(body), max_parts=1000, ceilings=MimeCeilings()
    )


def test_a_parse_post_is_read_by_its_message_id_and_recipient() -> None:
    delivery = delivery_of(fixture("parse_basic.json"))
    assert delivery.payload_format == FORMAT_PARSE
    assert delivery.message_id == "<mj-order-1001@mail.example.com>"
    assert delivery.recipients == ("support@parse.shop.test",)


def test_a_parse_post_becomes_the_email_never_verified() -> None:
    email = parse(fixture("parse_basic.json"))
    assert email.from_ is not None
    assert (email.from_.name, email.from_.address) == ("Sara Ahmadi", "sara@example.com")
    assert email.subject == "Where is my order #1001?"
    assert email.date is not None
    assert email.date.isoformat() == "2026-11-22T09:00:00+00:00"
    assert email.text.startswith("Hi,\n\nwhere is my order #1001?")
    assert email.html.startswith('<div dir="ltr">Hi,')
    assert [m.address for m in email.to] == ["support@parse.shop.test"]
    assert email.header_values("received")[1].startswith("by mail.example.com")
    assert email.envelope_from == "sara@example.com"
    assert email.envelope_to == ("support@parse.shop.test",)
    assert email.auth.spam_score == 0.602
    assert (email.auth.spf, email.auth.dkim) == (None, ())
    # Mailjet reports no SPF or DKIM result: nothing can verify its senders.
    assert verify_sender(email).reason == "no_aligned_pass:spf=missing"


def test_encoded_headers_in_a_legacy_charset_are_decoded() -> None:
    email = parse(fixture("parse_latin1.json"))
    assert email.from_ is not None
    assert email.from_.name == "María García"
    assert email.subject == "Devolución del pedido #1001"
    assert "¡Gracias!" in email.text
    assert email.html == ""


def test_attachments_are_metadata_found_through_their_content_refs() -> None:
    email = parse(fixture("parse_attachments.json"))
    invoice, photo, resume = email.attachments
    assert (invoice.filename, invoice.content_type, invoice.size) == (
        "invoice 1001.pdf",
        "application/pdf",
        len(b"%PDF-1.4 fake"),
    )
    assert not invoice.is_inline
    assert (photo.filename, photo.is_inline, photo.content_id) == (
        "parcel.png",
        True,
        "parcel-photo@example.com",
    )
    assert (resume.filename, resume.size) == ("résumé.txt", len(b"Hello World!"))


def test_a_post_without_a_sender_parses_without_one() -> None:
    email = parse(fixture("no_sender.json"))
    assert email.from_ is None
    assert email.subject == "No sender here"


def test_the_checksum_ignores_the_envelope_and_follows_the_content() -> None:
    post = fixture("parse_basic.json")
    first = delivery_of(post)
    post["Recipient"] = "orders@parse.shop.test"
    post["SpamAssassinScore"] = "3.1"
    assert delivery_of(post).checksum == first.checksum
    post["Text-part"] = "changed"
    assert delivery_of(post).checksum != first.checksum


def test_mailjet_events_single_or_grouped_are_recognised_and_never_emails() -> None:
    assert read(fixture("event_open.json")) == NotAnEmail(kind="event open")
    assert read(fixture("events_grouped.json")) == NotAnEmail(kind="event sent")


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b"{}", b'[{"event": 1}]', b'"text"', b"[" * 50_000]
)
def test_a_body_that_is_not_a_parse_post_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


def test_a_parse_post_with_nothing_in_it_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse({"Headers": {}, "Parts": []})


def test_the_route_takes_basic_credentials_only() -> None:
    basic = InboundSecrets(basic_user="u", basic_password="p")
    assert ADAPTER.check_headers({"authorization": "Basic dTpw"}, basic, 0.0)
    assert not ADAPTER.check_headers({"authorization": "Basic dTpx"}, basic, 0.0)
    assert not ADAPTER.check_headers({}, InboundSecrets(mailgun_signing_key="k"), 0.0)
    assert ADAPTER.headers_prove_sender(basic)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "Headers",
        "Parts",
        "ContentRef",
        "Text-part",
        "Html-part",
        "Attachment1",
        "InlineAttachment1",
        "From",
        "Subject",
        "Sender",
        "Recipient",
        "SpamAssassinScore",
        "Content-Type",
        "Content-Disposition",
        "Content-ID",
        "Message-ID",
        "event",
    ]
)
TEXTS = st.text(max_size=60) | st.sampled_from(
    [
        "Attachment1",
        "InlineAttachment1",
        "attachment; filename*=utf-8''%FF%FE\"; name=\"x",
        "image/png; name==?utf-8?q?a=3F?=",
        "SGVsbG8=",
    ]
)
MAILJET_LIKE = st.recursive(
    st.none() | TEXTS | st.integers(),
    lambda inner: st.dictionaries(KEYS, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=25,
)


@given(JSON | MAILJET_LIKE)
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
