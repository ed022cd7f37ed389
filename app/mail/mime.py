"""Raw RFC 5322 / MIME bytes to the parts of an `InboundEmail`, with the stdlib `email` package.

Parsing never raises on bad mail: broken headers, unknown charsets and bad base64 become defects
and best-effort text. Mail over one of its `MimeCeilings` (parts, nesting, lines, header lines,
decoded size) raises `OverCeiling` as soon as the parser crosses it. Nested `message/rfc822`
parts are attachments, so their headers can never leak into decisions about the outer message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesFeedParser, BytesParser
from email.utils import parsedate_to_datetime

from app.mail.ceilings import (
    MimeCeilings,
    Tally,
    check_header_block,
    check_lines,
    counting_policy,
)
from app.mail.charsets import decode_bytes, safe_filename, storable_text
from app.mail.models import AttachmentMeta

MAX_MESSAGE_ID_LENGTH = 998

# Line breaks as the stdlib parser reads them: CRLF, LF, or a lone CR (old Mac mail).
_BREAK = rb"(?:\r\n|\n|\r(?!\n))"
_MESSAGE_ID_LINE = re.compile(
    rb"(?i)(?:\A|(?<=[\r\n]))message-id[ \t]*:([^\r\n]*(?:" + _BREAK + rb"[ \t][^\r\n]*)*)"
)
_MSG_ID_TOKEN = re.compile(r"<[^<>\s]{1,990}>")
# Control characters other than the tab, CR and LF of folding (C1 bytes are not checked: in a
# UTF-8 Message-ID they are continuation bytes, not controls).
_ID_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The empty line that ends the header section (or one at the very start: no headers at all).
_HEADER_END = re.compile(rb"\A" + _BREAK + rb"|" + _BREAK + _BREAK)
_HEADER_LINE_BREAK = re.compile(r"[ \t]*[\r\n]+[ \t]*")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_BASE64_RUN = re.compile(r"([A-Za-z0-9+/]*)(=*)")
# The parser is fed in pieces, so a message never exists twice in memory as one big string.
_FEED_CHUNK = 64 * 1024


def header_block(raw: bytes) -> bytes:
    """Return the header section of a message (everything before the first empty line)."""
    match = _HEADER_END.search(raw)
    return raw if match is None else raw[: match.start()]


# RFC 5322 §4.5.8's obsolete syntax allows spaces before a header's colon ("Auto-Submitted :");
# the stdlib parser would end the header section at such a line and read the rest as body.
_SPACED_FIELD_NAME = re.compile(rb"(?:\A|(?<=[\r\n]))([!-9;-~]+)[ \t]+:")


def join_field_names(raw: bytes) -> bytes:
    """Return the message with the spaces between header names and their colons removed."""
    block = header_block(raw)
    joined = _SPACED_FIELD_NAME.sub(rb"\1:", block)
    return raw if joined == block else joined + raw[len(block) :]


def find_message_id(headers: bytes) -> str | None:
    """Find the Message-ID in a header block cheaply, without a full parse.

    Returns the `<...>` token, or None when the header is missing, empty or malformed. A
    control character anywhere in the value makes it malformed: the id is a database key and
    goes back out in our replies' threading headers, and a NUL in it once made every post of
    its email fail.
    """
    match = _MESSAGE_ID_LINE.search(headers)
    if match is None or _ID_CONTROL.search(match.group(1)):
        return None
    value = re.sub(r"\s+", "", match.group(1).decode("latin-1"))
    token = _MSG_ID_TOKEN.search(value)
    return token.group(0) if token else None


def synthetic_message_id(checksum: str) -> str:
    """Build a stable Message-ID for mail that has none, from its content checksum."""
    return f"<{checksum}@checksum.invalid>"


def content_checksum(data: bytes) -> str:
    """Return the sha256 hex digest used for deduplication."""
    return hashlib.sha256(data).hexdigest()


def parse_message_ids(value: str | None) -> tuple[str, ...]:
    """Return the `<...>` ids in an In-Reply-To or References value, in order, deduplicated."""
    if not value:
        return ()
    return tuple(dict.fromkeys(_MSG_ID_TOKEN.findall(re.sub(r"\s+", "", value))))


@dataclass
class ParsedMime:
    """What the MIME layer extracts; the provider adapter adds transport facts."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    content_type: str = "text/plain"
    text: str = ""
    html: str = ""
    attachments: list[AttachmentMeta] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def parse_mime(raw: bytes, ceilings: MimeCeilings | None = None) -> ParsedMime:
    """Parse a complete message into headers, bodies and attachment metadata.

    Raises:
        OverCeiling: the message crosses one of `ceilings` (the defaults when None).
    """
    ceilings = ceilings or MimeCeilings()
    raw = join_field_names(raw)
    check_lines(raw, ceilings)
    check_header_block(header_block(raw), ceilings)
    tally = Tally(ceilings)
    try:
        message = _parse_counted(raw, tally)
        parsed = _parse_top(message)
    except RecursionError:
        # The stdlib parser recurses once per nested comment in a structured header such as
        # Content-Type: keep the headers, drop the body. compat32 splits headers without
        # parsing them; they are then decoded one by one as usual.
        headers_only = BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)
        headers_only.policy = policy.default
        parsed = _parse_top(headers_only)
        parsed.defects.append("MIME nesting too deep to parse; body ignored")
        return parsed
    _walk_body(message, parsed, tally)
    return parsed


