"""parse_form_data: a strict multipart/form-data splitter over bytes (values stay bytes)."""

from __future__ import annotations

import hashlib
import random

import pytest

from app.demo.sendgrid_posts import FilePart, encode_form
from app.mail.formdata import FormData, FormDataError, boundary_from_content_type, parse_form_data

BOUNDARY = "xYzZYb0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def field(name: str, value: bytes, *, boundary: str = BOUNDARY) -> bytes:
    """One field part, delimiter included, exactly as a browser or SendGrid writes it."""
    return b'--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (
        boundary.encode(),
        name.encode(),
        value,
    )


def raw_part(disposition: bytes, value: bytes, *, extra_headers: bytes = b"") -> bytes:
    """One part with a hand-written Content-Disposition value."""
    return b"--%s\r\nContent-Disposition: %s\r\n%s\r\n%s\r\n" % (
        BOUNDARY.encode(),
        disposition,
        extra_headers,
        value,
    )


def closing(boundary: str = BOUNDARY) -> bytes:
    return b"--%s--\r\n" % boundary.encode()


def parse(body: bytes, content_type: str = CONTENT_TYPE, *, max_parts: int = 100) -> FormData:
    return parse_form_data(body, content_type, max_parts=max_parts)


def only_filename(disposition: bytes) -> str | None:
    form = parse(raw_part(disposition, b"data") + closing())
    assert len(form.parts) == 1
    return form.parts[0].filename


# --- fields and files -----------------------------------------------------------------------


def test_fields_and_files_come_back_in_wire_order() -> None:
    post = encode_form(
        [
            ("headers", b"Subject: hi"),
            FilePart("attachment1", "invoice.pdf", "application/pdf", b"%PDF-1.4"),
            ("text", b"hello"),
            FilePart("attachment2", "photo.jpg", "image/jpeg", b"\xff\xd8\xff"),
            ("attachments", b"2"),
        ]
    )
    form = parse(post.body, post.content_type)

    assert [part.name for part in form.parts] == [
        "headers",
        "attachment1",
        "text",
        "attachment2",
        "attachments",
    ]
    assert form.get("headers") == b"Subject: hi"
    assert form.get("text") == b"hello"
    assert form.get("attachments") == b"2"
    assert [(f.name, f.filename, f.content_type, f.value) for f in form.files()] == [
        ("attachment1", "invoice.pdf", "application/pdf", b"%PDF-1.4"),
        ("attachment2", "photo.jpg", "image/jpeg", b"\xff\xd8\xff"),
    ]
    fields = [part for part in form.parts if part.filename is None]
    assert all(part.content_type is None for part in fields)


def test_get_returns_fields_only_never_a_file_part() -> None:
    post = encode_form([FilePart("email", "email.eml", "message/rfc822", b"From: a@b.test")])
    form = parse(post.body, post.content_type)

    assert form.get("email") is None
    assert form.count("email") == 1
    assert form.files()[0].value == b"From: a@b.test"


def test_get_of_a_missing_field_is_none_and_count_zero() -> None:
    form = parse(field("text", b"x") + closing())

    assert form.get("html") is None
    assert form.count("html") == 0
    assert form.files() == []


def test_empty_values_are_kept_as_empty_bytes() -> None:
    form = parse(field("text", b"") + field("html", b"") + closing())

    assert form.get("text") == b""
    assert form.get("html") == b""
    assert len(form.parts) == 2


def test_an_empty_filename_is_still_a_file_part() -> None:
    form = parse(raw_part(b'form-data; name="attachment1"; filename=""', b"content") + closing())

    assert form.parts[0].filename == ""
    assert form.files() == [form.parts[0]]
    assert form.get("attachment1") is None


def test_part_header_names_are_case_insensitive_and_content_type_is_kept() -> None:
    body = (
        b'--%s\r\ncontent-disposition: form-data; NAME="attachment1"; FileName="a.txt"\r\n'
        b"CONTENT-TYPE: text/plain; charset=utf-8\r\n\r\nabc\r\n" % BOUNDARY.encode()
    ) + closing()
    form = parse(body)

    part = form.parts[0]
    assert (part.name, part.filename, part.content_type, part.value) == (
        "attachment1",
        "a.txt",
        "text/plain; charset=utf-8",
        b"abc",
    )


def test_an_unquoted_name_parameter_is_accepted() -> None:
    form = parse(raw_part(b"form-data; name=text", b"hello") + closing())

    assert form.get("text") == b"hello"


