"""Properties of parse_form_data: whatever a browser or SendGrid encodes comes back unchanged,
and no byte string makes it raise anything but its own FormDataError.

The encoder below writes parts the way the WHATWG HTML standard (and curl, and urllib3) does:
names and filenames are quoted UTF-8 with only LF, CR and the double quote percent-encoded; a
filename may instead come RFC 5987-encoded (`filename*=UTF-8''...`), as some mail systems send.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from app.mail.formdata import FormDataError, boundary_from_content_type, parse_form_data

# RFC 2046 §5.1.1: a boundary is 1-70 of these, and must not end in a space.
_BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? "
_TSPECIALS = set('()<>@,;:\\"/[]?= ')

boundaries = st.text(alphabet=_BCHARS, min_size=1, max_size=70).filter(
    lambda b: not b.endswith(" ")
)
# Any Unicode a form field can be called, including characters that look like syntax.
names = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from('";=\r\n\\%-')), max_size=40
)
# Values are raw bytes: text in any charset, binary files, and content that imitates a part.
values = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8")),
    st.lists(
        st.sampled_from(
            [b"\r\n", b"\r\n\r\n", b"--", b"\r\n--", b'name="x"', b"Content-Disposition: ", b"x"]
        ),
        max_size=12,
    ).map(b"".join),
)
media_types = st.from_regex(r"\A[a-z]{1,12}/[a-z0-9.+-]{1,20}(; charset=[a-z0-9-]{1,12})?\Z")


@dataclass(frozen=True)
class Part:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None
    extended_filename: bool = False


parts = st.builds(
    Part,
    name=names,
    value=values,
    filename=st.none() | names,
    content_type=st.none() | media_types,
    extended_filename=st.booleans(),
)


def _quoted(value: str) -> bytes:
    """A quoted parameter value as WHATWG writes it: only LF, CR and `"` are percent-encoded."""
    escaped = value.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")
    return b'"' + escaped.encode("utf-8") + b'"'


def _sent_as(value: str) -> str:
    """What a server reads back from a quoted value: the escapes stay (they are not decoded)."""
    return value.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")


def encode(form: list[Part], boundary: str, *, preamble: bytes = b"") -> tuple[bytes, str]:
    """Encode parts as multipart/form-data; return the body and its Content-Type."""
    chunks = [preamble]
    for part in form:
        disposition = b"form-data; name=" + _quoted(part.name)
        if part.filename is not None and part.extended_filename:
            disposition += b"; filename*=UTF-8''" + quote(part.filename, safe="").encode()
        elif part.filename is not None:
            disposition += b"; filename=" + _quoted(part.filename)
        chunks.append(b"--" + boundary.encode() + b"\r\nContent-Disposition: " + disposition)
        if part.content_type is not None:
            chunks.append(b"\r\nContent-Type: " + part.content_type.encode())
        chunks.append(b"\r\n\r\n" + part.value + b"\r\n")
    chunks.append(b"--" + boundary.encode() + b"--\r\n")
    quoted = any(char in _TSPECIALS for char in boundary)
    parameter = f'"{boundary}"' if quoted else boundary
    return b"".join(chunks), f"multipart/form-data; boundary={parameter}"


@given(
    form=st.lists(parts, max_size=8),
    boundary=boundaries,
    preamble=st.sampled_from([b"", b"This is a preamble.\r\n", b"\r\n"]),
)
@example(form=[Part("a", b"x\r\n--b\r\n")], boundary="bb", preamble=b"")
@example(form=[Part('na"me\r\n', b"", filename="c:\\dir\\f\u00e9.txt")], boundary="b", preamble=b"")
def test_every_encoded_form_comes_back_field_for_field(
    form: list[Part], boundary: str, preamble: bytes
) -> None:
    body, content_type = encode(form, boundary, preamble=preamble)
    # A value that happens to contain the delimiter cannot be sent with this boundary (a real
    # client picks another); everything else must survive.
    separator = b"\r\n--" + boundary.encode()
    assume(not any(separator in b"\r\n" + part.value for part in form))

    parsed = parse_form_data(body, content_type, max_parts=len(form))

    assert [p.name for p in parsed.parts] == [_sent_as(p.name) for p in form]
    assert [p.value for p in parsed.parts] == [p.value for p in form]
    assert [p.content_type for p in parsed.parts] == [p.content_type for p in form]
    assert [p.filename for p in parsed.parts] == [
        None if p.filename is None else p.filename if p.extended_filename else _sent_as(p.filename)
        for p in form
    ]


@given(form=st.lists(parts, min_size=1, max_size=6), boundary=boundaries)
def test_fields_are_found_by_name_and_files_are_listed(form: list[Part], boundary: str) -> None:
    body, content_type = encode(form, boundary)
    separator = b"\r\n--" + boundary.encode()
    assume(not any(separator in b"\r\n" + part.value for part in form))

    parsed = parse_form_data(body, content_type, max_parts=100)

    for part in form:
        name = _sent_as(part.name)
        first_field = next(
            (p.value for p in form if _sent_as(p.name) == name and p.filename is None), None
        )
        assert parsed.get(name) == first_field
        assert parsed.count(name) == sum(1 for p in form if _sent_as(p.name) == name)
    assert [f.value for f in parsed.files()] == [p.value for p in form if p.filename is not None]


@given(form=st.lists(parts, min_size=2, max_size=6), boundary=boundaries)
def test_one_part_over_the_limit_is_refused(form: list[Part], boundary: str) -> None:
    body, content_type = encode(form, boundary)
    separator = b"\r\n--" + boundary.encode()
    assume(not any(separator in b"\r\n" + part.value for part in form))

    with pytest.raises(FormDataError, match="more than"):
        parse_form_data(body, content_type, max_parts=len(form) - 1)


# Bytes built from the pieces a form is made of, so the parser gets far into them.
form_like_bytes = st.lists(
    st.one_of(
        st.binary(max_size=16),
        st.sampled_from(
            [
                b"--b",
                b"--b--",
                b"\r\n",
                b"\r\n\r\n",
                b"Content-Disposition: form-data",
                b"; ",
                b"name=",
                b'"x"',
                b"filename*=",
                b"utf-8''%e2%82",
                b"punycode''%ff",
                b"Content-Type:",
            ]
        ),
    ),
    max_size=40,
).map(b"".join)


@given(body=st.one_of(st.binary(max_size=2000), form_like_bytes))
@example(body=b"--b\r\nContent-Disposition: form-data; name*=punycode''%ff\r\n\r\nx\r\n--b--")
def test_arbitrary_bytes_raise_nothing_but_form_data_error(body: bytes) -> None:
    try:
        parse_form_data(body, "multipart/form-data; boundary=b", max_parts=50)
    except FormDataError:
        pass


@given(
    form=st.lists(parts, min_size=1, max_size=4),
    boundary=boundaries,
    cut=st.integers(min_value=0),
    noise=st.binary(min_size=1, max_size=8),
    charset=st.sampled_from(
        ["utf-8", "latin-1", "punycode", "idna", "rot13", "base64", "undefined", "utf-7", "x"]
    ),
)
def test_damaged_forms_raise_nothing_but_form_data_error(
    form: list[Part], boundary: str, cut: int, noise: bytes, charset: str
) -> None:
    """A well-formed body with bytes changed or an odd charset named: never an unexpected error."""
    body, content_type = encode(form, boundary)
    body = body.replace(b"UTF-8''", charset.encode() + b"''")
    position = cut % (len(body) + 1)
    damaged = body[:position] + noise + body[position + len(noise) :]
    try:
        parse_form_data(damaged, content_type, max_parts=50)
    except FormDataError:
        pass


@given(content_type=st.text(max_size=120))
@example(content_type="multipart/form-data; boundary=")
@example(content_type='multipart/form-data; boundary=""')
def test_any_content_type_yields_a_boundary_or_form_data_error(content_type: str) -> None:
    try:
        boundary = boundary_from_content_type(content_type)
    except FormDataError:
        return
    assert boundary
    assert content_type.split(";", 1)[0].strip().lower() == "multipart/form-data"
