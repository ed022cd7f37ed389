"""parse_mime and its helpers: raw RFC 5322 / MIME bytes, parsed with the stdlib, never raising."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from email import policy
from typing import Any

import pytest

from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.mime import (
    ParsedMime,
    content_checksum,
    find_message_id,
    first_header,
    header_block,
    parse_header_block,
    parse_message_ids,
    parse_mime,
    synthetic_message_id,
)
from tests.builders import make_eml

MAX_MIME_DEPTH = MimeCeilings().max_depth


def eml(*lines: bytes | str, body: bytes | str = b"Hello.\r\n", sep: bytes = b"\r\n") -> bytes:
    """Assemble a message from header lines and a body, with the given line separator."""
    encoded = [line.encode() if isinstance(line, str) else line for line in lines]
    raw_body = body.encode() if isinstance(body, str) else body
    return sep.join(encoded) + sep + sep + raw_body


def multipart(boundary: str, *parts: bytes, subtype: str = "mixed") -> bytes:
    """A multipart body (without the outer headers): each part is headers + blank line + body."""
    chunks = [b"--%s\r\n%s\r\n" % (boundary.encode(), part) for part in parts]
    return b"".join(chunks) + b"--%s--\r\n" % boundary.encode()


def storable(parsed: ParsedMime) -> list[str]:
    """Every text the parser produced."""
    values = [parsed.subject, parsed.text, parsed.html, parsed.content_type]
    values += [name for name, _ in parsed.headers] + [value for _, value in parsed.headers]
    values += [a.filename for a in parsed.attachments] + [
        a.content_type for a in parsed.attachments
    ]
    values += [a.content_id for a in parsed.attachments if a.content_id is not None]
    return values


def assert_storable(parsed: ParsedMime) -> None:
    for value in storable(parsed):
        assert "\x00" not in value
        value.encode("utf-8")  # strict: no lone surrogates
        assert not any(
            ord(ch) < 0x20 and ch not in "\t\r\n" or 0x7F <= ord(ch) <= 0x9F for ch in value
        ), value


# --- the basics -----------------------------------------------------------------------------


def test_a_simple_message() -> None:
    parsed = parse_mime(make_eml())

    assert first_header(parsed.headers, "from") == "Sara Ahmadi <sara@example.com>"
    assert first_header(parsed.headers, "to") == "support@shop.test"
    assert first_header(parsed.headers, "message-id") == "<msg-1@example.com>"
    assert parsed.subject == "Where is my order #1001?"
    assert parsed.date == datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    assert parsed.content_type == "text/plain"
    assert parsed.text == "Hi, where is my order #1001?\n\nThanks, Sara\n"
    assert parsed.html == ""
    assert parsed.attachments == []
    assert parsed.defects == []


def test_headers_keep_their_order_and_duplicates() -> None:
    raw = eml(
        "Received: from a by b",
        "Received: from c by d",
        "From: a@example.com",
        "Subject: hi",
    )
    parsed = parse_mime(raw)

    assert parsed.headers == [
        ("Received", "from a by b"),
        ("Received", "from c by d"),
        ("From", "a@example.com"),
        ("Subject", "hi"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sun, 22 Nov 2026 10:00:00 +0100", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
        ("Sun, 22 Nov 2026 09:00:00 GMT", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
        ("Sun, 22 Nov 2026 09:00:00 -0000", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
        ("Sun, 22 Nov 2026 09:00:00", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),  # no zone
        ("22 Nov 26 04:00 EST", datetime(2026, 11, 22, 9, 0, tzinfo=UTC)),
        ("not a date", None),
        ("Fri, 31 Dec 9999 23:59:59 -0100", None),  # past the end of the calendar in UTC
        ("Sun, 22 Nov 2026 09:00:00 +9999", None),
        ("Sun, 22 Nov 99999 09:00:00 +0000", None),
        ("Sun, 99 Nov 2026 99:00:00 +0100", None),
        ("", None),
    ],
)
def test_dates_are_utc_or_none(value: str, expected: datetime | None) -> None:
    parsed = parse_mime(eml("From: a@example.com", f"Date: {value}"))

    assert parsed.date == expected
    if parsed.date is not None:
        assert parsed.date.tzinfo is not None


def test_no_date_header_is_none() -> None:
    assert parse_mime(eml("From: a@example.com")).date is None


# --- RFC 2047 / RFC 2231 / RFC 6532 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "Gr\u00fc\u00dfe"),
        ("=?utf-8?q?Como_usted_pidi=C3=B3?=", "Como usted pidi\u00f3"),
        ("=?UTF-8?B?R3LDvMOfZQ==?=", "Gr\u00fc\u00dfe"),
        ("=?ISO-8859-1?Q?Devoluci=F3n?=", "Devoluci\u00f3n"),
        ("=?cp850?q?Como_usted_pidi=A2?=", "Como usted pidi\u00f3"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
        (
            "=?UTF-8?B?R3LDvMOfZQ==?= aus =?ISO-8859-1?Q?K=F6ln?=",
            "Gr\u00fc\u00dfe aus K\u00f6ln",
        ),
        ("=?UTF-8?Q?Gr=C3=BC?= =?UTF-8?B?w59l?=", "Gr\u00fc\u00dfe"),  # adjacent: no space
        (
            "Re: =?utf-8?b?0J/RgNC40LLQtdGC?= again",
            "Re: \u041f\u0440\u0438\u0432\u0435\u0442 again",
        ),
        ("=?utf-8?q?=F0=9F=98=80_emoji?=", "\U0001f600 emoji"),
    ],
)
def test_rfc2047_encoded_subjects_are_decoded(subject: str, expected: str) -> None:
    parsed = parse_mime(eml("From: a@example.com", f"Subject: {subject}"))

    assert parsed.subject == expected
    assert first_header(parsed.headers, "subject") == expected


def test_an_encoded_word_split_across_folded_lines_is_decoded() -> None:
    raw = eml(
        "From: a@example.com", "Subject: =?UTF-8?Q?Devoluci=C3=B3n_del?=\r\n =?UTF-8?Q?_pedido?="
    )

    assert parse_mime(raw).subject == "Devoluci\u00f3n del pedido"


@pytest.mark.parametrize(
    "subject",
    [
        "=?x-no-such-charset?q?abc=E9?=",
        "=?utf-8?b?!!!notbase64?=",
        "=?utf-8?q?broken=ZZ?=",
        "=?utf-8?q?invalid_utf8_=FF=FE?=",
        "=?utf-8?x?unknown-encoding?=",
        "=?",
        "=?utf-8?q?unterminated",
    ],
)
def test_broken_encoded_words_do_not_raise(subject: str) -> None:
    parsed = parse_mime(eml("From: a@example.com", f"Subject: {subject}"))

    assert first_header(parsed.headers, "subject") == parsed.subject
    assert parsed.subject  # something is kept for staff to read
    assert_storable(parsed)


def test_an_encoded_line_break_stays_on_one_line() -> None:
    # A decoded CR/LF inside a header value must never reach a reply's headers.
    parsed = parse_mime(
        eml("From: a@example.com", "Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@evil.test?=")
    )

    assert parsed.subject == "Hi Bcc: victim@evil.test"
    assert all("\r" not in value and "\n" not in value for _, value in parsed.headers)


def test_raw_utf8_in_headers_rfc6532_is_decoded() -> None:
    raw = eml(
        "From: Jos\u00e9 P\u00e9rez <jose@example.com>".encode(),
        "Subject: Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u0633\u0644\u0627\u0645".encode(),
        body="Hall\u00f6\r\n".encode(),
    )
    parsed = parse_mime(raw)

    assert parsed.subject == "Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u0633\u0644\u0627\u0645"
    assert first_header(parsed.headers, "from") == "Jos\u00e9 P\u00e9rez <jose@example.com>"
    assert "\ufffd" not in parsed.subject


def test_raw_latin1_in_a_header_does_not_raise() -> None:
    parsed = parse_mime(eml(b"From: a@example.com", b"Subject: Devoluci\xf3n urgente"))

    assert parsed.subject.startswith("Devoluci")
    assert parsed.subject.endswith("n urgente")
    assert_storable(parsed)


def attachment_filename(disposition: str, content_type: str = "application/pdf") -> str:
    raw = eml(
        "From: a@example.com",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="BB"',
        body=multipart(
            "BB",
            b"Content-Type: text/plain\r\n\r\nSee attached.",
            b"Content-Type: %s\r\nContent-Disposition: %s\r\nContent-Transfer-Encoding: base64"
            b"\r\n\r\nJVBERi0xLjQ=" % (content_type.encode(), disposition.encode()),
        ),
    )
    parsed = parse_mime(raw)
    assert parsed.text == "See attached."
    assert len(parsed.attachments) == 1
    return parsed.attachments[0].filename


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("attachment; filename*=iso-8859-1''R%E9sum%E9.pdf", "R\u00e9sum\u00e9.pdf"),
        ("attachment; filename*=UTF-8''%E2%82%AC%20invoice.pdf", "\u20ac invoice.pdf"),
        (
            "attachment;\r\n filename*0*=UTF-8''Gr%C3%BC%C3%9Fe%20;\r\n filename*1=aus.pdf",
            "Gr\u00fc\u00dfe aus.pdf",
        ),
        ("attachment; filename*=x-bogus''abc.pdf", "abc.pdf"),
        ('attachment; filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="', "R\u00e9sum\u00e9.pdf"),
        ('attachment; filename="plain.pdf"', "plain.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="..\\\\..\\\\boot.ini"', "boot.ini"),
        ('attachment; filename=".htaccess"', "htaccess"),
        ('attachment; filename="a\\"b.pdf"', 'a"b.pdf'),
    ],
)
def test_rfc2231_and_hostile_attachment_filenames(disposition: str, expected: str) -> None:
    assert attachment_filename(disposition) == expected


def test_the_content_type_name_parameter_is_a_filename_fallback() -> None:
    name = attachment_filename("attachment", 'application/pdf; name="from-type.pdf"')

    assert name == "from-type.pdf"


# --- bodies and charsets --------------------------------------------------------------------


def test_an_8bit_utf8_body_without_a_declared_charset_is_utf8() -> None:
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: 8bit",
        body="Gr\u00fc\u00dfe, der Artikel kostet 10 \u20ac\r\n".encode(),
    )
    assert parse_mime(raw).text == "Gr\u00fc\u00dfe, der Artikel kostet 10 \u20ac\r\n"


def test_an_8bit_utf8_body_without_any_mime_headers_is_utf8() -> None:
    raw = eml("From: a@example.com", body="Ol\u00e1, tudo bem? \u00e7\u00e3o".encode())

    assert parse_mime(raw).text == "Ol\u00e1, tudo bem? \u00e7\u00e3o"


def test_a_latin1_body_without_a_charset_is_decoded_by_the_fallback() -> None:
    spanish = "Hola, quiero hacer una devoluci\u00f3n del pedido porque lleg\u00f3 roto. Gracias"
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: 8bit",
        body=spanish.encode("latin-1"),
    )
    parsed = parse_mime(raw)

    assert parsed.text == spanish
    assert "\ufffd" not in parsed.text


def test_a_quoted_printable_latin1_body_without_a_charset_does_not_raise() -> None:
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain",
        "Content-Transfer-Encoding: quoted-printable",
        body=b"Caf=E9 cr=E8me br=FBl=E9e, s'il vous pla=EEt.",
    )
    parsed = parse_mime(raw)

    assert parsed.text.startswith("Caf")
    assert "cr" in parsed.text
    assert_storable(parsed)


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("windows-1252", "\u201cQuote\u201d \u2013 10 \u20ac"),
        ("iso-8859-1", "Gr\u00fc\u00dfe"),
        ("cp850", "Como usted pidi\u00f3"),
        ("koi8-r", "\u041f\u0440\u0438\u0432\u0435\u0442"),
        ("ks_c_5601-1987", "\uc548\ub155\ud558\uc138\uc694"),
        ('"UTF-8"', "Gr\u00fc\u00dfe"),
    ],
)
def test_a_declared_body_charset_is_honoured(charset: str, text: str) -> None:
    codec = {"ks_c_5601-1987": "cp949", '"UTF-8"': "utf-8"}.get(charset, charset)
    raw = eml(
        "From: a@example.com",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
        body=text.encode(codec),
    )
    assert parse_mime(raw).text == text


@pytest.mark.parametrize("charset", ["base64", "rot13", "undefined", "unknown-8bit", "x-bogus"])
def test_an_unusable_body_charset_falls_back_without_raising(charset: str) -> None:
    raw = eml(
        "From: a@example.com",
        f"Content-Type: text/plain; charset={charset}",
        "Content-Transfer-Encoding: 8bit",
        body="Gr\u00fc\u00dfe".encode(),
    )
    assert parse_mime(raw).text == "Gr\u00fc\u00dfe"


def test_nul_in_a_content_type_comes_out_storable() -> None:
    raw = eml(
        b"From: a@example.com",
        b'Content-Type: multipart/mixed; boundary="BB"',
        body=multipart(
            "BB",
            b"Content-Type: text/plain\r\n\r\nbody",
            b"Content-Type: application/p\x00df\r\nContent-Disposition: attachment\r\n\r\nx",
        ),
    )
    parsed = parse_mime(raw)

    assert [a.content_type for a in parsed.attachments] == ["application/pdf"]
    assert_storable(parsed)
    assert_storable(parse_mime(eml(b"From: a@example.com", b"Content-Type: text/pl\x00ain")))


def test_nul_and_control_characters_in_headers_and_body_come_out_storable() -> None:
    raw = eml(
        b"From: a@example.com",
        b"Subject: a\x00b\x07c\x1bd",
        b"X-Evil: \x00\x01\x02",
        b"X-Encoded: =?utf-8?q?nul=00here=7F_and=C2=85there?=",
        body=b"body\x00with\x08controls\tand tab\r\n",
    )
    parsed = parse_mime(raw)

    assert parsed.subject == "abcd"
    assert first_header(parsed.headers, "x-evil") == ""
    assert first_header(parsed.headers, "x-encoded") == "nulhere andthere"
    assert parsed.text == "bodywithcontrols\tand tab\r\n"
    assert_storable(parsed)


# --- line endings and folding ---------------------------------------------------------------


LINE_ENDING_MESSAGE = [
    b"From: Sara <sara@example.com>",
    b"To: support@shop.test",
    b"Subject: Where is",
    b" my order?",
    b"Message-ID:",
    b" <line-endings@example.com>",
    b"Content-Type: text/plain; charset=utf-8",
]


@pytest.mark.parametrize("sep", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"])
def test_crlf_lf_and_cr_only_line_endings_parse_alike(sep: bytes) -> None:
    raw = eml(*LINE_ENDING_MESSAGE, body=sep.join([b"line one", b"line two", b""]), sep=sep)
    parsed = parse_mime(raw)

    assert parsed.subject == "Where is my order?"
    assert first_header(parsed.headers, "from") == "Sara <sara@example.com>"
    assert first_header(parsed.headers, "message-id") == "<line-endings@example.com>"
    assert [name for name, _ in parsed.headers] == [
        "From",
        "To",
        "Subject",
        "Message-ID",
        "Content-Type",
    ]
    assert parsed.text.splitlines() == ["line one", "line two"]
    assert parsed.content_type == "text/plain"
    assert find_message_id(header_block(raw)) == "<line-endings@example.com>"


@pytest.mark.parametrize("sep", [b"\r\n", b"\n", b"\r"], ids=["crlf", "lf", "cr"])
def test_header_block_ends_at_the_first_empty_line(sep: bytes) -> None:
    raw = sep.join([b"From: a@example.com", b"Subject: hi", b"", b"Message-ID: <body@x>", b""])

    assert header_block(raw) == sep.join([b"From: a@example.com", b"Subject: hi"])
    assert find_message_id(header_block(raw)) is None


def test_folded_headers_are_unfolded_to_one_line() -> None:
    raw = eml(
        "From: a@example.com",
        "Subject: a very\r\n long\r\n\tsubject",
        "References: <r1@example.com>\r\n <r2@example.com>",
    )
    parsed = parse_mime(raw)

    assert parsed.subject == "a very long\tsubject"
    assert parse_message_ids(first_header(parsed.headers, "references")) == (
        "<r1@example.com>",
        "<r2@example.com>",
    )
    assert all("\r" not in value and "\n" not in value for _, value in parsed.headers)


# --- structure ------------------------------------------------------------------------------


def test_first_plain_and_first_html_are_picked_and_attachments_listed() -> None:
    raw = eml(
        "From: a@example.com",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="outer"',
        body=multipart(
            "outer",
            b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
            + multipart(
                "alt",
                b"Content-Type: text/plain; charset=utf-8\r\n\r\nfirst plain",
                b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>first html</p>",
            ),
            b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=notes.txt"
            b"\r\n\r\nattached notes",
            b"Content-Type: text/plain\r\n\r\nsecond plain",
            b"Content-Type: text/html\r\n\r\n<p>second html</p>",
            b"Content-Type: image/png\r\nContent-ID: <logo@shop.test>\r\n"
            b"Content-Disposition: inline; filename=logo.png\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=",
            b"Content-Type: image/gif\r\nContent-ID: <spacer@shop.test>\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh",
            b"Content-Type: application/pdf\r\nContent-ID: <doc@shop.test>\r\n"
            b'Content-Disposition: attachment; filename="invoice.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQ=",
        ),
    )
    parsed = parse_mime(raw)

    assert parsed.content_type == "multipart/mixed"
    assert parsed.text == "first plain"
    assert parsed.html == "<p>first html</p>"
    summary = [
        (a.filename, a.content_type, a.size, a.content_id, a.is_inline) for a in parsed.attachments
    ]
    assert summary == [
        ("notes.txt", "text/plain", len(b"attached notes"), None, False),
        ("", "text/plain", len(b"second plain"), None, False),
        ("", "text/html", len(b"<p>second html</p>"), None, False),
        ("logo.png", "image/png", 8, "logo@shop.test", True),
        ("", "image/gif", 6, "spacer@shop.test", True),
        ("invoice.pdf", "application/pdf", 8, "doc@shop.test", False),
    ]


def test_an_html_only_message_has_no_text() -> None:
    raw = eml("From: a@example.com", "Content-Type: text/html; charset=utf-8", body=b"<p>Hi</p>")
    parsed = parse_mime(raw)

    assert (parsed.text, parsed.html, parsed.content_type) == ("", "<p>Hi</p>", "text/html")


def test_a_top_level_attachment_is_not_the_body() -> None:
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain",
        'Content-Disposition: attachment; filename="body.txt"',
        body=b"not the body",
    )
    parsed = parse_mime(raw)

    assert parsed.text == ""
    assert [(a.filename, a.size) for a in parsed.attachments] == [("body.txt", 12)]


INNER_MESSAGE = (
    b"From: MAILER-DAEMON <mailer-daemon@relay.example>\r\n"
    b"Subject: Inner subject\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"List-Id: <list.example>\r\n"
    b"Message-ID: <inner@relay.example>\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"INNER BODY must not leak\r\n"
)


def test_a_nested_message_rfc822_stays_an_attachment() -> None:
    raw = eml(
        "From: Customer <customer@example.com>",
        "Subject: Fwd: look at this",
        'Content-Type: multipart/mixed; boundary="fwd"',
        body=multipart(
            "fwd",
            b"Content-Type: text/plain\r\n\r\nSee the forwarded mail.",
            b"Content-Type: message/rfc822\r\n\r\n" + INNER_MESSAGE,
        ),
    )
    parsed = parse_mime(raw)

    assert parsed.subject == "Fwd: look at this"
    assert first_header(parsed.headers, "from") == "Customer <customer@example.com>"
    assert first_header(parsed.headers, "auto-submitted") == ""
    assert first_header(parsed.headers, "list-id") == ""
    assert [name for name, _ in parsed.headers] == ["From", "Subject", "Content-Type"]
    assert parsed.text == "See the forwarded mail."
    assert "INNER" not in parsed.text + parsed.html
    assert [(a.content_type, a.size > len(b"INNER BODY")) for a in parsed.attachments] == [
        ("message/rfc822", True)
    ]


def test_a_nested_message_is_not_the_body_even_when_the_outer_has_none() -> None:
    raw = eml(
        "From: Customer <customer@example.com>",
        'Content-Type: multipart/mixed; boundary="fwd"',
        body=multipart("fwd", b"Content-Type: message/rfc822\r\n\r\n" + INNER_MESSAGE),
    )
    parsed = parse_mime(raw)

    assert parsed.text == ""
    assert parsed.html == ""
    assert parsed.subject == ""
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]


def nested_multiparts(depth: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return (
        b"From: a@example.com\r\nSubject: deep\r\n"
        + opening
        + b"Content-Type: text/plain\r\n\r\ndeepest text"
        + closing
    )


def test_nesting_up_to_the_limit_is_read() -> None:
    parsed = parse_mime(nested_multiparts(MAX_MIME_DEPTH))

    assert parsed.text == "deepest text"
    assert not any("too deep" in defect for defect in parsed.defects)


@pytest.mark.parametrize("depth", [MAX_MIME_DEPTH + 1, 200, 3000])
def test_nesting_past_the_ceiling_is_over_a_ceiling(depth: int) -> None:
    # Quarantined for staff by the worker; 3000 levels would also exhaust the parser's stack.
    with pytest.raises(OverCeiling, match="MIME_MAX_DEPTH"):
        parse_mime(nested_multiparts(depth))


def nested_messages(depth: int) -> bytes:
    inner = b"From: deepest@example.com\r\nSubject: deepest\r\n\r\ndeepest body\r\n"
    wrappers = b"".join(
        b"From: level%d@example.com\r\nContent-Type: message/rfc822\r\n\r\n" % i
        for i in range(depth)
    )
    return eml(
        "From: a@example.com",
        "Subject: outer",
        'Content-Type: multipart/mixed; boundary="Q"',
        body=multipart(
            "Q",
            b"Content-Type: text/plain\r\n\r\nouter text",
            b"Content-Type: message/rfc822\r\n\r\n" + wrappers + inner,
        ),
    )


def test_attached_messages_nested_within_the_ceiling_are_one_attachment() -> None:
    parsed = parse_mime(nested_messages(5))

    assert parsed.subject == "outer"
    assert first_header(parsed.headers, "from") == "a@example.com"
    assert parsed.text == "outer text"
    assert [a.content_type for a in parsed.attachments] == ["message/rfc822"]
    assert parsed.defects == []


@pytest.mark.parametrize("depth", [400, 3000])
def test_attached_messages_nested_past_the_ceiling_are_over_a_ceiling(depth: int) -> None:
    with pytest.raises(OverCeiling, match="MIME_MAX_DEPTH"):
        parse_mime(nested_messages(depth))


def test_a_broken_base64_attachment_does_not_raise_and_is_a_defect() -> None:
    raw = eml(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="BB"',
        body=multipart(
            "BB",
            b"Content-Type: text/plain\r\n\r\nThe body is fine.",
            b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="x.pdf"'
            b"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!% not base64 at all ===\r\n",
        ),
    )
    parsed = parse_mime(raw)

    assert parsed.text == "The body is fine."
    assert [a.filename for a in parsed.attachments] == ["x.pdf"]
    assert any("Base64" in defect for defect in parsed.defects)


@pytest.mark.parametrize(
    "payload",
    [b"R3LDvMOfZQ", b"R3LDvMOfZQ=", b"w6k=w6k", b"\xff\xfe\x00", b"====", b""],
)
def test_a_broken_base64_body_does_not_raise(payload: bytes) -> None:
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        body=payload,
    )
    parsed = parse_mime(raw)

    assert isinstance(parsed.text, str)
    assert_storable(parsed)


def test_a_missing_padding_is_tolerated_and_recorded() -> None:
    raw = eml(
        "From: a@example.com",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
        body=b"R3LDvMOfZQ",
    )
    parsed = parse_mime(raw)

    assert parsed.text == "Gr\u00fc\u00dfe"
    assert "InvalidBase64PaddingDefect" in parsed.defects


def test_a_multipart_without_its_boundary_does_not_raise() -> None:
    raw = eml(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="never-used"',
        body=b"just some text\r\n",
    )
    parsed = parse_mime(raw)

    assert parsed.content_type == "multipart/mixed"
    assert parsed.defects  # the stdlib's complaint is kept


def test_random_garbage_never_raises() -> None:
    rng = random.Random(99)
    seeds = [
        make_eml(),
        nested_multiparts(3),
        eml(b"From: a@example.com", b"Subject: =?utf-8?b?w6k=?=", body=b"\xff\x00body"),
    ]
    alphabet = b"\r\n:;=?\"'<>-\\\x00\xff\xc3 aZ09/"
    for _ in range(300):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            position = rng.randrange(len(raw))
            raw[position : position + rng.randint(0, 3)] = bytes(
                rng.choice(alphabet) for _ in range(rng.randint(0, 3))
            )
        assert_storable(parse_mime(bytes(raw)))


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "block"),
    [
        (b"From: a\r\nTo: b\r\n\r\nbody", b"From: a\r\nTo: b"),
        (b"From: a\nTo: b\n\nbody", b"From: a\nTo: b"),
        (b"From: a\rTo: b\r\rbody", b"From: a\rTo: b"),
        (b"From: a\r\nTo: b\n\nbody\r\n\r\nmore", b"From: a\r\nTo: b"),
        (b"From: a\r\nTo: b", b"From: a\r\nTo: b"),
        (b"From: a\r\n", b"From: a\r\n"),
        (b"\r\nbody: with a colon", b""),
        (b"\nbody", b""),
        (b"", b""),
    ],
)
def test_header_block(raw: bytes, block: bytes) -> None:
    assert header_block(raw) == block


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (b"Message-ID: <abc@example.com>", "<abc@example.com>"),
        (b"Message-Id: <abc@example.com>", "<abc@example.com>"),
        (b"MESSAGE-ID:<abc@example.com>", "<abc@example.com>"),
        (b"message-id \t: <abc@example.com>  ", "<abc@example.com>"),
        (b"Subject: x\r\nMessage-ID:\r\n <folded@example.com>\r\nTo: y", "<folded@example.com>"),
        (b"Subject: x\nMessage-ID:\n\t<lf-folded@example.com>\nTo: y", "<lf-folded@example.com>"),
        (b"Subject: x\rMessage-ID:\r <cr-folded@example.com>\rTo: y", "<cr-folded@example.com>"),
        (b"Message-ID: <a@x> <b@x>", "<a@x>"),
        (b"Message-ID: junk before <a@x>", "<a@x>"),
        (b"Message-ID: (comment) <a@x>", "<a@x>"),
        (b"Message-ID: <first@x>\r\nMessage-ID: <second@x>", "<first@x>"),
        (b"Message-ID: <split\r\n @x>", "<split@x>"),
        (b"Message-ID: <\xc3\xa9@x>", "<\u00c3\u00a9@x>"),
        (b"Message-ID: <" + b"a" * 980 + b"@x>", "<" + "a" * 980 + "@x>"),
    ],
)
def test_find_message_id(headers: bytes, expected: str) -> None:
    assert find_message_id(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        b"",
        b"Subject: no id here",
        b"Message-ID:",
        b"Message-ID:   ",
        b"Message-ID: <>",
        b"Message-ID: abc@example.com",
        b"Message-ID: <abc@example.com",
        b"X-Message-ID: <x@example.com>",
        b"Resent-Message-ID: <r@example.com>",
        b"Original-Message-ID: <o@example.com>",
        b"Subject: x\r\n Message-ID: <continuation@example.com>",
        b"Message-ID: <" + b"a" * 2000 + b"@x>",
    ],
)
def test_find_message_id_none(headers: bytes) -> None:
    assert find_message_id(headers) is None


def test_find_message_id_in_a_header_block_ignores_the_body() -> None:
    raw = b"From: a@example.com\r\n\r\nMessage-ID: <in-body@example.com>\r\n"

    assert find_message_id(header_block(raw)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ()),
        ("", ()),
        ("   ", ()),
        ("<a@x>", ("<a@x>",)),
        ("<a@x> <b@x>", ("<a@x>", "<b@x>")),
        ("<a@x>,<b@x>", ("<a@x>", "<b@x>")),
        ("<a@x>\r\n\t<b@x>\r\n <c@x>", ("<a@x>", "<b@x>", "<c@x>")),
        ("<a@x> <b@x> <a@x>", ("<a@x>", "<b@x>")),
        ("<b@x> <a@x>", ("<b@x>", "<a@x>")),
        ("garbage <a@x> (comment) more garbage", ("<a@x>",)),
        ("<> <a@x>", ("<a@x>",)),
        ("no ids at all", ()),
        ("a@x", ()),
    ],
)
def test_parse_message_ids(value: str | None, expected: tuple[str, ...]) -> None:
    assert parse_message_ids(value) == expected


def test_synthetic_message_id_and_checksum() -> None:
    data = b"From: a@example.com\r\n\r\nno id"
    checksum = content_checksum(data)

    assert checksum == hashlib.sha256(data).hexdigest()
    assert synthetic_message_id(checksum) == f"<{checksum}@checksum.invalid>"
    assert find_message_id(b"Message-ID: " + synthetic_message_id(checksum).encode()) == (
        synthetic_message_id(checksum)
    )
    assert content_checksum(data + b" ") != checksum


@pytest.mark.parametrize("sep", [b"\r\n", b"\n"])
def test_parse_header_block(sep: bytes) -> None:
    block = sep.join(
        [
            b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.com>",
            b"Subject: =?cp850?q?Como_usted_pidi=A2?=",
            b"References: <a@x>",
            b" <b@x>",
        ]
    )
    for variant in (block, block + sep, block + sep + sep):
        headers = parse_header_block(variant)
        assert headers == [
            ("From", "Jos\u00e9 <jose@example.com>"),
            ("Subject", "Como usted pidi\u00f3"),
            ("References", "<a@x> <b@x>"),
        ]


def test_parse_header_block_of_nothing_is_empty() -> None:
    assert parse_header_block(b"") == []


def test_first_header_is_case_insensitive_on_the_stored_name_only() -> None:
    headers = [("Subject", "one"), ("SUBJECT", "two"), ("X-A", "")]

    assert first_header(headers, "subject") == "one"
    assert first_header(headers, "x-a") == ""
    assert first_header(headers, "missing") == ""


# --- structured headers the stdlib parses recursively ---------------------------------------

NESTED_COMMENT = b"(" * 5000 + b")" * 5000


def test_a_content_type_with_deeply_nested_comments_keeps_the_headers() -> None:
    raw = eml(
        b"From: a@example.com",
        b"Subject: still here",
        b"Content-Type: multipart/mixed; boundary=x " + NESTED_COMMENT,
        body=b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
    )
    parsed = parse_mime(raw)

    assert parsed.subject == "still here"
    assert first_header(parsed.headers, "from") == "a@example.com"
    assert parsed.content_type == "text/plain"  # the default, as nothing else can be read
    assert "MIME nesting too deep to parse; body ignored" in parsed.defects
    assert "header Content-Type: RecursionError" in parsed.defects


def test_a_part_header_with_deeply_nested_comments_skips_only_that_part() -> None:
    raw = eml(
        b"From: a@example.com",
        b'Content-Type: multipart/mixed; boundary="BB"',
        body=multipart(
            "BB",
            b"Content-Type: text/plain\r\n\r\nThe body is fine.",
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment; "
            + NESTED_COMMENT
            + b"\r\n\r\nx",
            b'Content-Type: image/png\r\nContent-Disposition: attachment; filename="ok.png"'
            b"\r\n\r\npng",
        ),
    )
    parsed = parse_mime(raw)

    assert parsed.text == "The body is fine."
    assert [a.filename for a in parsed.attachments] == ["ok.png"]
    assert "MIME part header nested too deep; part ignored" in parsed.defects


@pytest.mark.parametrize("name", [b"From", b"To", b"Message-ID", b"MIME-Version", b"Date"])
def test_other_headers_with_deeply_nested_comments_do_not_raise(name: bytes) -> None:
    parsed = parse_mime(eml(b"Subject: s", name + b": " + NESTED_COMMENT + b" a@example.com"))

    assert parsed.subject == "s"
    assert [n for n, _ in parsed.headers] == ["Subject", name.decode()]


def test_parse_header_block_with_deeply_nested_comments_does_not_raise() -> None:
    headers = parse_header_block(
        b"Subject: s\r\nContent-Type: text/plain; " + NESTED_COMMENT + b"\r\nTo: a@example.com"
    )

    assert [name for name, _ in headers] == ["Subject", "Content-Type", "To"]
    assert first_header(headers, "to") == "a@example.com"


def test_parse_header_block_refuses_a_block_over_the_header_ceilings() -> None:
    ceilings = MimeCeilings(max_header_lines=100, max_header_bytes=20_000)
    with pytest.raises(OverCeiling, match="MIME_MAX_HEADER_LINES"):
        parse_header_block(b"X-A: b\r\n" * 101, ceilings)
    with pytest.raises(OverCeiling, match="MIME_MAX_HEADER_BYTES"):
        parse_header_block(b"Subject: " + b"w" * 20_000, ceilings)
    with pytest.raises(OverCeiling, match="bytes in one header"):
        parse_header_block(b"To: " + b"(c) " * 1300 + b"a@example.com", ceilings)


def test_a_part_header_is_parsed_once_however_often_it_is_read() -> None:
    # The stdlib parses a header on every read; Content-Type is read a dozen times per part.
    params = "; ".join(f"p{i}=v" for i in range(600))
    raw = eml(
        "From: a@example.com",
        'Content-Type: multipart/mixed; boundary="BB"',
        body=multipart("BB", f"Content-Type: text/plain; {params}\r\n\r\nhi".encode()),
    )
    calls: list[str] = []
    original = policy.EmailPolicy.header_fetch_parse

    def counting(self: policy.EmailPolicy, name: str, value: str) -> Any:
        calls.append(name.lower())
        return original(self, name, value)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(policy.EmailPolicy, "header_fetch_parse", counting)
        parsed = parse_mime(raw)

    assert parsed.text == "hi"
    assert calls.count("content-type") == 2  # the message's and the part's, once each
