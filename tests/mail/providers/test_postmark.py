"""Postmark inbound webhook: parsed fields or RawEmail to dedupe keys and `InboundEmail`s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import Delivery, InboundRequest, NotAnEmail, ReadError, UnusableEmail
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.mime import content_checksum
from app.mail.models import InboundEmail
from app.mail.providers.postmark import ADAPTER, FORMAT_PARSED, FORMAT_RAW
from tests.builders import payload

SPF_PASS = (
    "Pass (sender SPF authorized) identity=mailfrom; client-ip=192.0.2.25; "
    "helo=mail-out.example.com; envelope-from=sara@example.com; receiver=support@shop.test"
)


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"postmark/{name}"))
    found.update(changes)
    return found


def body_of(post: dict[str, Any] | bytes) -> bytes:
    return post if isinstance(post, bytes) else json.dumps(post).encode()


def read(post: dict[str, Any] | bytes) -> Delivery | NotAnEmail:
    request = InboundRequest(headers={}, body=body_of(post), content_type="application/json")
    return ADAPTER.read(request, max_parts=1000)


def delivery_of(post: dict[str, Any] | bytes) -> Delivery:
    found = read(post)
    assert isinstance(found, Delivery)
    return found


def parse(post: dict[str, Any] | bytes) -> InboundEmail:
    body = body_of(post)
    return ADAPTER.parse(
        body, "application/json", delivery_of(body), max_parts=1000, ceilings=MimeCeilings()
    )


def with_headers(*pairs: tuple[str, str], base: str = "inbound.json") -> dict[str, Any]:
    post = fixture(base)
    post["Headers"] = [{"Name": n, "Value": v} for n, v in pairs]
    return post


def test_a_parsed_post_is_read_by_its_message_id_and_original_recipient() -> None:
    delivery = delivery_of(fixture("inbound.json"))
    assert delivery.payload_format == FORMAT_PARSED
    assert delivery.message_id == "<pm-1@mail.example.com>"
    assert not delivery.has_synthetic_message_id
    assert delivery.recipients == ("support@shop.test",)


def test_a_parsed_post_becomes_the_email() -> None:
    email = parse(fixture("inbound.json"))
    assert email.from_ is not None
    assert (email.from_.name, email.from_.address) == ("Sara Ahmadi", "sara@example.com")
    assert email.from_header == '"Sara Ahmadi" <sara@example.com>'
    assert [m.address for m in email.to] == ["support@shop.test"]
    assert [m.address for m in email.cc] == ["orders@shop.test"]
    assert email.subject == "Re: Your order #1001 has shipped"
    assert email.date is not None
    assert email.date.isoformat() == "2026-11-23T09:15:00+00:00"
    assert email.in_reply_to == ("<reply-1001@shop.test>",)
    assert email.references == ("<reply-1001@shop.test>",)
    assert email.text.startswith("Hi, the tracking link does not work.")
    assert email.html.startswith("<p>Hi,")
    assert "Your order has shipped" not in email.clean_text
    assert email.envelope_to == ("support@shop.test",)
    assert email.header("X-Spam-Status") == "No"


def test_postmarks_received_spf_verifies_an_aligned_sender() -> None:
    email = parse(fixture("inbound.json"))
    assert email.auth.spf == "pass"
    assert email.envelope_from == "sara@example.com"
    assert email.auth.spam_score == 0.4
    assert email.auth.dkim == ()
    assert verify_sender(email).reason == "spf_pass_aligned:example.com"


def test_a_second_received_spf_header_means_no_spf_result() -> None:
    forged = SPF_PASS.replace("sara@example.com", "ceo@example.com")
    email = parse(with_headers(("Received-SPF", SPF_PASS), ("Received-SPF", forged)))
    assert email.auth.spf is None
    assert email.envelope_from is None
    assert "several Received-SPF headers; no SPF result trusted" in email.defects
    assert not verify_sender(email).verified


@pytest.mark.parametrize(
    ("value", "spf"),
    [
        (SPF_PASS, "pass"),
        (SPF_PASS.replace("Pass (sender SPF authorized)", "Fail (not authorized)"), "fail"),
        (SPF_PASS.replace("Pass", "SoftFail", 1), "softfail"),
        (SPF_PASS.replace("identity=mailfrom", "identity=helo"), None),
        (SPF_PASS.replace("identity=mailfrom; ", ""), None),
        ("Maybe (who knows) identity=mailfrom; envelope-from=sara@example.com", None),
        ("", None),
    ],
)
def test_the_received_spf_result_word_and_identity(value: str, spf: str | None) -> None:
    assert parse(with_headers(("Received-SPF", value))).auth.spf == spf


@pytest.mark.parametrize(
    ("score", "expected"), [("-0.1", -0.1), ("7.5", 7.5), ("high", None), ("nan", None)]
)
def test_the_spam_score_is_postmarks_first_x_spam_score(score: str, expected: float | None) -> None:
    post = with_headers(("X-Spam-Score", score), ("X-Spam-Score", "0.0"))
    assert parse(post).auth.spam_score == expected


def test_raw_email_is_preferred_and_decoded_from_its_own_charset() -> None:
    post = fixture("raw_latin1.json")
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_RAW
    assert delivery.checksum == content_checksum(post["RawEmail"].encode())
    assert delivery.message_id == "<pm-latin1@example.es>"
    # The fields disagree with the raw message: the raw message wins.
    post["Subject"] = "something else"
    post["TextBody"] = "something else"
    email = parse(post)
    assert email.subject == "Devolución del pedido nº 1002"
    assert email.from_ is not None
    assert email.from_.name == "José Muñoz"
    assert "La talla es pequeña." in email.text
    assert email.auth.spf == "pass"
    assert email.auth.spam_score == -0.1
    assert verify_sender(email).verified


def test_encoded_words_in_the_parsed_headers_are_decoded() -> None:
    post = with_headers(("Message-ID", "<x@example.es>"))
    post["Subject"] = "=?iso-8859-1?Q?Devoluci=F3n?="
    assert parse(post).subject == "Devolución"


def test_attachments_keep_metadata_only() -> None:
    email = parse(fixture("attachments.json"))
    found = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in email.attachments
    ]
    assert found == [
        ("damage.jpg", "image/jpeg", 25, "photo1", True),
        ("receipt.pdf", "application/pdf", 16, None, False),
    ]


def test_an_attachment_without_a_length_is_measured_and_data_is_read_as_content() -> None:
    post = fixture("attachments.json")
    post["Attachments"] = [
        {"Name": "a.txt", "Data": "aGVsbG8gd29ybGQ=", "ContentType": "text/plain; charset=utf-8"},
        {"Name": "../../etc/passwd", "Content": "aGk=", "ContentType": 5},
        "not an attachment",
    ]
    email = parse(post)
    assert [(a.filename, a.content_type, a.size) for a in email.attachments] == [
        ("a.txt", "text/plain", 11),
        ("passwd", "application/octet-stream", 2),
    ]


def test_a_post_without_a_sender_still_parses() -> None:
    email = parse(fixture("no_sender.json"))
    assert email.from_ is None
    assert email.from_header == ""
    assert email.subject == "No sender here"
    assert email.text == "Who sent this?"
    assert email.auth.spam_score == 1.2


def test_a_name_with_line_breaks_cannot_add_headers() -> None:
    post = fixture("inbound.json")
    post["FromFull"] = {"Email": "sara@example.com", "Name": 'Sara\r\nBcc: "x" <x@evil.test>'}
    email = parse(post)
    assert email.header("Bcc") is None
    assert email.from_ is None or email.from_.address == "sara@example.com"
    assert not verify_sender(email).verified


def test_a_post_with_nothing_in_it_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse({"MessageStream": "inbound"})


def test_the_checksum_ignores_postmarks_own_id_and_key_order() -> None:
    post = fixture("no_sender.json")
    first = delivery_of(post)
    again = delivery_of(dict(reversed(list(post.items())), MessageID="another-delivery-id"))
    assert again.checksum == first.checksum
    assert delivery_of(dict(post, TextBody="changed")).checksum != first.checksum
    assert first.has_synthetic_message_id


@pytest.mark.parametrize(
    "record_type", ["Bounce", "Delivery", "Open", "Click", "SpamComplaint", "SubscriptionChange"]
)
def test_postmarks_other_webhooks_are_not_emails(record_type: str) -> None:
    assert read({"RecordType": record_type, "MessageID": "x"}) == NotAnEmail(kind=record_type)
    assert read(fixture("bounce_event.json")) == NotAnEmail(kind="Bounce")


def test_an_inbound_record_type_is_an_email() -> None:
    assert isinstance(read(fixture("inbound.json", RecordType="Inbound")), Delivery)


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"text"', b"[" * 50_000])
def test_what_is_not_a_json_object_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "From",
        "FromFull",
        "FromName",
        "To",
        "Cc",
        "Subject",
        "Date",
        "TextBody",
        "HtmlBody",
        "Headers",
        "Attachments",
        "RawEmail",
        "RecordType",
        "OriginalRecipient",
        "ToFull",
        "Name",
        "Value",
        "Email",
        "Content",
        "ContentType",
        "ContentLength",
        "ContentID",
    ]
)
POSTMARK_LIKE = st.recursive(
    st.none() | st.text(max_size=60) | st.integers(),
    lambda inner: st.dictionaries(KEYS, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=30,
)


@given(JSON | POSTMARK_LIKE)
def test_reading_and_parsing_raise_only_the_documented_errors(post: object) -> None:
    body = json.dumps(post).encode()
    try:
        found = read(body)
        if isinstance(found, Delivery):
            ADAPTER.parse(body, "application/json", found, max_parts=1000, ceilings=MimeCeilings())
    except (ReadError, UnusableEmail, OverCeiling):
        pass