# --- values are bytes, byte-exact -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"\x00",
        b"a\x00b\x00\x00c",
        b"\xff\xfe\xfd invalid utf-8 \xc3\x28",
        bytes(range(256)),
        b"\r\n",
        b"line one\r\n\r\nline three\r\n",
        b"--" + BOUNDARY[:-1].encode() + b" is not the delimiter",
        b"\r\n--not-the-boundary\r\n",
        b"ends with a dash-",
        b"Como usted pidi\xa2",  # cp850, as SendGrid sends a subject
    ],
)
def test_binary_values_are_kept_byte_exact(value: bytes) -> None:
    form = parse(field("text", value) + field("after", b"ok") + closing())

    assert form.get("text") == value
    assert form.get("after") == b"ok"


def test_random_binary_values_survive_a_round_trip() -> None:
    rng = random.Random(20261122)
    for _ in range(50):
        values = [rng.randbytes(rng.randint(0, 300)) for _ in range(rng.randint(1, 6))]
        parts: list[tuple[str, bytes] | FilePart] = [
            (f"field{i}", value) for i, value in enumerate(values)
        ]
        post = encode_form(parts)
        form = parse(post.body, post.content_type)

        assert [part.value for part in form.parts] == values


def test_a_25_mb_field_is_accepted_whole() -> None:
    # Starlette refuses a non-file part over 1 MB; SendGrid would then drop the mail.
    big = (b"0123456789abcdef\r\n" * (25 * 1024 * 1024 // 18 + 1))[: 25 * 1024 * 1024]
    form = parse(field("email", big) + field("to", b"support@shop.test") + closing())

    email = form.get("email")
    assert email is not None
    assert len(email) == 25 * 1024 * 1024
    assert hashlib.sha256(email).digest() == hashlib.sha256(big).digest()
    assert form.get("to") == b"support@shop.test"


# --- boundaries and delimiters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        ("multipart/form-data; boundary=abc123", "abc123"),
        ('multipart/form-data; boundary="abc123"', "abc123"),
        ('multipart/form-data; boundary="with space:and=equals"', "with space:and=equals"),
        ("multipart/form-data;boundary=abc123", "abc123"),
        ("Multipart/Form-Data; BOUNDARY=abc123", "abc123"),
        ("multipart/form-data; boundary=abc123; charset=utf-8", "abc123"),
        ("multipart/form-data; charset=utf-8; boundary=abc123", "abc123"),
        ('multipart/form-data; xboundary="decoy"; boundary=abc123', "abc123"),
        (
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk",
            "----WebKitFormBoundary7MA4YWxk",
        ),
    ],
)
def test_boundary_quoted_or_not_is_read_from_the_content_type(
    content_type: str, boundary: str
) -> None:
    assert boundary_from_content_type(content_type) == boundary

    body = field("text", b"hello", boundary=boundary) + closing(boundary)
    assert parse(body, content_type).get("text") == b"hello"


def test_a_preamble_before_the_first_delimiter_is_ignored() -> None:
    preamble = b"This is the preamble. It is to be ignored.\r\nSecond line.\r\n"
    form = parse(preamble + field("text", b"hello") + closing())

    assert [part.name for part in form.parts] == ["text"]
    assert form.get("text") == b"hello"


@pytest.mark.parametrize(
    "ending",
    [
        b"",
        b"\r\n",
        b"\r\nthis is the epilogue, ignored\r\n",
        b'\r\n--%s\r\nContent-Disposition: form-data; name="late"\r\n\r\nx' % BOUNDARY.encode(),
    ],
)
def test_the_closing_delimiter_with_or_without_trailing_crlf_ends_the_form(ending: bytes) -> None:
    body = field("text", b"hello") + b"--%s--" % BOUNDARY.encode() + ending
    form = parse(body)

    assert [part.name for part in form.parts] == ["text"]
    assert form.get("text") == b"hello"


# --- Content-Disposition parameters ---------------------------------------------------------


def test_backslash_before_the_closing_quote_is_literal() -> None:
    # Browsers and SendGrid do not escape inside quoted values: filename="path\" is `path\`.
    assert only_filename(b'form-data; name="attachment1"; filename="path\\"') == "path\\"


def test_a_backslash_quoted_filename_does_not_swallow_the_next_parameter() -> None:
    form = parse(
        raw_part(b'form-data; filename="path\\"; name="attachment2"', b"content") + closing()
    )

    assert form.parts[0].name == "attachment2"
    assert form.parts[0].filename == "path\\"


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (
            b'form-data; name="a"; filename="C:\\Users\\me\\invoice.pdf"',
            "C:\\Users\\me\\invoice.pdf",
        ),
        (
            b'form-data; name="a"; filename="\\\\share\\mail\\forwarded.msg"',
            "\\\\share\\mail\\forwarded.msg",
        ),
        (b'form-data; name="a"; filename="../../etc/passwd"', "../../etc/passwd"),
        (b'form-data; name="a"; filename="a; name=evil.txt"', "a; name=evil.txt"),
        (b'form-data; name="a"; filename=plain.txt', "plain.txt"),
        (b'form-data; name="a"; filename="r\xc3\xa9sum\xc3\xa9.pdf"', "r\u00e9sum\u00e9.pdf"),
        (b'form-data; name="a"; filename="%22quoted%22.txt"', "%22quoted%22.txt"),
    ],
)
def test_filenames_are_taken_literally(disposition: bytes, filename: str) -> None:
    assert only_filename(disposition) == filename


