"""Mailgun Routes: signed forward() posts (raw MIME or parsed fields) to keys and emails."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.demo.provider_posts import mailgun_signature
from app.demo.sendgrid_posts import FilePart, encode_form
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
from app.mail.models import DkimResult, InboundEmail
from app.mail.providers.mailgun import (
    ADAPTER,
    FORMAT_PARSED,
    FORMAT_RAW,
    auth_results,
    signature_domain,
)
from tests.builders import payload

KEY = "key-mailgun-test-signing"
NOW = 1_795_338_000
SECRETS = InboundSecrets(mailgun_signing_key=KEY, max_age_seconds=600)


@dataclass(frozen=True)
class Post:
    body: bytes
    content_type: str

    def request(self, headers: dict[str, str] | None = None) -> InboundRequest:
        return InboundRequest(headers=headers or {}, body=self.body, content_type=self.content_type)


def fixture(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"mailgun/{name}"))
    return found


def sign(timestamp: int, token: str, key: str = KEY) -> str:
    return mailgun_signature(key, timestamp, token)


def field_bytes(fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    pairs = []
    for name, value in fields.items():
        if name.startswith("_"):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        pairs.append((name, text.encode("utf-8") if isinstance(text, str) else text))
    return pairs


def mailgun_post(
    fields: dict[str, Any],
    files: list[dict[str, str]] | None = None,
    *,
    timestamp: int = NOW,
    key: str = KEY,
    urlencoded: bool = False,
    raw: bytes | None = None,
) -> Post:
    """A forward() post as Mailgun sends it: the fields, then the signature fields."""
    token = secrets.token_hex(25)
    pairs = field_bytes(fields)
    if raw is not None:
        pairs.append(("body-mime", raw))
    pairs += [
        ("timestamp", str(timestamp).encode()),
        ("token", token.encode()),
        ("signature", sign(timestamp, token, key).encode()),
    ]
    if urlencoded:
        body = "&".join(f"{quote_from_bytes(n.encode())}={quote_from_bytes(v)}" for n, v in pairs)
        return Post(body.encode(), "application/x-www-form-urlencoded")
    parts: list[tuple[str, bytes] | FilePart] = list(pairs)
    for item in files or []:
        data = item["content"].encode("utf-8")
        parts.append(FilePart(item["name"], item["filename"], item["content_type"], data))
    post = encode_form(parts)
    return Post(post.body, post.content_type)


def fixture_post(name: str, **options: Any) -> Post:
    found = fixture(name)
    return mailgun_post(found["fields"], found.get("files"), **options)


def raw_post(eml: bytes, **options: Any) -> Post:
    fields = {"recipient": "support@parse.shop.test", "sender": "maria@cliente.example"}
    return mailgun_post(fields, raw=eml, **options)


def read(post: Post) -> Delivery | NotAnEmail:
    return ADAPTER.read(post.request(), max_parts=1000)


def delivery_of(post: Post) -> Delivery:
    found = read(post)
    assert isinstance(found, Delivery)
    return found


def parse(post: Post) -> InboundEmail:
    return ADAPTER.parse(
        post.body, post.content_type, delivery_of(post), max_parts=1000, ceilings=MimeCeilings()
    )


async def _no_http(url: str, headers: Any) -> HttpReply:
    raise OSError("no network in parser tests")


def body_ok(post: Post, secrets_: InboundSecrets = SECRETS, now: float = NOW + 5) -> bool:
    return asyncio.run(ADAPTER.check_body(post.request(), secrets_, now, _no_http))


@pytest.mark.parametrize("urlencoded", [True, False])
def test_a_parsed_post_becomes_the_email_with_mailgun_s_verdicts(urlencoded: bool) -> None:
    post = fixture_post("parsed_order.json", urlencoded=urlencoded)
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_PARSED
    assert delivery.message_id == "<CAMg-order-1001@mail.example.com>"
    assert delivery.recipients == ("support@parse.shop.test",)
    email = parse(post)
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "Where is my order #1001?"
    assert email.text.startswith("Hi,\r\n\r\nwhere is my order #1001?")
    assert "week.<br>" in email.html
    assert [m.address for m in email.to] == ["support@parse.shop.test"]
    assert email.envelope_from == "bounce+sara=example.com@mail.example.com"
    assert email.envelope_to == ("support@parse.shop.test",)
    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="example.com", result="pass"),)
    assert email.auth.spam_score == 0.3
    assert verify_sender(email).reason == "dkim_pass_aligned:example.com"


def test_the_same_email_urlencoded_or_multipart_has_the_same_keys() -> None:
    one = delivery_of(fixture_post("parsed_order.json", urlencoded=True))
    other = delivery_of(fixture_post("parsed_order.json", timestamp=NOW + 60))
    assert (one.checksum, one.message_id) == (other.checksum, other.message_id)
    changed = fixture("parsed_order.json")
    changed["fields"]["body-plain"] = "Another question."
    assert delivery_of(mailgun_post(changed["fields"])).checksum != one.checksum


def test_raw_mime_in_a_legacy_charset_is_parsed_byte_exact() -> None:
    eml = payload("mailgun/mime_latin1.eml")
    post = raw_post(eml)
    delivery = delivery_of(post)
    assert delivery.payload_format == FORMAT_RAW
    assert delivery.message_id == "<latin1-1001@mail.cliente.example>"
    assert delivery.checksum == hashlib.sha256(eml).hexdigest()
    email = parse(post)
    assert email.from_ is not None
    assert email.from_.name == "María García"
    assert email.subject == "Devolución del pedido #1001"
    assert "¡Gracias! Un saludo, María" in email.text
    assert email.auth.spf == "pass"
    assert email.auth.spam_score == 1.2
    assert email.envelope_from == "maria@cliente.example"
    assert verify_sender(email).verified


def test_raw_mime_is_preferred_over_the_parsed_fields() -> None:
    fields = fixture("parsed_order.json")["fields"]
    post = mailgun_post(fields, raw=payload("mailgun/mime_latin1.eml"))
    assert delivery_of(post).payload_format == FORMAT_RAW
    assert parse(post).subject == "Devolución del pedido #1001"


def test_attachments_are_metadata_with_safe_names_and_their_content_ids() -> None:
    email = parse(fixture_post("parsed_attachments.json"))
    photo, invoice = email.attachments
    assert (photo.filename, photo.content_type, photo.is_inline) == (
        "parcel.png",
        "image/png",
        True,
    )
    assert photo.content_id == "parcel-photo@example.com"
    assert photo.size == len("\u0089PNG fake image bytes".encode())
    assert (invoice.filename, invoice.is_inline, invoice.content_id) == (
        "invoice 1001.pdf",
        False,
        None,
    )
    assert email.auth.spf == "neutral"
    assert not verify_sender(email).verified


def test_a_content_id_map_that_repeats_a_key_keeps_every_part_inline() -> None:
    found = fixture("parsed_attachments.json")
    found["fields"]["content-id-map"] = (
        '{"<a@x>": "attachment-1", "<a@x>": "attachment-2"}'  # Mailgun repeats keys.
    )
    email = parse(mailgun_post(found["fields"], found["files"]))
    assert [a.is_inline for a in email.attachments] == [True, True]


def test_a_post_without_a_sender_still_parses_without_one() -> None:
    found = fixture("parsed_order.json")
    fields = found["fields"]
    del fields["from"]
    fields["message-headers"] = [h for h in fields["message-headers"] if h[0] != "From"]
    email = parse(mailgun_post(fields))
    assert email.from_ is None
    assert email.subject == "Where is my order #1001?"
    assert verify_sender(email).reason == "from_not_one_trustworthy_mailbox"


def test_an_empty_body_mime_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse(raw_post(b""))


MAILGUN_TOP = [("X-Mailgun-Spf", "Pass"), ("X-Mailgun-Dkim-Check-Result", "Pass")]
RECEIVED = ("Received", "from mail.example.com by mxa.mailgun.org; Sun, 22 Nov 2026 09:00:02")
SIGNED = ("DKIM-Signature", "v=1; a=rsa-sha256; d=example.com; s=s1; b=dGVzdA==")


@pytest.mark.parametrize(
    ("headers", "spf", "dkim"),
    [
        ([*MAILGUN_TOP, RECEIVED, SIGNED], "pass", ("example.com",)),
        # The sender wrote them: below Mailgun's own Received header.
        ([RECEIVED, *MAILGUN_TOP, SIGNED], None, ()),
        # No Received header at all: nothing says which lines Mailgun added.
        ([*MAILGUN_TOP, SIGNED], None, ()),
        # Two answers to one question are no answer.
        ([*MAILGUN_TOP, ("X-Mailgun-Spf", "Fail"), RECEIVED, SIGNED], None, ("example.com",)),
        # A pass that does not say which of two signatures passed credits neither.
        ([*MAILGUN_TOP, RECEIVED, SIGNED, ("DKIM-Signature", "d=evil.test; b=x")], "pass", ()),
        ([("X-Mailgun-Spf", "Maybe"), RECEIVED], None, ()),
    ],
)
def test_only_mailgun_s_own_verdicts_count(
    headers: list[tuple[str, str]], spf: str | None, dkim: tuple[str, ...]
) -> None:
    auth = auth_results(headers, [])
    assert auth.spf == spf
    assert tuple(result.domain for result in auth.dkim) == dkim


def test_a_forged_verdict_below_mailgun_s_headers_is_noted() -> None:
    defects: list[str] = []
    auth_results([RECEIVED, ("X-Mailgun-Spf", "Pass")], defects)
    assert defects == ["X-Mailgun verdict headers below Mailgun's own ignored"]


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("v=1; a=rsa-sha256; d=Example.COM; s=s1", "example.com"),
        ("v=1; d = mail.example.co.uk ; s=s1", "mail.example.co.uk"),
        ("v=1; d=ex\r\n ample.com; s=s1", "example.com"),
        ("v=1; d=a.test; d=b.test", None),
        ("v=1; s=s1", None),
        ("v=1; d=not a domain", None),
        ("v=1; d=localhost", None),
    ],
)
def test_the_signing_domain_is_one_well_formed_d_tag(value: str, domain: str | None) -> None:
    assert signature_domain(value) == domain


def test_a_good_signature_inside_the_window_is_accepted() -> None:
    assert body_ok(fixture_post("parsed_order.json"))
    assert body_ok(fixture_post("parsed_order.json", urlencoded=True))


def test_a_wrong_key_or_a_tampered_field_is_refused() -> None:
    assert not body_ok(fixture_post("parsed_order.json", key="another-key"))
    post = fixture_post("parsed_order.json", urlencoded=True)
    tampered = Post(
        post.body.replace(b"timestamp=1795338000", b"timestamp=1795338001"), post.content_type
    )
    assert not body_ok(tampered)


def test_a_stale_signature_is_refused_unless_the_window_is_off() -> None:
    post = fixture_post("parsed_order.json")
    assert not body_ok(post, now=NOW + 601)
    assert not body_ok(post, now=NOW - 601)
    assert body_ok(
        post, InboundSecrets(mailgun_signing_key=KEY, max_age_seconds=0), now=NOW + 10**8
    )


def test_a_post_without_signature_fields_or_readable_form_is_refused() -> None:
    post = encode_form([("recipient", b"support@parse.shop.test"), ("body-plain", b"hi")])
    assert not body_ok(Post(post.body, post.content_type))
    assert not body_ok(Post(b"garbage", "multipart/form-data; boundary=x"))
    assert not body_ok(Post(b"{not json", "application/json"))


def test_a_header_posted_under_a_signature_field_s_name_does_not_hide_mailgun_s_signature() -> None:
    # Mailgun posts the email's headers as fields too: a header called "token" adds a value.
    fields = dict(fixture("parsed_order.json")["fields"], token="sender-written-token")
    assert body_ok(mailgun_post(fields))


def test_a_json_tracking_event_is_verified_and_ignored() -> None:
    event = fixture("tracking_clicked.json")
    token = "t" * 50
    event["signature"] = {"timestamp": str(NOW), "token": token, "signature": sign(NOW, token)}
    post = Post(json.dumps(event).encode(), "application/json")
    assert body_ok(post)
    assert read(post) == NotAnEmail(kind="event clicked")
    event["signature"]["signature"] = sign(NOW, token, "wrong")
    assert not body_ok(Post(json.dumps(event).encode(), "application/json"))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("legacy_delivered.json", "event delivered"),
        ("store_notify.json", "stored message notification"),
    ],
)
def test_other_mailgun_posts_are_recognised_and_never_emails(name: str, kind: str) -> None:
    post = fixture_post(name)
    assert body_ok(post)
    assert read(post) == NotAnEmail(kind=kind)


@pytest.mark.parametrize(
    "post",
    [
        Post(b"", "application/x-www-form-urlencoded"),
        Post(b"recipient=a%40b.test", "application/x-www-form-urlencoded"),
        Post(b"not a form", "multipart/form-data; boundary=xyz"),
        Post(b"<xml/>", "text/xml"),
        Post(b'{"signature": {}}', "application/json"),
        Post(b"[1, 2]", "application/json"),
    ],
)
def test_an_authentic_post_that_holds_no_email_is_a_read_error(post: Post) -> None:
    with pytest.raises(ReadError):
        read(post)


def test_headers_prove_the_sender_only_with_basic_credentials() -> None:
    basic = InboundSecrets(mailgun_signing_key=KEY, basic_user="u", basic_password="p")
    assert ADAPTER.check_headers({}, SECRETS, NOW)
    assert not ADAPTER.headers_prove_sender(SECRETS)
    assert not ADAPTER.check_headers({}, basic, NOW)
    assert ADAPTER.check_headers({"authorization": "Basic dTpw"}, basic, NOW)
    assert ADAPTER.headers_prove_sender(basic)
    assert not ADAPTER.check_headers({}, InboundSecrets(), NOW)
    assert ADAPTER.check_headers({}, InboundSecrets(allow_unauthenticated=True), NOW)


FIELD_NAMES = st.sampled_from(
    [
        "body-mime",
        "body-plain",
        "body-html",
        "message-headers",
        "content-id-map",
        "recipient",
        "sender",
        "from",
        "subject",
        "event",
        "message-url",
        "attachments",
        "timestamp",
        "token",
        "signature",
        "attachment-1",
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
).map(lambda value: json.dumps(value).encode())
VALUES = st.binary(max_size=200) | JSONISH | st.sampled_from([b"", b"[]", b"{}", b"[[1, 2]]"])


@given(
    fields=st.lists(st.tuples(FIELD_NAMES | st.text(max_size=12), VALUES), max_size=10),
    files=st.lists(st.tuples(st.text(max_size=12), st.binary(max_size=50)), max_size=3),
    urlencoded=st.booleans(),
)
def test_any_form_is_read_and_parsed_or_refused_with_a_documented_error(
    fields: list[tuple[str, bytes]], files: list[tuple[str, bytes]], urlencoded: bool
) -> None:
    pairs = [(name.replace('"', ""), value) for name, value in fields]
    if urlencoded:
        body = "&".join(f"{quote_from_bytes(n.encode())}={quote_from_bytes(v)}" for n, v in pairs)
        post = Post(body.encode(), "application/x-www-form-urlencoded")
    else:
        parts: list[tuple[str, bytes] | FilePart] = list(pairs)
        parts += [
            FilePart(f"attachment-{i}", name.replace('"', ""), "image/png", data)
            for i, (name, data) in enumerate(files, 1)
        ]
        encoded = encode_form(parts)
        post = Post(encoded.body, encoded.content_type)
    assert body_ok(post) in (True, False)
    try:
        found = read(post)
    except ReadError:
        return
    if isinstance(found, Delivery):
        try:
            ADAPTER.parse(
                post.body, post.content_type, found, max_parts=1000, ceilings=MimeCeilings()
            )
        except (ReadError, UnusableEmail, OverCeiling):
            pass


@given(st.binary(max_size=300) | JSONISH)
def test_any_json_body_is_an_event_or_a_read_error(body: bytes) -> None:
    post = Post(body, "application/json")
    assert body_ok(post) in (True, False)
    try:
        assert isinstance(read(post), NotAnEmail)
    except ReadError:
        pass
