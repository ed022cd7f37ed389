"""Brevo inbound parsing webhook: `{"items": [...]}` posts to dedupe keys and `InboundEmail`s."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import Delivery, InboundRequest, NotAnEmail, ReadError, UnusableEmail
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.models import InboundEmail
from app.mail.providers.brevo import ADAPTER, FORMAT_PARSED
from tests.builders import payload


def item(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"brevo/{name}"))["items"][0]
    found.update(changes)
    return found


def post(*items: dict[str, Any]) -> bytes:
    return json.dumps({"items": list(items)}).encode()


def read(body: bytes) -> Delivery | NotAnEmail:
    request = InboundRequest(headers={}, body=body, content_type="application/json")
    return ADAPTER.read(request, max_parts=1000)


def delivery_of(body: bytes) -> Delivery:
    found = read(body)
    assert isinstance(found, Delivery)
    return found


def parse(body: bytes) -> InboundEmail:
    return ADAPTER.parse(
        body, "application/json", delivery_of(body), max_parts=1000, ceilings=MimeCeilings()
    )


def test_an_item_is_read_by_its_message_id_and_delivered_to() -> None:
    delivery = delivery_of(payload("brevo/inbound.json"))
    assert delivery.payload_format == FORMAT_PARSED
    assert delivery.message_id == "<brevo-1@mail.example.com>"
    assert delivery.recipients == ("support@reply.shop.test",)


def test_an_item_becomes_the_email() -> None:
    email = parse(payload("brevo/inbound.json"))
    assert email.from_ is not None
    assert (email.from_.name, email.from_.address) == ("Sara Ahmadi", "sara@example.com")
    assert email.from_header == "Sara Ahmadi <sara@example.com>"
    assert email.subject == "Re: Your order #1001 has shipped"
    assert email.in_reply_to == ("<reply-1001@shop.test>",)
    assert email.references == ("<reply-1001@shop.test>",)
    assert email.text.startswith("Hi, the tracking link does not work.")
    assert email.html.startswith('<div dir="ltr">')
    assert email.envelope_from == "sara@example.com"
    assert email.envelope_to == ("support@reply.shop.test",)
    assert email.header_values("Received")[1].startswith("by mail-out.example.com")
    assert email.auth.spam_score == 0.7
    assert email.date is not None


def test_brevo_reports_no_spf_or_dkim_so_no_sender_is_verified() -> None:
    email = parse(payload("brevo/inbound.json"))
    assert (email.auth.spf, email.auth.dkim) == (None, ())
    assert not verify_sender(email).verified


def test_attachments_keep_metadata_and_their_download_tokens_are_never_used() -> None:
    email = parse(payload("brevo/inbound.json"))
    found = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in email.attachments
    ]
    assert found == [
        ("damage.jpg", "image/jpeg", 48213, "photo1", True),
        ("receipt.pdf", "application/pdf", 9120, None, False),
    ]
    assert not ADAPTER.needs_fetch(FORMAT_PARSED)


def test_encoded_words_in_a_latin1_item_are_decoded() -> None:
    email = parse(payload("brevo/latin1.json"))
    assert email.subject == "Devolución del pedido nº 1002"
    assert email.from_ is not None
    assert email.from_.name == "José Muñoz"
    assert "La talla es pequeña." in email.text
    assert email.html == ""


def test_the_fields_fill_in_headers_the_map_lacks() -> None:
    sparse = item("inbound.json", Headers={"X-Mailer": "Test"})
    email = parse(post(sparse))
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert [m.address for m in email.to] == ["support@reply.shop.test"]
    assert email.subject == "Re: Your order #1001 has shipped"
    assert email.in_reply_to == ("<reply-1001@shop.test>",)
    assert email.message_id == "<brevo-1@mail.example.com>"


def test_an_item_without_a_sender_still_parses() -> None:
    email = parse(payload("brevo/no_sender.json"))
    assert email.from_ is None
    assert email.subject == "No sender here"
    assert email.text == "Who sent this?"
    assert delivery_of(payload("brevo/no_sender.json")).recipients == ("support@reply.shop.test",)


def test_an_item_with_nothing_in_it_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse(post({"Uuid": ["x"]}))


def test_the_checksum_ignores_the_uuid_and_key_order() -> None:
    first = delivery_of(post(item("no_sender.json")))
    moved = dict(reversed(list(item("no_sender.json", Uuid=["another"]).items())))
    assert delivery_of(post(moved)).checksum == first.checksum
    assert delivery_of(post(item("no_sender.json", RawTextBody="x"))).checksum != first.checksum


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (payload("brevo/event_delivered.json"), "delivered"),
        (b'{"event": "hard_bounce", "email": "gone@example.net"}', "hard_bounce"),
        (b'{"items": []}', "empty"),
        (b"{}", "unknown"),
    ],
)
def test_brevos_other_webhooks_are_not_emails(body: bytes, kind: str) -> None:
    assert read(body) == NotAnEmail(kind=kind)


def test_a_batch_of_several_emails_is_kept_whole_for_staff() -> None:
    with pytest.raises(ReadError, match="a batch of 2 emails"):
        read(post(item("inbound.json"), item("latin1.json")))


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"items": {}}', b'{"items": ["x"]}', b"[" * 50_000]
)
def test_what_is_not_an_inbound_post_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


def test_a_stored_event_is_not_parsed_as_an_email() -> None:
    delivery = delivery_of(payload("brevo/inbound.json"))
    with pytest.raises(ReadError, match="not an email"):
        ADAPTER.parse(b'{"event": "opened"}', "", delivery, max_parts=10, ceilings=MimeCeilings())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "Uuid",
        "MessageId",
        "InReplyTo",
        "From",
        "To",
        "Cc",
        "ReplyTo",
        "SentAtDate",
        "Subject",
        "Headers",
        "Attachments",
        "RawHtmlBody",
        "RawTextBody",
        "SpamScore",
        "Name",
        "Address",
        "ContentType",
        "ContentLength",
        "ContentID",
        "Delivered-To",
        "Return-Path",
    ]
)
BREVO_LIKE = st.recursive(
    st.none() | st.text(max_size=60) | st.integers() | st.floats(),
    lambda inner: st.dictionaries(KEYS, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=30,
)


@given(JSON | BREVO_LIKE.map(lambda value: {"items": [value]}))
def test_reading_and_parsing_raise_only_the_documented_errors(document: object) -> None:
    body = json.dumps(document).encode()
    try:
        found = read(body)
        if isinstance(found, Delivery):
            ADAPTER.parse(body, "application/json", found, max_parts=1000, ceilings=MimeCeilings())
    except (ReadError, UnusableEmail, OverCeiling):
        pass