def test_a_semicolon_inside_a_quoted_filename_does_not_rename_the_field() -> None:
    form = parse(raw_part(b'form-data; name="real"; filename="a; name=evil.txt"', b"x") + closing())

    assert form.parts[0].name == "real"


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (
            b"form-data; name=\"a\"; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.txt",
            "na\u00efve caf\u00e9.txt",
        ),
        (b"form-data; name=\"a\"; filename*=utf-8''%E2%82%AC%20invoice.pdf", "\u20ac invoice.pdf"),
        (b"form-data; name=\"a\"; filename*=iso-8859-1'es'R%E9sum%E9.pdf", "R\u00e9sum\u00e9.pdf"),
        (b'form-data; name="a"; filename*="UTF-8\'\'quoted%20value.txt"', "quoted value.txt"),
        (b"form-data; name=\"a\"; filename*=''no-charset.txt", "no-charset.txt"),
    ],
)
def test_rfc5987_extended_filenames_are_decoded(disposition: bytes, filename: str) -> None:
    assert only_filename(disposition) == filename


@pytest.mark.parametrize(
    "disposition",
    [
        b'form-data; name="a"; filename="fallback.txt"; filename*=UTF-8\'\'%C3%A9t%C3%A9.txt',
        b'form-data; name="a"; filename*=UTF-8\'\'%C3%A9t%C3%A9.txt; filename="fallback.txt"',
    ],
)
def test_the_extended_filename_wins_over_the_plain_one_in_either_order(disposition: bytes) -> None:
    assert only_filename(disposition) == "\u00e9t\u00e9.txt"


@pytest.mark.parametrize(
    ("charset", "expected"),
    [
        (b"x-no-such-charset", "abc\u00e9"),  # unknown: read as UTF-8
        (b"\xff\xfe", "abc\u00e9"),  # not even ASCII
        (b"idna", "abc\u00e9"),  # a codec that refuses errors="replace"
        (b"base64", "abc\u00e9"),  # not a text encoding at all
    ],
)
def test_a_bad_extended_charset_falls_back_to_utf8_without_raising(
    charset: bytes, expected: str
) -> None:
    disposition = b'form-data; name="a"; filename*=' + charset + b"''abc%C3%A9"
    assert only_filename(disposition) == expected


def test_a_non_utf8_quoted_filename_becomes_replacement_characters_not_an_error() -> None:
    assert only_filename(b'form-data; name="a"; filename="caf\xe9.txt"') == "caf\ufffd.txt"


# --- duplicates -----------------------------------------------------------------------------


def test_duplicate_field_names_get_returns_the_first_and_count_counts_all() -> None:
    form = parse(
        field("from", b"first@example.com")
        + field("text", b"body")
        + field("from", b"second@example.com")
        + raw_part(b'form-data; name="from"; filename="from.txt"', b"third")
        + closing()
    )

    assert form.get("from") == b"first@example.com"
    assert form.count("from") == 3
    assert form.count("text") == 1
    assert [part.value for part in form.parts if part.name == "from"] == [
        b"first@example.com",
        b"second@example.com",
        b"third",
    ]


def test_a_duplicated_name_parameter_keeps_the_first() -> None:
    form = parse(raw_part(b'form-data; name="first"; name="second"', b"x") + closing())

    assert form.parts[0].name == "first"


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("application/json", "expected multipart/form-data, got application/json"),
        ("application/x-www-form-urlencoded", "got application/x-www-form-urlencoded"),
        ("text/plain; charset=utf-8", "got text/plain"),
        ("multipart/mixed; boundary=xYzZYb0undary", "got multipart/mixed"),
        ("", "got no content type"),
        ("multipart/form-data", "without a boundary"),
        ("multipart/form-data; charset=utf-8", "without a boundary"),
        ("multipart/form-data; boundary=", "without a boundary"),
        ('multipart/form-data; boundary=""', "without a boundary"),
    ],
)
def test_a_bad_content_type_is_refused_with_a_clear_message(
    content_type: str, message: str
) -> None:
    body = field("text", b"hello") + closing()
    with pytest.raises(FormDataError, match=message):
        parse(body, content_type)


def test_a_json_body_is_not_multipart() -> None:
    with pytest.raises(FormDataError, match="expected multipart/form-data"):
        parse(b'{"email": "From: a@b.test"}', "application/json")


