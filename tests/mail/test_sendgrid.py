"""SendGrid Inbound Parse: raw and parsed mode posts to dedupe keys and `InboundEmail`s."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from app.demo.sendgrid_posts import (
    FilePart,
    SendGridPost,
    Transport,
    encode_form,
    parsed_mode_post,
    raw_mode_post,
)
from app.mail.adapter import Delivery, UnusableEmail
from app.mail.formdata import FormData, FormDataError, parse_form_data
from app.mail.models import DkimResult, InboundEmail
from app.mail.providers.sendgrid import (
    FORMAT_PARSED,
    FORMAT_RAW,
    parse_delivery,
    parse_dkim_field,
    parse_stored_delivery,
    read_delivery,
)
from tests.builders import inbound, inbound_from_post, make_eml, payload

SYNTHETIC_SUFFIX = "@checksum.invalid>"


def form_of(post: SendGridPost) -> FormData:
    return parse_form_data(post.body, post.content_type, max_parts=1000)


def delivery_of(post: SendGridPost) -> Delivery:
    return read_delivery(form_of(post))


def parse_post(post: SendGridPost) -> InboundEmail:
    form = form_of(post)
    return parse_delivery(form, read_delivery(form))


def fields_post(
    parts: list[tuple[str, bytes] | FilePart], *, boundary: str | None = None
) -> SendGridPost:
    return encode_form(parts, boundary=boundary)


HEADERS = (
    b"From: Sara Ahmadi <sara@example.com>\r\n"
    b"To: support@shop.test\r\n"
    b"Subject: Where is my order?\r\n"
    b"Message-ID: <parsed-1@example.com>\r\n"
)


def parsed_fields(
    *extra: tuple[str, bytes] | FilePart, headers: bytes = HEADERS
) -> list[tuple[str, bytes] | FilePart]:
    """A minimal parsed-mode post: headers, text and the transport fields."""
    return [("headers", headers), ("text", b"Where is my order?"), *Transport().fields(), *extra]


def with_transport(*parts: tuple[str, bytes] | FilePart) -> SendGridPost:
    return fields_post([*parts, *Transport().fields()])


# --- mode detection -------------------------------------------------------------------------


def test_raw_mode_is_detected_by_the_email_field() -> None:
    delivery = delivery_of(raw_mode_post(make_eml()))

    assert delivery.payload_format == FORMAT_RAW


def test_parsed_mode_is_detected_by_the_absence_of_the_email_field() -> None:
    post = parsed_mode_post({"headers": ("utf-8", HEADERS.decode()), "text": ("utf-8", "hi")})

    assert delivery_of(post).payload_format == FORMAT_PARSED


def test_the_mode_is_decided_per_request() -> None:
    raw = raw_mode_post(make_eml())
    parsed = fields_post(parsed_fields())

    assert [delivery_of(p).payload_format for p in (raw, parsed, raw)] == [
        FORMAT_RAW,
        FORMAT_PARSED,
        FORMAT_RAW,
    ]


def test_an_empty_email_field_still_means_raw_mode() -> None:
    post = fields_post([("email", b""), *parsed_fields()])

    assert delivery_of(post).payload_format == FORMAT_RAW


def test_an_uploaded_email_file_does_not_make_it_raw_mode() -> None:
    post = fields_post([*parsed_fields(), FilePart("email", "email.eml", "message/rfc822", b"x")])

    assert delivery_of(post).payload_format == FORMAT_PARSED


# --- read_delivery: Message-ID --------------------------------------------------------------


def test_raw_mode_message_id_comes_from_the_email_headers() -> None:
    delivery = delivery_of(raw_mode_post(make_eml(message_id="<abc.123@mail.example.com>")))

    assert delivery.message_id == "<abc.123@mail.example.com>"
    assert delivery.has_synthetic_message_id is False


@pytest.mark.parametrize("sep", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"])
def test_raw_mode_message_id_folded_and_with_any_line_ending(sep: bytes) -> None:
    eml = sep.join(
        [
            b"From: a@example.com",
            b"Message-ID:",
            b"   <folded.id@example.com>",
            b"Subject: hi",
            b"",
            b"Message-ID: <in-the-body@example.com>",
        ]
    )
    delivery = delivery_of(with_transport(("email", eml)))

    assert delivery.message_id == "<folded.id@example.com>"
    assert delivery.has_synthetic_message_id is False


def test_parsed_mode_message_id_comes_from_the_headers_field() -> None:
    delivery = delivery_of(fields_post(parsed_fields()))

    assert delivery.message_id == "<parsed-1@example.com>"
    assert delivery.has_synthetic_message_id is False


def test_parsed_mode_message_id_in_a_folded_header_line() -> None:
    headers = b"From: a@example.com\r\nMessage-Id:\r\n\t<CAfolded+id=x@mail.example.com>\r\n"
    delivery = delivery_of(fields_post(parsed_fields(headers=headers)))

    assert delivery.message_id == "<CAfolded+id=x@mail.example.com>"


def test_parsed_mode_message_id_is_not_taken_from_the_body() -> None:
    post = fields_post(
        [
            ("headers", b"From: a@example.com\r\nSubject: no id\r\n"),
            ("text", b"Message-ID: <in-text@example.com>\r\n"),
        ]
    )
    assert delivery_of(post).has_synthetic_message_id is True


def synthetic_for(checksum: str) -> str:
    return f"<{checksum}{SYNTHETIC_SUFFIX}"


def test_raw_mode_without_message_id_gets_a_synthetic_one_from_the_checksum() -> None:
    eml = make_eml(message_id=None)
    delivery = delivery_of(raw_mode_post(eml))

    assert delivery.has_synthetic_message_id is True
    assert delivery.checksum == hashlib.sha256(eml).hexdigest()
    assert delivery.message_id == synthetic_for(delivery.checksum)


def test_parsed_mode_without_message_id_gets_a_synthetic_one_from_the_checksum() -> None:
    headers = b"From: a@example.com\r\nSubject: no id\r\n"
    delivery = delivery_of(fields_post(parsed_fields(headers=headers)))

    assert delivery.has_synthetic_message_id is True
    assert len(delivery.checksum) == 64
    assert delivery.message_id == synthetic_for(delivery.checksum)


@pytest.mark.parametrize(
    "value",
    [
        b"<" + b"x" * 5000 + b"@example.com>",
        b"",
        b"<>",
        b"not-in-brackets@example.com",
    ],
)
def test_an_absurd_or_unusable_message_id_is_replaced(value: bytes) -> None:
    eml = b"From: a@example.com\r\nMessage-ID: " + value + b"\r\nSubject: x\r\n\r\nbody\r\n"
    for post in (
        with_transport(("email", eml)),
        fields_post(parsed_fields(headers=eml.split(b"\r\n\r\n")[0])),
    ):
        delivery = delivery_of(post)
        assert delivery.has_synthetic_message_id is True
        assert delivery.message_id == synthetic_for(delivery.checksum)


def test_an_attached_message_id_is_not_the_outer_one() -> None:
    outer = EmailMessage()
    outer["From"] = "a@example.com"
    outer["Subject"] = "Fwd"
    outer.set_content("see attached")
    inner = EmailMessage()
    inner["Message-ID"] = "<inner@example.com>"
    inner.set_content("inner")
    outer.add_attachment(inner)

    delivery = delivery_of(raw_mode_post(outer.as_bytes()))

    assert delivery.has_synthetic_message_id is True


def test_read_delivery_does_not_raise_on_an_unusable_email() -> None:
    # The webhook acknowledges first; whatever the worker will refuse still gets stored.
    for parts in ([("email", b"")], [("email", b"no headers")], [("text", b"only text")]):
        delivery = delivery_of(fields_post(list(parts)))
        assert delivery.has_synthetic_message_id is True


# --- read_delivery: checksum ----------------------------------------------------------------


def test_raw_checksum_is_independent_of_the_multipart_boundary() -> None:
    eml = make_eml()
    parts: list[tuple[str, bytes] | FilePart] = [*Transport().fields(), ("email", eml)]
    first = delivery_of(fields_post(parts, boundary="xYzZY-first"))
    second = delivery_of(fields_post(parts, boundary="----WebKitFormBoundaryABC123"))

    assert first.checksum == second.checksum
    assert first.message_id == second.message_id


def test_parsed_checksum_is_independent_of_the_multipart_boundary() -> None:
    parts = parsed_fields(FilePart("attachment1", "a.pdf", "application/pdf", b"%PDF"))
    first = delivery_of(fields_post(parts, boundary="boundary-one"))
    second = delivery_of(fields_post(parts, boundary="boundary-two-is-longer"))

    assert first.checksum == second.checksum


def test_parsed_checksum_is_independent_of_part_order() -> None:
    parts = parsed_fields(("html", b"<p>hi</p>"), ("subject", b"hi"))

    assert (
        delivery_of(fields_post(parts)).checksum
        == delivery_of(fields_post(list(reversed(parts)))).checksum
    )


OTHER_TRANSPORT = Transport(
    envelope_from="bounces+123@other.example",
    envelope_to=("second-recipient@parse.shop.test",),
    spf="softfail",
    dkim="{@other.example : fail}",
    spam_score="9.9",
    sender_ip="192.0.2.99",
)


def test_raw_checksum_is_independent_of_transport_fields() -> None:
    eml = make_eml()
    plain = delivery_of(raw_mode_post(eml, Transport()))
    other = delivery_of(raw_mode_post(eml, OTHER_TRANSPORT))
    no_spam = delivery_of(raw_mode_post(eml, Transport(spam_score=None)))

    assert plain.checksum == other.checksum == no_spam.checksum


def test_parsed_checksum_is_independent_of_transport_fields() -> None:
    fields = {"headers": ("utf-8", HEADERS.decode()), "text": ("utf-8", "hi")}
    checksums = {
        delivery_of(parsed_mode_post(fields, transport)).checksum
        for transport in (Transport(), OTHER_TRANSPORT, Transport(spam_score=None))
    }
    assert len(checksums) == 1


def test_raw_checksum_differs_when_the_email_differs() -> None:
    one = delivery_of(raw_mode_post(make_eml(body="Where is order #1001?\n")))
    two = delivery_of(raw_mode_post(make_eml(body="Where is order #1002?\n")))

    assert one.checksum != two.checksum
    assert one.message_id == two.message_id  # same Message-ID, other content: flagged later


@pytest.mark.parametrize(
    "change",
    [
        ("text", b"Where is my order??"),
        ("html", b"<p>new</p>"),
        ("subject", b"other"),
        ("headers", HEADERS + b"X-Extra: 1\r\n"),
    ],
)
def test_parsed_checksum_differs_when_a_content_field_differs(change: tuple[str, bytes]) -> None:
    base = parsed_fields()
    changed = [part for part in base if isinstance(part, FilePart) or part[0] != change[0]]

    assert (
        delivery_of(fields_post(base)).checksum
        != delivery_of(fields_post([*changed, change])).checksum
    )


def test_parsed_checksum_covers_attachments_their_names_and_bytes() -> None:
    def checksum(file: FilePart) -> str:
        return delivery_of(fields_post(parsed_fields(file))).checksum

    base = checksum(FilePart("attachment1", "a.pdf", "application/pdf", b"%PDF-1"))

    assert base != checksum(FilePart("attachment1", "a.pdf", "application/pdf", b"%PDF-2"))
    assert base != checksum(FilePart("attachment1", "b.pdf", "application/pdf", b"%PDF-1"))
    assert base != delivery_of(fields_post(parsed_fields())).checksum


def test_parsed_checksum_does_not_confuse_field_boundaries() -> None:
    one = delivery_of(fields_post([("headers", b"From: a@x.test"), ("text", b"ab")]))
    two = delivery_of(fields_post([("headers", b"From: a@x.test"), ("text", b"a"), ("z", b"b")]))

    assert one.checksum != two.checksum


# --- parsed mode: per-field charsets --------------------------------------------------------


def test_parsed_mode_fields_are_decoded_with_their_own_charsets() -> None:
    post = parsed_mode_post(
        {
            "headers": ("utf-8", HEADERS.decode()),
            "subject": ("cp850", "Devoluci\u00f3n: como usted pidi\u00f3"),
            "text": ("windows-1252", "Como usted pidi\u00f3 \u2013 \u201cgracias\u201d 10 \u20ac"),
            "html": ("iso-8859-1", "<p>Gr\u00fc\u00dfe, \u00bfbien?</p>"),
            "from": ("utf-8", "Jos\u00e9 <jose@example.com>"),
        }
    )
    email = parse_post(post)

    assert email.subject == "Devoluci\u00f3n: como usted pidi\u00f3"
    assert email.text == "Como usted pidi\u00f3 \u2013 \u201cgracias\u201d 10 \u20ac"
    assert email.html == "<p>Gr\u00fc\u00dfe, \u00bfbien?</p>"
    for mojibake in ("pidi\u00a2", "Devoluci\u00a2n", "\u0093", "\u0096", "Gr\u00c3\u00bc"):
        assert mojibake not in email.subject + email.text + email.html


def test_the_from_field_is_decoded_with_its_charset_when_headers_lack_from() -> None:
    post = parsed_mode_post(
        {
            "headers": ("utf-8", "Subject: hi\r\nMessage-ID: <x@example.com>\r\n"),
            "from": ("utf-8", "Jos\u00e9 <jose@example.com>"),
            "text": ("utf-8", "hello"),
        }
    )
    email = parse_post(post)

    assert email.from_header == "Jos\u00e9 <jose@example.com>"
    assert email.from_ is not None
    assert email.from_.address == "jose@example.com"
    assert email.from_.name == "Jos\u00e9"


def test_a_mixed_charset_fixture_posted_as_sendgrid_does() -> None:
    body = payload("sendgrid/parsed_mixed_charsets.form")
    post = SendGridPost(body, "multipart/form-data; boundary=----sgTestFixture7f3a")
    delivery = delivery_of(post)
    email = parse_post(post)

    assert delivery.payload_format == FORMAT_PARSED
    assert delivery.message_id == "<CAFixture.mixed-charsets.1001@mail.cliente.example>"
    assert email.subject == "Devoluci\u00f3n del pedido #1001 - como usted pidi\u00f3"
    assert email.text == (
        "Hola,\r\nquiero devolver el pedido #1001. \u201cGracias\u201d por todo \u2013 25 \u20ac."
        "\r\nGr\u00fc\u00dfe, Mar\u00eda\r\n"
    )
    assert (
        email.html
        == "<p>Hola, \u00bfpod\u00e9is ayudarme con la devoluci\u00f3n? Gr\u00fc\u00dfe</p>"
    )
    assert email.from_ is not None
    assert (email.from_.name, email.from_.address) == (
        "Mar\u00eda Garc\u00eda",
        "maria@cliente.example",
    )
    assert email.header("subject") == email.subject
    assert email.date == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert email.content_type == "multipart/alternative"
    assert email.in_reply_to == ("<reply-1@shop.test>",)
    assert email.references == ("<order-1001@shop.test>", "<reply-1@shop.test>")
    assert email.envelope_from == "maria@cliente.example"
    assert email.envelope_to == ("support@parse.shop.test",)
    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="cliente.example", result="pass"),)
    assert email.auth.spam_score == 0.3
    assert email.auth.sender_ip == "198.51.100.7"
    assert email.defects == ()


@pytest.mark.parametrize(
    "charsets",
    [
        b'{"text": "x-no-such-charset"}',
        b'{"text": "unknown-8bit"}',
        b'{"text": "base64"}',
        b'{"text": "utf\\u0000-8"}',
        b'{"text": 5}',
        b'{"text": null}',
        b'{"text": ["utf-8"]}',
        b"{}",
        b"",
    ],
)
def test_unknown_or_odd_charset_names_fall_back_to_utf8(charsets: bytes) -> None:
    text = "Gr\u00fc\u00dfe \u20ac".encode()
    email = parse_post(fields_post([("headers", HEADERS), ("text", text), ("charsets", charsets)]))

    assert email.text == "Gr\u00fc\u00dfe \u20ac"
    assert email.defects == ()


def test_invalid_charsets_json_is_a_defect_and_fields_still_decode() -> None:
    post = fields_post(
        [("headers", HEADERS), ("text", "Gr\u00fc\u00dfe".encode()), ("charsets", b"{oops")]
    )
    email = parse_post(post)

    assert email.text == "Gr\u00fc\u00dfe"
    assert "charsets is not valid JSON" in email.defects


def test_an_unknown_charset_with_legacy_bytes_keeps_the_ascii() -> None:
    spanish = "Hola, quiero hacer una devoluci\u00f3n del pedido porque lleg\u00f3 roto. Gracias"
    post = fields_post(
        [
            ("headers", HEADERS),
            ("text", spanish.encode("cp1252")),
            ("charsets", b'{"text": "x-bogus"}'),
        ]
    )
    email = parse_post(post)

    assert email.text == spanish


def test_a_subject_field_with_an_encoded_line_break_stays_on_one_line() -> None:
    post = fields_post([("headers", HEADERS), ("subject", b"Hi\r\nBcc: victim@evil.test")])

    assert parse_post(post).subject == "Hi Bcc: victim@evil.test"


def test_the_subject_header_is_used_when_the_subject_field_is_missing() -> None:
    headers = HEADERS.replace(
        b"Subject: Where is my order?", b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?="
    )
    email = parse_post(fields_post(parsed_fields(headers=headers)))

    assert email.subject == "Gr\u00fc\u00dfe"


def test_parsed_fields_are_storable() -> None:
    post = fields_post(
        [
            ("headers", HEADERS),
            ("subject", b"a\x00b\x07c"),
            ("text", b"body\x00\x1b"),
            ("html", b"<p>\x00</p>"),
        ]
    )
    email = parse_post(post)

    assert (email.subject, email.text, email.html) == ("abc", "body", "<p></p>")


# --- envelope -------------------------------------------------------------------------------


def parse_with(*parts: tuple[str, bytes] | FilePart) -> InboundEmail:
    return parse_post(fields_post([("headers", HEADERS), ("text", b"hi"), *parts]))


def test_envelope_from_and_to() -> None:
    email = parse_with(
        (
            "envelope",
            b'{"to": ["Support@Parse.Shop.Test", "other@shop.test"], '
            b'"from": "<Bounce@Example.COM>"}',
        )
    )

    assert email.envelope_from == "bounce@example.com"
    assert email.envelope_to == ("support@parse.shop.test", "other@shop.test")
    assert email.defects == ()


def test_the_delivery_names_the_envelope_recipients_before_any_parse() -> None:
    envelope = b'{"to": ["Help@North.Example", 7, "other@shop.test"], "from": "a@example.com"}'

    delivery = read_delivery(form_of(fields_post([("headers", HEADERS), ("envelope", envelope)])))

    assert delivery.recipients == ("help@north.example", "other@shop.test")


def test_recipients_are_every_address_it_was_delivered_or_written_to() -> None:
    headers = (
        b"From: Sara <sara@example.com>\r\n"
        b"To: Team <Team@Example.org>, help@north.example\r\n"
        b"Cc: orders@north.example\r\n"
        b"Delivered-To: <Alias@North.Example>\r\n"
        b"X-Original-To: help@north.example\r\n"
        b"Message-ID: <r-1@example.com>\r\n"
    )
    email = parse_post(
        fields_post([("headers", headers), ("envelope", b'{"to": ["in@parse.shop.test"]}')])
    )

    # The envelope first, then what mailboxes recorded, then what the sender wrote; once each.
    assert email.recipients() == [
        "in@parse.shop.test",
        "alias@north.example",
        "help@north.example",
        "team@example.org",
        "orders@north.example",
    ]


@pytest.mark.parametrize("sender", ['""', '"<>"', '" <> "'])
def test_the_null_sender_is_the_empty_string(sender: str) -> None:
    email = parse_with(("envelope", b'{"to": ["a@shop.test"], "from": %s}' % sender.encode()))

    assert email.envelope_from == ""


@pytest.mark.parametrize(
    ("envelope", "defect"),
    [
        (b"{not json", "envelope is not valid JSON"),
        (b'{"from": "a@example.com"', "envelope is not valid JSON"),
        (b"\xff\xfe", "envelope is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "envelope is not valid JSON"),
        (b'["a@example.com"]', "envelope is not a JSON object"),
        (b'"a@example.com"', "envelope is not a JSON object"),
        (b"null", "envelope is not a JSON object"),
    ],
)
def test_a_broken_envelope_is_a_defect_not_a_crash(envelope: bytes, defect: str) -> None:
    email = parse_with(("envelope", envelope))

    assert email.envelope_from is None
    assert email.envelope_to == ()
    assert defect in email.defects


@pytest.mark.parametrize(
    ("envelope", "sender", "recipients"),
    [
        (b"", None, ()),
        (b"   ", None, ()),
        (b"{}", None, ()),
        (b'{"from": null, "to": null}', None, ()),
        (b'{"from": 5, "to": "a@shop.test"}', None, ()),
        (
            b'{"from": "a@example.com", "to": ["b@shop.test", 7, null]}',
            "a@example.com",
            ("b@shop.test",),
        ),
    ],
)
def test_odd_envelope_values(
    envelope: bytes, sender: str | None, recipients: tuple[str, ...]
) -> None:
    email = parse_with(("envelope", envelope))

    assert email.envelope_from == sender
    assert email.envelope_to == recipients


def test_no_envelope_field() -> None:
    email = parse_post(fields_post([("headers", HEADERS)]))

    assert (email.envelope_from, email.envelope_to) == (None, ())


# --- SPF, DKIM, spam score, sender IP -------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"pass", "pass"),
        (b"PASS", "pass"),
        (b" Pass \r\n", "pass"),
        (b"fail", "fail"),
        (b"softfail", "softfail"),
        (b"neutral", "neutral"),
        (b"none", "none"),
        (b"temperror", "temperror"),
        (b"permerror", "permerror"),
    ],
)
def test_spf_values(value: bytes, expected: str) -> None:
    email = parse_with(("SPF", value))

    assert email.auth.spf == expected
    assert email.defects == ()


@pytest.mark.parametrize("value", [b"maybe", b"pass; but forged", b"\xff", b"passed"])
def test_unknown_spf_values_are_not_trusted(value: bytes) -> None:
    email = parse_with(("SPF", value))

    assert email.auth.spf is None
    assert "SPF field has an unknown value" in email.defects


def test_no_spf_field_or_an_empty_one() -> None:
    assert parse_with().auth.spf is None
    email = parse_with(("SPF", b""))
    assert email.auth.spf is None
    assert email.defects == ()


def test_spf_is_read_only_from_the_upper_case_field() -> None:
    assert parse_with(("spf", b"pass")).auth.spf is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{@example.com : pass}", (DkimResult(domain="example.com", result="pass"),)),
        ("{@Example.COM : PASS}", (DkimResult(domain="example.com", result="pass"),)),
        (
            "{@a.example : pass, @b.example : fail}",
            (
                DkimResult(domain="a.example", result="pass"),
                DkimResult(domain="b.example", result="fail"),
            ),
        ),
        ("{}", ()),
        ("none", ()),
        ("", ()),
    ],
)
def test_dkim_field(value: str, expected: tuple[DkimResult, ...]) -> None:
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == expected
    assert defects == []


@pytest.mark.parametrize(
    "value",
    [
        "{@example.com : pass, garbage}",
        '{"example.com": "pass"}',
        "{@example.com : pass} trailing",
        "pass",
        "{@evil.test : pass @example.com : pass}",
        "example.com:pass",  # no braces, no `@`: not SendGrid's shape
    ],
)
def test_a_dkim_field_not_understood_trusts_nothing(value: str) -> None:
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == ()
    assert defects == ["dkim field not understood; no DKIM result trusted"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", 1.5),
        ("0", 0.0),
        ("-0.5", -0.5),
        (" 2.0 \r\n", 2.0),
        ("12", 12.0),
        ("garbage", None),
        ("", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-Infinity", None),
        ("1e400", None),
        ("1.5 points", None),
    ],
)
def test_spam_score(value: str, expected: float | None) -> None:
    email = parse_post(raw_mode_post(make_eml(), Transport(spam_score=value)))

    assert email.auth.spam_score == expected


def test_a_missing_spam_score_is_none() -> None:
    email = parse_post(raw_mode_post(make_eml(), Transport(spam_score=None)))

    assert email.auth.spam_score is None


def test_sender_ip_and_auth_in_raw_mode() -> None:
    email = inbound(
        make_eml(), Transport(spf="pass", dkim="{@example.com : pass}", sender_ip="203.0.113.9")
    )

    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="example.com", result="pass"),)
    assert email.auth.sender_ip == "203.0.113.9"


@pytest.mark.parametrize("name", ["SPF", "dkim"])
def test_duplicated_auth_fields_mean_no_auth_result_is_trusted(name: str) -> None:
    value = b"pass" if name == "SPF" else b"{@example.com : pass}"
    post = fields_post([*Transport(spf="pass").fields(), (name, value), ("email", make_eml())])
    email = parse_post(post)

    assert email.auth.spf is None
    assert email.auth.dkim == ()
    assert f"duplicate form field {name}" in email.defects
    # What is not about the sender's identity is kept.
    assert email.auth.spam_score == 0.1
    assert email.auth.sender_ip == "203.0.113.10"


@pytest.mark.parametrize("name", ["email", "from", "headers", "envelope"])
def test_other_duplicated_fields_also_distrust_auth(name: str) -> None:
    value = make_eml() if name == "email" else b"From: a@example.com"
    parts = [(name, value) for _ in range(2) if name != "email"]
    post = fields_post([*Transport().fields(), ("email", make_eml()), (name, value), *parts])
    email = parse_post(post)

    assert f"duplicate form field {name}" in email.defects
    assert (email.auth.spf, email.auth.dkim) == (None, ())


def test_single_auth_fields_are_trusted() -> None:
    email = parse_post(raw_mode_post(make_eml()))

    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="example.com", result="pass"),)
    assert not any(d.startswith("duplicate") for d in email.defects)


# --- raw mode: the email itself -------------------------------------------------------------


def test_raw_mode_email() -> None:
    email = inbound(make_eml(), Transport(envelope_from="Bounce@Example.com"))

    assert email.message_id == "<msg-1@example.com>"
    assert email.from_header == "Sara Ahmadi <sara@example.com>"
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "Where is my order #1001?"
    assert email.text == "Hi, where is my order #1001?\n\nThanks, Sara\n"
    assert email.date == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert [m.address for m in email.to] == ["support@shop.test"]
    assert email.envelope_from == "bounce@example.com"


def test_raw_mode_ignores_the_summary_fields_sendgrid_adds() -> None:
    eml = make_eml(subject="The real subject", sender="Real <real@example.com>")
    post = fields_post(
        [
            *Transport().fields(),
            ("email", eml),
            ("subject", b"A forged summary subject"),
            ("from", b"Forged <forged@evil.test>"),
        ]
    )
    email = parse_post(post)

    assert email.subject == "The real subject"
    assert email.from_header == "Real <real@example.com>"


def test_a_cr_only_raw_email_keeps_its_message_id_and_sender() -> None:
    eml = b"\r".join(
        [
            b"Subject: old Mac mail",
            b"From: Sara <sara@example.com>",
            b"Message-ID: <cr-only@example.com>",
            b"",
            b"body line\rsecond line",
        ]
    )
    email = parse_post(with_transport(("email", eml)))

    assert email.message_id == "<cr-only@example.com>"
    assert email.has_synthetic_message_id is False
    assert email.from_header == "Sara <sara@example.com>"
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "old Mac mail"


def test_two_from_headers_give_no_single_sender() -> None:
    eml = (
        b"From: Sara <sara@example.com>\r\nSubject: hi\r\nFrom: Other <other@evil.test>\r\n"
        b"\r\nhello\r\n"
    )
    email = parse_post(with_transport(("email", eml)))

    assert email.header_values("from") == ["Sara <sara@example.com>", "Other <other@evil.test>"]
    assert email.from_ is None


def test_a_folded_from_header_is_unfolded() -> None:
    eml = b"From: Sara Ahmadi\r\n <sara@example.com>\r\nMessage-ID: <f@x>\r\n\r\nhi\r\n"
    email = parse_post(with_transport(("email", eml)))

    assert email.from_header == "Sara Ahmadi <sara@example.com>"
    assert email.from_ is not None


def test_in_reply_to_and_references() -> None:
    eml = (
        b"From: Sara <sara@example.com>\r\n"
        b"Message-ID: <m3@example.com>\r\n"
        b"In-Reply-To: <reply-2@shop.test>\r\n"
        b"References: <order-1@shop.test> <reply-1@shop.test>\r\n"
        b" <reply-2@shop.test> <order-1@shop.test>\r\n"
        b"\r\nhello\r\n"
    )
    email = parse_post(with_transport(("email", eml)))

    assert email.in_reply_to == ("<reply-2@shop.test>",)
    assert email.references == (
        "<order-1@shop.test>",
        "<reply-1@shop.test>",
        "<reply-2@shop.test>",
    )


def test_in_reply_to_and_references_in_parsed_mode() -> None:
    headers = (
        HEADERS
        + b"In-Reply-To:\r\n <r2@shop.test>\r\n"
        + b"References: junk <r1@shop.test>\r\n\t<r2@shop.test>\r\n"
    )
    email = parse_post(fields_post(parsed_fields(headers=headers)))

    assert email.in_reply_to == ("<r2@shop.test>",)
    assert email.references == ("<r1@shop.test>", "<r2@shop.test>")


def test_no_in_reply_to_or_references() -> None:
    email = inbound(make_eml())

    assert (email.in_reply_to, email.references) == ((), ())


# --- attachments ----------------------------------------------------------------------------


def test_raw_mode_attachment_metadata() -> None:
    message = EmailMessage()
    message["From"] = "Customer <customer@example.com>"
    message["To"] = "support@shop.test"
    message["Message-ID"] = "<att@example.com>"
    message.set_content("see attached")
    message.add_alternative("<p>see attached <img src='cid:logo@example.com'></p>", subtype="html")
    message.add_attachment(
        b"%PDF-1.4\x00\x01", maintype="application", subtype="pdf", filename="/etc/passwd"
    )
    message.add_attachment(
        b"0123456789", maintype="application", subtype="octet-stream", filename="..\\x"
    )
    message.add_attachment(
        b"MZ", maintype="application", subtype="octet-stream", filename="..\\..\\windows\\evil.exe"
    )
    message.add_attachment(b"hidden", maintype="text", subtype="plain", filename=".htaccess")
    message.add_attachment(
        b"\x89PNG\r\n",
        maintype="image",
        subtype="png",
        filename="logo.png",
        disposition="inline",
        cid="<logo@example.com>",
    )
    email = inbound(message.as_bytes())

    assert email.text == "see attached\n"
    summary = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in email.attachments
    ]
    assert summary == [
        ("passwd", "application/pdf", 10, None, False),
        ("x", "application/octet-stream", 10, None, False),
        ("evil.exe", "application/octet-stream", 2, None, False),
        ("htaccess", "text/plain", 6, None, False),
        ("logo.png", "image/png", 6, "logo@example.com", True),
    ]


def test_a_raw_mode_fixture_with_a_forwarded_bounce() -> None:
    body = payload("sendgrid/raw_forwarded_bounce.form")
    post = SendGridPost(body, "multipart/form-data; boundary=xYzZY-raw-fixture-42")
    email = parse_post(post)

    assert email.message_id == "<fwd-1001@customer.example>"
    assert email.subject == "Fwd: Undelivered Mail Returned to Sender"
    assert email.from_header == "Sara Ahmadi <sara@customer.example>"
    assert email.from_ is not None
    assert email.from_.address == "sara@customer.example"
    assert email.in_reply_to == ("<reply-7@shop.test>",)
    assert email.references == ("<order-1001@shop.test>", "<reply-7@shop.test>")
    assert email.text == (
        "Hi, my reply to you bounced \u2014 see the attached message. Where is order #1001?\nSara\n"
    )
    summary = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in email.attachments
    ]
    assert summary[:3] == [
        ("logo.png", "image/png", 16, "sig-logo@customer.example", True),
        ("passwd", "application/pdf", 15, None, False),
        ("system.ini", "application/octet-stream", 10, None, False),
    ]
    assert summary[3][:2] == ("returned.eml", "message/rfc822")
    assert summary[3][2] > len("INNER DELIVERY REPORT")
    # Nothing of the nested bounce leaks into the outer email.
    assert email.header("auto-submitted") is None
    assert email.header("precedence") is None
    assert [name for name, value in email.headers if "relay.example" in value] == []
    assert "INNER" not in email.text + email.html + email.clean_text
    assert email.auth.spf == "pass"
    assert email.auth.spam_score == 1.2
    assert email.defects == ()


def test_a_nested_message_does_not_leak_into_the_outer_email() -> None:
    inner = EmailMessage()
    inner["From"] = "MAILER-DAEMON <mailer-daemon@relay.example>"
    inner["Subject"] = "Inner subject"
    inner["Auto-Submitted"] = "auto-replied"
    inner["Message-ID"] = "<inner@relay.example>"
    inner["In-Reply-To"] = "<inner-parent@relay.example>"
    inner.set_content("INNER BODY")
    inner.add_alternative("<p>INNER HTML</p>", subtype="html")
    outer = EmailMessage()
    outer["From"] = "Customer <customer@example.com>"
    outer["Subject"] = "Outer subject"
    outer["Message-ID"] = "<outer@example.com>"
    outer.set_content("outer text")
    outer.add_attachment(inner)

    email = inbound(outer.as_bytes())

    assert email.subject == "Outer subject"
    assert email.from_header == "Customer <customer@example.com>"
    assert email.header("auto-submitted") is None
    assert email.header_values("from") == ["Customer <customer@example.com>"]
    assert email.in_reply_to == ()
    assert email.message_id == "<outer@example.com>"
    assert email.text == "outer text\n"
    assert email.html == ""
    assert "INNER" not in email.clean_text
    assert [a.content_type for a in email.attachments] == ["message/rfc822"]


def test_parsed_mode_attachments_use_attachment_info_and_content_ids() -> None:
    info = {
        "attachment2": {"filename": "image.png", "type": "image/png", "content-id": "abc123"},
        "attachment1": {"filename": "test.txt", "type": "text/plain", "charset": "UTF-8"},
        "attachment3": {"filename": "\\share\\mail\\forwarded.msg", "type": "message/rfc822"},
    }
    post = fields_post(
        [
            *parsed_fields(),
            ("attachments", b"3"),
            ("attachment-info", json.dumps(info).encode()),
            ("content-ids", b'{"abc123": "attachment2"}'),
            FilePart("attachment1", "test.txt", "text/plain", b"test attachment"),
            FilePart("attachment2", "image.png", "image/png", b"\x89PNG" + b"\x00" * 20),
            FilePart(
                "attachment3",
                "\\share\\mail\\forwarded.msg",
                "message/rfc822",
                b"From: x\r\n\r\nhi!",
            ),
        ]
    )
    email = parse_post(post)

    summary = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in email.attachments
    ]
    assert summary == [
        ("test.txt", "text/plain", 15, None, False),
        ("image.png", "image/png", 24, "abc123", True),
        ("forwarded.msg", "message/rfc822", 14, None, False),
    ]


def test_parsed_mode_attachments_without_attachment_info_use_the_part() -> None:
    post = fields_post(
        [
            *parsed_fields(),
            FilePart("attachment1", "../../invoice.pdf", "application/pdf", b"%PDF-1.4"),
        ]
    )
    email = parse_post(post)

    assert [(a.filename, a.content_type, a.size) for a in email.attachments] == [
        ("invoice.pdf", "application/pdf", 8)
    ]


HOSTILE_NAMES = [
    "",
    "path\\",
    ".",
    "path\\.",
    "..",
    "path\\..",
    "path/..",
    "/etc/passwd",
    "../static/index.html",
    "\\\\share\\mail\\forwarded.msg",
    "..\\..\\..\\windows\\win.ini",
    "C:\\boot.ini",
    ". .ssh",
    "a\x00b/../c\r\n.txt",
]


def test_hostile_parsed_mode_filenames_never_produce_path_components() -> None:
    info = {
        f"attachment{i}": {"filename": name, "type": "text/pdf"}
        for i, name in enumerate(HOSTILE_NAMES, 1)
    }
    files = [
        FilePart(f"attachment{i}", "x", "text/pdf", b"content")
        for i in range(1, len(HOSTILE_NAMES) + 1)
    ]
    post = fields_post([*parsed_fields(), ("attachment-info", json.dumps(info).encode()), *files])
    email = parse_post(post)

    names = [a.filename for a in email.attachments]
    assert len(names) == len(HOSTILE_NAMES)
    for name in names:
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert "\x00" not in name
        assert "\n" not in name
    assert names[HOSTILE_NAMES.index("/etc/passwd")] == "passwd"
    assert names[HOSTILE_NAMES.index("../static/index.html")] == "index.html"
    assert names[HOSTILE_NAMES.index("path\\")] == ""


def test_hostile_part_filenames_without_attachment_info() -> None:
    files = [
        FilePart(f"attachment{i}", name.replace('"', ""), "text/pdf", b"c")
        for i, name in enumerate(HOSTILE_NAMES[:-1], 1)
    ]
    email = parse_post(fields_post([*parsed_fields(), *files]))

    for attachment in email.attachments:
        assert "/" not in attachment.filename
        assert "\\" not in attachment.filename
        assert not attachment.filename.startswith(".")


@pytest.mark.parametrize(
    ("info", "content_ids"),
    [
        (b'{"attachment9": {"filename": "missing.pdf", "type": "application/pdf"}}', b""),
        (b'{"attachment1": {"filename": 5, "type": ["x"], "content-id": 7}}', b""),
        (b'{"attachment1": "not an object"}', b'{"cid": 5, "other": ["a"]}'),
        (b"[]", b'"string"'),
        (b"{broken", b"{broken"),
        (b"[" * 50_000 + b"]" * 50_000, b"[" * 50_000 + b"]" * 50_000),
        (b"", b'{"cid-for-missing": "attachment9"}'),
    ],
)
def test_odd_attachment_info_does_not_crash(info: bytes, content_ids: bytes) -> None:
    post = fields_post(
        [
            *parsed_fields(),
            ("attachment-info", info),
            ("content-ids", content_ids),
            FilePart("attachment1", "real.pdf", "application/pdf", b"%PDF"),
        ]
    )
    email = parse_post(post)

    assert len(email.attachments) == 1
    attachment = email.attachments[0]
    assert attachment.filename == "real.pdf"
    assert attachment.size == 4
    assert attachment.is_inline is False


# --- unusable emails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eml", "message"),
    [
        (b"", "empty email field"),
        (b"   \r\n\t\r\n", "empty email field"),
        (b"just a body without any header\r\n\r\nmore body", "no header section"),
        (b"\r\n\r\nbody after an empty header section", "no header section"),
        (b"\r\nBody: that only looks like a header", "no header section"),
    ],
)
def test_an_unusable_raw_email_raises_unusable_email(eml: bytes, message: str) -> None:
    with pytest.raises(UnusableEmail, match=message):
        parse_post(with_transport(("email", eml)))


@pytest.mark.parametrize(
    "parts",
    [
        [("headers", b""), ("text", b"")],
        [("headers", b"   \r\n"), ("from", b"")],
        [("attachments", b"0")],
    ],
)
def test_parsed_mode_with_no_headers_sender_or_content_raises_unusable_email(
    parts: list[tuple[str, bytes] | FilePart],
) -> None:
    with pytest.raises(UnusableEmail, match="no headers, sender or content"):
        parse_post(with_transport(*parts))


@pytest.mark.parametrize(
    "parts",
    [
        [("text", b"only a body")],
        [("headers", b""), ("text", b"body")],
        [("subject", b"hi"), ("html", b"<p>hi</p>")],
        [("headers", b""), FilePart("attachment1", "a.txt", "text/plain", b"x")],
    ],
)
def test_parsed_mode_content_without_a_sender_is_kept_for_staff(
    parts: list[tuple[str, bytes] | FilePart],
) -> None:
    email = parse_post(with_transport(*parts))
    assert email.from_ is None
    assert email.from_header == ""


def test_parsed_mode_with_only_a_from_field_is_usable() -> None:
    email = parse_post(with_transport(("from", b"Sara <sara@example.com>"), ("text", b"hi")))

    assert email.from_header == "Sara <sara@example.com>"
    assert email.has_synthetic_message_id is True


def test_parsed_mode_with_headers_but_no_from_is_usable() -> None:
    email = parse_post(with_transport(("headers", b"Subject: hi\r\n"), ("text", b"hi")))

    assert email.from_header == ""
    assert email.from_ is None
    assert email.subject == "hi"


def test_unusable_email_is_a_value_error() -> None:
    assert issubclass(UnusableEmail, ValueError)


# --- the worker's entry point ---------------------------------------------------------------


def test_parse_stored_delivery_matches_the_two_step_parse() -> None:
    post = raw_mode_post(make_eml())
    delivery = delivery_of(post)

    stored = parse_stored_delivery(post.body, post.content_type, delivery, max_parts=100)

    assert stored == inbound_from_post(post)


def test_parse_stored_delivery_refuses_a_broken_body() -> None:
    post = raw_mode_post(make_eml())
    delivery = delivery_of(post)

    with pytest.raises(FormDataError):
        parse_stored_delivery(post.body[:-30], post.content_type, delivery, max_parts=100)


def test_the_stored_delivery_keys_are_used_as_given() -> None:
    post = raw_mode_post(make_eml(message_id=None))
    delivery = Delivery(FORMAT_RAW, "0" * 64, "<kept@example.com>", False)

    email = parse_stored_delivery(post.body, post.content_type, delivery, max_parts=100)

    assert (email.message_id, email.has_synthetic_message_id) == ("<kept@example.com>", False)


def test_random_field_values_give_an_email_or_unusable_email_only() -> None:
    rng = random.Random(2026)
    names = ["headers", "from", "subject", "text", "html", "charsets", "envelope", "SPF", "dkim"]
    names += ["spam_score", "attachment-info", "content-ids", "sender_ip", "email"]
    snippets = [
        b"From: a@example.com\r\n",
        b"Message-ID: <x@y>\r\n",
        b"=?utf-8?q?=00=0D=0A?=",
        b'{"text": "cp850", "from": "\\u0000"}',
        b'{"from": "", "to": ["a@b"]}',
        b"{@example.com : pass}",
        b"\x00\xff\xfe\r\n\t",
        b"[[[[",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
    ]
    for _ in range(150):
        parts: list[tuple[str, bytes] | FilePart] = []
        for _ in range(rng.randint(1, 8)):
            value = b"".join(rng.choice(snippets) for _ in range(rng.randint(0, 4)))
            value += rng.randbytes(rng.randint(0, 8))
            parts.append((rng.choice(names), value))
        form = form_of(fields_post(parts))
        delivery = read_delivery(form)
        try:
            email = parse_delivery(form, delivery)
        except UnusableEmail:
            continue
        for text in (email.subject, email.text, email.html, email.from_header, email.clean_text):
            assert "\x00" not in text
            text.encode("utf-8")
        for _, header_value in email.headers:
            assert "\x00" not in header_value
            assert "\n" not in header_value


# --- address headers the stdlib parses recursively ------------------------------------------


@pytest.mark.parametrize("depth", [900, 5000])
@pytest.mark.parametrize("name", [b"From", b"To", b"Cc", b"Reply-To"])
def test_address_headers_with_deeply_nested_comments_do_not_raise(name: bytes, depth: int) -> None:
    nested = b"(" * depth + b")" * depth + b" x@example.com"
    headers = b"Subject: s\r\nMessage-ID: <n@example.com>\r\n" + name + b": " + nested + b"\r\n"
    if name != b"From":
        headers += b"From: Sara <sara@example.com>\r\n"
    for post in (
        with_transport(("email", headers + b"\r\nbody\r\n")),
        with_transport(("headers", headers), ("text", b"body")),
    ):
        email = parse_post(post)

        assert email.subject == "s"
        assert email.message_id == "<n@example.com>"
        if name == b"From":
            assert email.from_ is None
        else:
            assert email.from_ is not None
            assert email.from_.address == "sara@example.com"
