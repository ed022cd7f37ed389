"""Properties of `parse_mime` under its ceilings, for any input a sender can make up.

Whatever the bytes, the parser either returns within its ceilings or says which ceiling the
email crossed (`OverCeiling`); it never raises anything else. For well-formed trees of parts the
answer is exact: it refuses precisely the trees with too many parts or too deep a nesting.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from email.message import EmailMessage
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.mime import ParsedMime, base64_size, parse_mime

SMALL = MimeCeilings(
    max_parts=8,
    max_depth=3,
    max_lines=400,
    max_header_lines=60,
    max_header_bytes=4000,
    max_decoded_bytes=2000,
)
PROPERTY_SETTINGS = settings(
    database=None, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Pieces that steer the stdlib parser into its interesting states: boundaries, nested messages,
# encodings, folded and broken header lines, every kind of line break.
_TOKENS = [
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: multipart/alternative; boundary=c\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: multipart/digest; boundary=d\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"Content-Disposition: attachment; filename=a.pdf\r\n",
    b"Subject: =?utf-8?b?w6k=?=\r\n",
    b"From: a@example.com\r\n",
    b" folded continuation\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b"--c\n",
    b"--d\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"QUJD\r\n",
    b"=41=\r\n",
    b"\xff\xfe\x00",
]

mime_like = st.lists(st.one_of(st.sampled_from(_TOKENS), st.binary(max_size=40)), max_size=120).map(
    b"".join
)


def outcome(raw: bytes, ceilings: MimeCeilings) -> ParsedMime | OverCeiling:
    """The parse, or the ceiling it crossed (anything else raised fails the test)."""
    try:
        return parse_mime(raw, ceilings)
    except OverCeiling as exc:
        return exc


def assert_within(parsed: ParsedMime, ceilings: MimeCeilings) -> None:
    """What a returned parse holds never exceeds what its ceilings allow."""
    bodies = int(bool(parsed.text)) + int(bool(parsed.html))
    assert bodies + len(parsed.attachments) <= ceilings.max_parts
    assert sum(a.size for a in parsed.attachments) <= ceilings.max_decoded_bytes
    assert len(parsed.headers) <= ceilings.max_header_lines
    assert sum(len(name) + len(value) for name, value in parsed.headers) <= (
        ceilings.max_header_bytes
    )


@PROPERTY_SETTINGS
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_parse_within_the_ceilings_or_name_one(raw: bytes) -> None:
    result = outcome(raw, SMALL)
    if isinstance(result, OverCeiling):
        assert result.setting.startswith("MIME_MAX_")
    else:
        assert_within(result, SMALL)


@PROPERTY_SETTINGS
@given(raw=mime_like)
def test_mime_like_bytes_parse_within_the_ceilings_or_name_one(raw: bytes) -> None:
    result = outcome(raw, SMALL)
    if isinstance(result, OverCeiling):
        assert result.setting.startswith("MIME_MAX_")
    else:
        assert_within(result, SMALL)


# --- Exact answers for well-formed trees ------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """A MIME part: a text leaf, a multipart of children, or an attached message."""

    kind: str  # "leaf", "multipart" or "message"
    children: tuple[Tree, ...] = ()

    @property
    def parts(self) -> int:
        """How many parts the parser creates for it (this one included)."""
        return 1 + sum(child.parts for child in self.children)

    @property
    def depth(self) -> int:
        """How deep its deepest part is nested below it."""
        return max((1 + child.depth for child in self.children), default=0)


def render(tree: Tree, boundaries: count[int]) -> bytes:
    """The part's headers, a blank line and its content, with a fresh boundary per multipart."""
    if tree.kind == "leaf":
        return b"Content-Type: text/plain\r\n\r\nsome text\r\n"
    if tree.kind == "message":
        return b"Content-Type: message/rfc822\r\n\r\n" + render(tree.children[0], boundaries)
    boundary = b"=_b%d" % next(boundaries)
    inner = b"".join(b"--%s\r\n%s\r\n" % (boundary, render(c, boundaries)) for c in tree.children)
    return (
        b'Content-Type: multipart/mixed; boundary="%s"\r\n\r\n' % boundary
        + inner
        + b"--%s--\r\n" % boundary
    )


trees = st.recursive(
    st.just(Tree("leaf")),
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4).map(lambda c: Tree("multipart", tuple(c))),
        inner.map(lambda child: Tree("message", (child,))),
    ),
    max_leaves=14,
)