def test_a_boundary_that_never_occurs_is_refused() -> None:
    body = field("text", b"hello", boundary="other") + closing("other")
    with pytest.raises(FormDataError, match="boundary never occurs"):
        parse(body)


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(FormDataError, match="boundary never occurs"):
        parse(b"")


@pytest.mark.parametrize(
    "body",
    [
        field("text", b"hello")[:-2],  # cut inside the last value
        field("text", b"hello") + field("html", b"<p>hi</p>")[:30],  # cut in a part header
        field("text", b"hello") + b"--" + BOUNDARY.encode(),  # cut before the closing "--"
        field("text", b"hello") + b"--" + BOUNDARY.encode() + b"-",  # cut inside the "--"
        b"--" + BOUNDARY.encode(),  # nothing but a delimiter
    ],
)
def test_a_truncated_body_without_closing_delimiter_is_refused(body: bytes) -> None:
    with pytest.raises(FormDataError, match="closing delimiter is missing"):
        parse(body)


def test_a_part_without_headers_is_refused() -> None:
    body = b"--%s\r\n\r\njust a value\r\n" % BOUNDARY.encode() + closing()
    with pytest.raises(FormDataError, match="no header block"):
        parse(body)


def test_a_part_whose_headers_never_end_is_refused() -> None:
    body = b'--%s\r\nContent-Disposition: form-data; name="a"\r\nvalue\r\n' % BOUNDARY.encode()
    with pytest.raises(FormDataError, match="no header block"):
        parse(body + closing())


@pytest.mark.parametrize(
    "disposition",
    [b"form-data", b'form-data; filename="a.txt"', b'form-data; nam="typo"'],
)
def test_a_part_without_a_name_is_refused(disposition: bytes) -> None:
    with pytest.raises(FormDataError, match="has no name"):
        parse(raw_part(disposition, b"x") + closing())


def test_a_part_without_content_disposition_is_refused() -> None:
    body = b"--%s\r\nContent-Type: text/plain\r\n\r\nx\r\n" % BOUNDARY.encode() + closing()
    with pytest.raises(FormDataError, match="not form-data"):
        parse(body)


def test_a_part_that_is_not_form_data_is_refused() -> None:
    with pytest.raises(FormDataError, match="not form-data"):
        parse(raw_part(b'attachment; name="a"', b"x") + closing())


def test_a_part_header_line_without_colon_is_refused() -> None:
    body = (
        b'--%s\r\nContent-Disposition: form-data; name="a"\r\nno colon here\r\n\r\nx\r\n'
        % BOUNDARY.encode()
    )
    with pytest.raises(FormDataError, match="no colon"):
        parse(body + closing())


def test_a_delimiter_followed_by_junk_is_refused() -> None:
    body = b"--%sjunk\r\n" % BOUNDARY.encode() + field("text", b"x")[2 + len(BOUNDARY) + 2 :]
    with pytest.raises(FormDataError, match="not followed by a line break"):
        parse(body + closing())


def test_more_than_max_parts_is_refused() -> None:
    body = b"".join(field(f"f{i}", b"x") for i in range(4)) + closing()

    assert len(parse(body, max_parts=4).parts) == 4
    with pytest.raises(FormDataError, match="more than 3 parts"):
        parse(body, max_parts=3)


def test_thousands_of_tiny_parts_stop_at_the_limit() -> None:
    body = b"".join(field("f", b"") for _ in range(5000)) + closing()
    with pytest.raises(FormDataError, match="more than 1000 parts"):
        parse(body, max_parts=1000)


def test_form_data_error_is_a_value_error() -> None:
    # The webhook quarantines on FormDataError; nothing else may escape for malformed input.
    assert issubclass(FormDataError, ValueError)


def test_random_corruptions_raise_only_form_data_error() -> None:
    post = encode_form(
        [
            ("headers", b"From: a@b.test\r\nSubject: hi"),
            FilePart("attachment1", "a.pdf", "application/pdf", b"%PDF"),
            ("text", b"body"),
        ],
        boundary=BOUNDARY,
    )
    rng = random.Random(7)
    alphabet = b"\r\n-\";=*'\\%\xff\x00 aZ" + BOUNDARY.encode()
    outcomes = {"parsed": 0, "refused": 0}
    messages: set[str] = set()
    for _ in range(400):
        body = bytearray(post.body)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(body))
            if rng.random() < 0.5:
                body[position] = rng.choice(alphabet)
            else:
                del body[position : position + rng.randint(1, 20)]
        try:
            form = parse(bytes(body), post.content_type)
        except FormDataError as error:
            messages.add(str(error))
            outcomes["refused"] += 1
        else:
            assert all(isinstance(part.value, bytes) for part in form.parts)
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 0
    assert outcomes["refused"] > 0
    assert "" not in messages