def _parse_counted(raw: bytes, tally: Tally) -> EmailMessage:
    """Run the stdlib parser with every part it creates counted against the ceilings."""
    parser = BytesFeedParser(policy=counting_policy(tally))
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_CHUNK):
        parser.feed(bytes(view[start : start + _FEED_CHUNK]))
    message = parser.close()
    assert isinstance(message, EmailMessage)
    return message


def _parse_top(message: Message) -> ParsedMime:
    """The top-level facts: media type, decoded headers, subject and date."""
    try:
        content_type = message.get_content_type()
    except RecursionError:
        content_type = message.get_default_type()
    # The media type comes from the sender's header and may hold NUL or control characters.
    parsed = ParsedMime(content_type=storable_text(content_type))
    parsed.headers = read_headers(message, parsed.defects)
    parsed.subject = first_header(parsed.headers, "subject")
    parsed.date = parse_date(first_header(parsed.headers, "date"))
    return parsed


def parse_header_block(block: bytes, ceilings: MimeCeilings | None = None) -> list[tuple[str, str]]:
    """Parse a bare header block (SendGrid's parsed-mode `headers` field) into decoded pairs.

    Raises:
        OverCeiling: the block has more lines or bytes than `ceilings` allow.
    """
    ceilings = ceilings or MimeCeilings()
    check_header_block(block, ceilings)
    # compat32 only splits the lines (no structured header parsing, which can recurse without
    # bound on nested comments); each header is then decoded as in a full parse.
    message = BytesParser(policy=policy.compat32).parsebytes(
        join_field_names(block.rstrip(b"\r\n")) + b"\r\n\r\n", headersonly=True
    )
    tally = Tally(ceilings)
    for name, value in message.raw_items():
        tally.add_header(name, str(value))
    message.policy = policy.default
    return read_headers(message, [])


def read_headers(message: Message, defects: list[str]) -> list[tuple[str, str]]:
    """Return decoded (name, value) pairs in order; a header that fails to decode stays raw."""
    pairs: list[tuple[str, str]] = []
    for name, raw_value in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(name, raw_value))
        except Exception as exc:
            defects.append(f"header {name}: {type(exc).__name__}")
            value = str(raw_value)
        # An encoded word can decode to a line break; a header value stays on one line.
        value = _HEADER_LINE_BREAK.sub(" ", _unescape_8bit(value))
        pairs.append((storable_text(name), storable_text(value).strip()))
    return pairs


def _unescape_8bit(value: str) -> str:
    """Decode raw 8-bit header bytes (RFC 6532 UTF-8, or a legacy charset) kept as surrogates."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"), None)


def first_header(headers: Sequence[tuple[str, str]], name: str) -> str:
    """Return the first value of header `name` (lower-case) in decoded pairs, or ''."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return ""


