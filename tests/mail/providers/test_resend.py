"""Resend inbound: Svix signatures, `email.received` events, the email fetched from Resend's API."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import (
    Delivery,
    FetchFailed,
    HttpReply,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    UnusableEmail,
)
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.mime import content_checksum
from app.mail.models import InboundEmail
from app.mail.providers.resend import ADAPTER, FORMAT_API, FORMAT_EVENT, FORMAT_RAW
from tests.builders import payload
from tests.provider_fakes import RESEND_KEY, RESEND_SECRET, FakeGet, svix_headers

KEY = RESEND_KEY
SECRET = RESEND_SECRET
SECRETS = InboundSecrets(resend_signing_secret=SECRET, resend_api_key="re_test_key")
EMAIL_ID = "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"
API_URL = f"https://api.resend.com/emails/receiving/{EMAIL_ID}"
RAW_URL = f"https://inbound-cdn.resend.com/{EMAIL_ID}/raw?signature=sig-123&expires=1795432502"


def event(name: str = "email_received.json", **data: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"resend/{name}"))
    found["data"].update(data)
    return found


def read(document: dict[str, Any] | bytes) -> Delivery | NotAnEmail:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    request = InboundRequest(headers={}, body=body, content_type="application/json")
    return ADAPTER.read(request, max_parts=1000)


async def body_check(
    body: bytes, headers: dict[str, str], secrets: InboundSecrets = SECRETS
) -> bool:
    request = InboundRequest(headers=headers, body=body, content_type="application/json")
    return await ADAPTER.check_body(request, secrets, time.time(), FakeGet())


async def test_a_svix_signature_over_the_body_is_accepted() -> None:
    body = json.dumps(event()).encode()
    headers = svix_headers(body)
    assert ADAPTER.check_headers(headers, SECRETS, time.time())
    assert await body_check(body, headers)


async def test_a_wrong_secret_or_a_changed_body_is_refused() -> None:
    body = json.dumps(event()).encode()
    assert not await body_check(body, svix_headers(body, key=b"another key"))
    assert not await body_check(body + b" ", svix_headers(body))
    changed_id = {**svix_headers(body), "svix-id": "msg_other"}
    assert not await body_check(body, changed_id)


async def test_any_v1_signature_in_the_list_is_enough_while_a_secret_rotates() -> None:
    body = json.dumps(event()).encode()
    headers = svix_headers(body)
    rotated = f"v1,b2xkIHNpZ25hdHVyZQ== {headers['svix-signature']}"
    assert await body_check(body, {**headers, "svix-signature": rotated})
    other_version = headers["svix-signature"].replace("v1,", "v2,")
    assert not await body_check(body, {**headers, "svix-signature": other_version})


async def test_a_malformed_secret_refuses_everything() -> None:
    body = json.dumps(event()).encode()
    broken = replace(SECRETS, resend_signing_secret="whsec_not*base64")
    assert not await body_check(body, svix_headers(body), broken)


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        ({}, True),
        ({"svix-timestamp": str(int(time.time()) - 3600)}, False),
        ({"svix-timestamp": str(int(time.time()) + 3600)}, False),
        ({"svix-timestamp": "soon"}, False),
        ({"svix-timestamp": ""}, False),
        ({"svix-id": ""}, False),
        ({"svix-signature": ""}, False),
    ],
)
def test_the_headers_refuse_a_stale_or_incomplete_signature(
    change: dict[str, str], accepted: bool
) -> None:
    headers = {**svix_headers(b"{}"), **change}
    assert ADAPTER.check_headers(headers, SECRETS, time.time()) is accepted


def test_with_the_window_off_an_old_signature_is_accepted() -> None:
    headers = svix_headers(b"{}", at=time.time() - 86_400)
    assert not ADAPTER.check_headers(headers, SECRETS, time.time())
    replaying = replace(SECRETS, max_age_seconds=0)
    assert ADAPTER.check_headers(headers, replaying, time.time())


def test_without_a_signing_secret_the_route_is_closed() -> None:
    assert not ADAPTER.configured(InboundSecrets())
    assert not ADAPTER.check_headers(svix_headers(b"{}"), InboundSecrets(), time.time())


def test_an_email_received_event_is_a_reference_keyed_by_the_email_id() -> None:
    delivery = read(event())
    assert delivery == Delivery(
        FORMAT_EVENT,
        content_checksum(f"resend-email:{EMAIL_ID}".encode()),
        "<resend-1@mail.example.com>",
        False,
        ("support@shop.test",),
    )
    assert ADAPTER.needs_fetch(FORMAT_EVENT)
    resent = dict(event(), created_at="2026-11-23T10:00:00.000Z")
    assert read(resent) == delivery


def test_an_event_without_a_message_id_gets_a_synthetic_one() -> None:
    delivery = read(event(message_id=None, cc=["orders@shop.test"], bcc=[5]))
    assert isinstance(delivery, Delivery)
    assert delivery.has_synthetic_message_id
    assert delivery.recipients == ("support@shop.test", "orders@shop.test")


@pytest.mark.parametrize(
    "kind", ["email.sent", "email.delivered", "email.bounced", "email.opened", "contact.created"]
)
def test_resends_other_events_are_not_emails(kind: str) -> None:
    assert read(dict(event("email_delivered.json"), type=kind)) == NotAnEmail(kind=kind)
    assert read({"data": {}}) == NotAnEmail(kind="unknown")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "email.received"}',
        b'{"type": "email.received", "data": {"email_id": "../../admin"}}',
        b'{"type": "email.received", "data": {"email_id": 5}}',
    ],
)
def test_an_unreadable_event_is_a_read_error(body: bytes) -> None:
    with pytest.raises(ReadError):
        read(body)


def api_reply(name: str) -> HttpReply:
    return HttpReply(status=200, body=payload(f"resend/{name}"), headers={})


async def fetch(http: FakeGet, secrets: InboundSecrets = SECRETS) -> tuple[bytes, str]:
    body = json.dumps(event()).encode()
    fetched = await ADAPTER.fetch(body, "application/json", FORMAT_EVENT, secrets, http)
    return fetched.raw, fetched.payload_format


def parse(raw: bytes, payload_format: str) -> InboundEmail:
    delivery = read(event())
    assert isinstance(delivery, Delivery)
    delivery = replace(delivery, payload_format=payload_format)
    return ADAPTER.parse(raw, "", delivery, max_parts=1000, ceilings=MimeCeilings())


async def test_the_raw_message_is_fetched_through_its_signed_link_without_our_key() -> None:
    eml = payload("mail/latin1-return.eml")
    http = FakeGet(
        {
            API_URL: api_reply("received_email_raw.json"),
            RAW_URL: HttpReply(status=200, body=eml, headers={}),
        }
    )
    raw, payload_format = await fetch(http)
    assert (raw, payload_format) == (eml, FORMAT_RAW)
    assert http.asked == [
        (API_URL, {"authorization": "Bearer re_test_key", "accept": "application/json"}),
        (RAW_URL, {}),
    ]
    email = parse(raw, payload_format)
    assert email.subject == "Devolución del pedido nº 1002"
    assert "La talla es pequeña." in email.text
    assert email.message_id == "<resend-1@mail.example.com>"
    assert not verify_sender(email).verified


async def test_without_a_raw_link_the_apis_fields_are_parsed() -> None:
    http = FakeGet({API_URL: api_reply("received_email_fields.json")})
    raw, payload_format = await fetch(http)
    assert payload_format == FORMAT_API
    assert http.urls() == [API_URL]
    email = parse(raw, payload_format)
    assert email.from_ is not None
    assert (email.from_.name, email.from_.address) == ("Sara Ahmadi", "sara@example.com")
    assert [m.address for m in email.to] == ["support@shop.test"]
    assert [m.address for m in email.cc] == ["orders@shop.test"]
    assert [m.address for m in email.reply_to] == ["sara.home@example.com"]
    assert email.subject == "Where is my order #1001?"
    assert email.in_reply_to == ("<reply-1001@shop.test>",)
    assert email.text.startswith("Hi, where is my order #1001?")
    assert len(email.header_values("received")) == 2
    found = [(a.filename, a.size, a.content_id, a.is_inline) for a in email.attachments]
    assert found == [("receipt.pdf", 9120, None, False), ("logo.png", 2048, "logo", True)]
    assert (email.auth.spf, email.auth.dkim) == (None, ())


@pytest.mark.parametrize("link", ["http://inbound-cdn.resend.com/raw", "https://[::1/raw", 5])
async def test_a_raw_link_that_is_not_https_is_not_followed(link: object) -> None:
    found = json.loads(payload("resend/received_email_raw.json"))
    found["raw"]["download_url"] = link
    http = FakeGet({API_URL: HttpReply(status=200, body=json.dumps(found).encode(), headers={})})
    assert (await fetch(http))[1] == FORMAT_API
    assert http.urls() == [API_URL]


async def test_the_api_base_url_is_configurable() -> None:
    base = replace(SECRETS, resend_api_base_url="https://resend.internal.test/")
    url = f"https://resend.internal.test/emails/receiving/{EMAIL_ID}"
    http = FakeGet({url: api_reply("received_email_fields.json")})
    assert (await fetch(http, base))[1] == FORMAT_API


@pytest.mark.parametrize(
    ("answers", "error"),
    [
        ({API_URL: HttpReply(status=404, body=b"{}", headers={})}, "answered 404"),
        ({API_URL: ConnectionError("connection refused")}, "connection refused"),
        ({API_URL: HttpReply(status=200, body=b"<html>", headers={})}, "not JSON"),
        (
            {
                API_URL: api_reply("received_email_raw.json"),
                RAW_URL: HttpReply(status=403, body=b"expired", headers={}),
            },
            "inbound-cdn.resend.com answered 403",
        ),
    ],
)
async def test_a_fetch_that_fails_raises_fetch_failed(
    answers: dict[str, HttpReply | OSError], error: str
) -> None:
    with pytest.raises(FetchFailed, match=error):
        await fetch(FakeGet(answers))


async def test_without_an_api_key_nothing_is_fetched() -> None:
    http = FakeGet()
    with pytest.raises(FetchFailed, match="RESEND_API_KEY"):
        await fetch(http, replace(SECRETS, resend_api_key=None))
    assert http.asked == []


def test_an_api_email_without_a_sender_still_parses() -> None:
    found = json.loads(payload("resend/received_email_fields.json"))
    del found["from"]
    email = parse(json.dumps(found).encode(), FORMAT_API)
    assert email.from_ is None
    assert email.subject == "Where is my order #1001?"


def test_an_api_email_with_nothing_in_it_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse(b'{"id": "x"}', FORMAT_API)


def test_an_unfetched_event_is_never_parsed_as_an_email() -> None:
    with pytest.raises(ReadError, match="never fetched"):
        parse(json.dumps(event()).encode(), FORMAT_EVENT)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "from",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "subject",
        "html",
        "text",
        "headers",
        "message_id",
        "attachments",
        "filename",
        "content_type",
        "content_id",
        "content_disposition",
        "size",
    ]
)
RESEND_LIKE = st.recursive(
    st.none() | st.text(max_size=60) | st.integers(),
    lambda inner: st.dictionaries(KEYS, inner, max_size=8) | st.lists(inner, max_size=3),
    max_leaves=30,
)


@given(JSON | RESEND_LIKE)
def test_reading_an_event_and_parsing_api_fields_raise_only_documented_errors(
    document: object,
) -> None:
    body = json.dumps(document).encode()
    try:
        read(body)
    except ReadError:
        pass
    try:
        read(json.dumps({"type": "email.received", "data": document}).encode())
    except ReadError:
        pass
    try:
        parse(body, FORMAT_API)
    except (ReadError, UnusableEmail, OverCeiling):
        pass