@PROPERTY_SETTINGS
@given(tree=trees)
def test_a_tree_is_refused_exactly_when_it_has_too_many_parts_or_too_deep_a_nesting(
    tree: Tree,
) -> None:
    raw = b"From: a@example.com\r\nSubject: tree\r\n" + render(tree, count())
    over = tree.parts > SMALL.max_parts or tree.depth > SMALL.max_depth
    result = outcome(raw, SMALL)
    if isinstance(result, OverCeiling):
        assert over, f"refused a tree of {tree.parts} parts, depth {tree.depth}: {result}"
        assert result.setting in ("MIME_MAX_PARTS", "MIME_MAX_DEPTH")
    else:
        assert not over, f"accepted a tree of {tree.parts} parts, depth {tree.depth}"
        assert_within(result, SMALL)


# --- Each ceiling, one at a time ----------------------------------------------------------------


def flat_multipart(parts: int, body: bytes = b"x") -> bytes:
    inner = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\n%s\r\n" % body for _ in range(parts))
    return (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        + inner
        + b"--B--\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "setting"),
    [
        (flat_multipart(SMALL.max_parts), "MIME_MAX_PARTS"),  # with the message: one too many
        (b"From: a@example.com\r\n\r\n" + b"line\r\n" * SMALL.max_lines, "MIME_MAX_LINES"),
        (b"X-A: b\r\n" * (SMALL.max_header_lines + 1) + b"\r\nbody", "MIME_MAX_HEADER_LINES"),
        (
            # Part headers count as well as the message's own.
            flat_multipart(2).replace(
                b"Content-Type: text/plain\r\n",
                b"Content-Type: text/plain\r\n" + b"X-A: b\r\n" * 40,
            ),
            "MIME_MAX_HEADER_LINES",
        ),
        (flat_multipart(3, b"y" * (SMALL.max_decoded_bytes // 2)), "MIME_MAX_DECODED_BYTES"),
        # One header of over a quarter of the header bytes (a one-line, one-header email).
        (
            b"Subject: " + b"w" * (SMALL.max_header_bytes // 4) + b"\r\n\r\nbody",
            "MIME_MAX_HEADER_BYTES",
        ),
        (
            # Many headers, each small, in the parts: the total counts.
            flat_multipart(6).replace(
                b"Content-Type: text/plain\r\n",
                b"Content-Type: text/plain\r\nX-Filler: " + b"f" * 700 + b"\r\n",
            ),
            "MIME_MAX_HEADER_BYTES",
        ),
    ],
)
def test_each_ceiling_is_named_when_crossed(raw: bytes, setting: str) -> None:
    with pytest.raises(OverCeiling) as raised:
        parse_mime(raw, SMALL)
    assert raised.value.setting == setting
    assert setting in str(raised.value)


def test_exactly_at_the_ceilings_parses() -> None:
    # The message and its parts: exactly max_parts.
    parsed = parse_mime(flat_multipart(SMALL.max_parts - 1), SMALL)
    assert parsed.text == "x"
    assert len(parsed.attachments) == SMALL.max_parts - 2
    headers = b"X-A: b\r\n" * (SMALL.max_header_lines - 1) + b"From: a@example.com\r\n"
    assert len(parse_mime(headers + b"\r\nbody", SMALL).headers) == SMALL.max_header_lines
    lines = b"From: a@example.com\r\n\r\n" + b"line\r\n" * (SMALL.max_lines - 2)
    roomy = replace(SMALL, max_decoded_bytes=len(lines))
    assert parse_mime(lines, roomy).text.count("line") == SMALL.max_lines - 2


# --- Attachment sizes measured without decoding --------------------------------------------------


def stdlib_decoded_size(text: str) -> int:
    part = EmailMessage()
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(text)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return len(payload)


base64_texts = st.one_of(
    # Well-formed, wrapped at any width, with CRLF, LF or CR line breaks.
    st.tuples(
        st.binary(max_size=300),
        st.integers(min_value=1, max_value=80),
        st.sampled_from(["\r\n", "\n", "\r"]),
    ).map(
        lambda t: t[2].join(
            base64.b64encode(t[0]).decode()[i : i + t[1]]
            for i in range(0, len(base64.b64encode(t[0])), t[1])
        )
    ),
    # Anything near base64: bad padding, stray characters, a truncated quantum.
    st.text(alphabet="ABCDabcd0189+/=\r\n -_*é", max_size=120),
)


@PROPERTY_SETTINGS
@given(text=base64_texts)
def test_a_base64_size_is_the_stdlib_decoded_size_or_left_to_the_stdlib(text: str) -> None:
    size = base64_size(text)
    if size is not None:
        assert size == stdlib_decoded_size(text)


def test_a_long_base64_attachment_is_measured_exactly_across_chunks() -> None:
    data = bytes(range(256)) * 2000 + b"tail"
    text = base64.encodebytes(data).decode()
    assert len(text) > 2 * 64 * 1024
    assert base64_size(text) == len(data)
    assert base64_size(text.replace("=", "") + "==x") is None