def parse_date(value: str) -> datetime | None:
    """Parse a Date header value to an aware UTC datetime (UTC assumed if no zone), or None."""
    if not value:
        return None
    try:
        date = parsedate_to_datetime(value)
        # OverflowError: a date at the edge of the calendar moved across it by its zone offset.
        return date.astimezone(UTC) if date.tzinfo else date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _walk_body(message: EmailMessage, parsed: ParsedMime, tally: Tally) -> None:
    """Find the first text and HTML bodies and list attachments, iteratively.

    The parser's complaints about every part visited (bad base64 included) become defects.
    Nesting is already within its ceiling: the parser stopped at the first part too deep.
    """
    stack: list[Message] = [message]
    while stack:
        part = stack.pop()
        try:
            children = _read_part(part, parsed, tally)
        except RecursionError:
            # A structured header (Content-Type, Content-Disposition...) nested too deep.
            parsed.defects.append("MIME part header nested too deep; part ignored")
            continue
        stack.extend(reversed(children))


def _read_part(part: Message, parsed: ParsedMime, tally: Tally) -> list[Message]:
    """Read a leaf into `parsed`, or return a container's children."""
    # A nested message is an attachment: its headers and body belong to someone else.
    if part.is_multipart() and part.get_content_maintype() != "message":
        parsed.defects.extend(type(defect).__name__ for defect in part.defects)
        payload = part.get_payload()
        if not isinstance(payload, list):
            return []
        return [child for child in payload if isinstance(child, Message)]
    _read_leaf(part, parsed, tally)
    parsed.defects.extend(type(defect).__name__ for defect in part.defects)
    return []


def _read_leaf(part: Message, parsed: ParsedMime, tally: Tally) -> None:
    content_type = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    filename = part.get_filename()
    is_body_candidate = (
        content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and filename is None
    )
    # Only the first text and the first HTML body are read as text; later ones are attachments.
    if is_body_candidate and content_type == "text/plain" and not parsed.text:
        parsed.text = storable_text(_decoded_text(part, parsed, tally))
        return
    if is_body_candidate and content_type == "text/html" and not parsed.html:
        parsed.html = storable_text(_decoded_text(part, parsed, tally))
        return
    size = _payload_size(part, parsed, tally)
    content_id = part.get("Content-ID")
    parsed.attachments.append(
        AttachmentMeta(
            filename=safe_filename(filename or ""),
            content_type=storable_text(content_type),
            size=size,
            content_id=storable_text(str(content_id)).strip("<> ") if content_id else None,
            is_inline=disposition == "inline"
            or (content_id is not None and disposition != "attachment"),
        )
    )


def _payload_size(part: Message, parsed: ParsedMime, tally: Tally) -> int:
    """An attachment's decoded size; well-formed base64 is measured without being decoded.

    The stdlib decodes base64 through a list of its lines and two whole copies, some four times
    the part's size at once; an attachment's bytes are never used, only their number.
    """
    payload = part.get_payload()
    cte = str(part.get("Content-Transfer-Encoding", "")).lower()
    if isinstance(payload, str) and cte == "base64":
        size = base64_size(payload)
        if size is not None:
            tally.add_decoded(size)
            return size
    return len(_payload_bytes(part, parsed, tally))


def base64_size(text: str) -> int | None:
    """The decoded size of well-formed base64 (line breaks aside), or None for anything else."""
    alphabet = padding = 0
    for start in range(0, len(text), _FEED_CHUNK):
        chunk = _LINE_BREAKS.sub("", text[start : start + _FEED_CHUNK])
        match = _BASE64_RUN.fullmatch(chunk)
        if match is None or (padding and chunk):
            # Not the alphabet, or anything at all after the padding.
            return None
        alphabet += len(match.group(1))
        padding += len(match.group(2))
    if padding > 2 or (alphabet + padding) % 4:
        return None
    return (alphabet + padding) // 4 * 3 - padding


def _payload_bytes(part: Message, parsed: ParsedMime, tally: Tally) -> bytes:
    payload = _decoded_payload(part, parsed)
    tally.add_decoded(len(payload))
    return payload


def _decoded_payload(part: Message, parsed: ParsedMime) -> bytes:
    if part.get_content_type() == "message/rfc822" or part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list):
            try:
                return b"".join(m.as_bytes() for m in inner if isinstance(m, Message))
            except Exception as exc:
                # Re-serialising recurses once per nested message and refolds broken headers.
                parsed.defects.append(f"unmeasurable attached message: {type(exc).__name__}")
                return b""
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        parsed.defects.append(f"undecodable part: {type(exc).__name__}")
        return b""
    return payload if isinstance(payload, bytes) else b""


def _decoded_text(part: Message, parsed: ParsedMime, tally: Tally) -> str:
    return decode_bytes(_payload_bytes(part, parsed, tally), part.get_content_charset())
