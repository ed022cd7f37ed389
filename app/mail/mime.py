"""Raw RFC 5322 / MIME bytes to the parts of an `InboundEmail`, with the stdlib `email` package.

Parsing never raises on bad mail: broken headers, unknown charsets, bad base64 and deep nesting
become defects and best-effort text. Nested `message/rfc822` parts are attachments, so their
headers can never leak into decisions about the outer message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from app.mail.charsets import decode_bytes, safe_filename, storable_text
from app.mail.models import AttachmentMeta

MAX_MIME_DEPTH = 20
MAX_MESSAGE_ID_LENGTH = 998

_MESSAGE_ID_LINE = re.compile(rb"(?im)^message-id[ \t]*:(.*(?:\r?\n[ \t].*)*)")
_MSG_ID_TOKEN = re.compile(r"<[^<>\s]{1,990}>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def header_block(raw: bytes) -> bytes:
    """Return the header section of a message (everything before the first empty line)."""
    match = _HEADER_END.search(raw)
    return raw if match is None else raw[: match.start()]


def find_message_id(headers: bytes) -> str | None:
    """Find the Message-ID in a header block cheaply, without a full parse.

    Returns the `<...>` token, or None when the header is missing, empty or malformed.
    """
    match = _MESSAGE_ID_LINE.search(headers)
    if match is None:
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


def parse_mime(raw: bytes) -> ParsedMime:
    """Parse a complete message into headers, bodies and attachment metadata."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    parsed = ParsedMime(content_type=message.get_content_type())
    parsed.headers = read_headers(message, parsed.defects)
    parsed.subject = first_header(parsed.headers, "subject")
    parsed.date = _parse_date(first_header(parsed.headers, "date"))
    _walk_body(message, parsed)
    parsed.defects.extend(type(defect).__name__ for defect in message.defects)
    return parsed


def parse_header_block(block: bytes) -> list[tuple[str, str]]:
    """Parse a bare header block (SendGrid's parsed-mode `headers` field) into decoded pairs."""
    message = BytesParser(policy=policy.default).parsebytes(block.rstrip(b"\r\n") + b"\r\n\r\n")
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
        pairs.append((storable_text(name), storable_text(_unescape_8bit(value))))
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


def _parse_date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return date.astimezone(UTC) if date.tzinfo else date.replace(tzinfo=UTC)


def _walk_body(message: EmailMessage, parsed: ParsedMime) -> None:
    """Find the first text and HTML bodies and list attachments, iteratively and depth-capped."""
    stack: list[tuple[Message, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        # A nested message is an attachment: its headers and body belong to someone else.
        if part.is_multipart() and part.get_content_maintype() != "message":
            if depth >= MAX_MIME_DEPTH:
                parsed.defects.append("MIME nesting too deep; inner parts ignored")
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(
                    (child, depth + 1) for child in reversed(payload) if isinstance(child, Message)
                )
            continue
        _read_leaf(part, parsed)


def _read_leaf(part: Message, parsed: ParsedMime) -> None:
    content_type = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    filename = part.get_filename()
    is_body_candidate = (
        content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and filename is None
    )
    if is_body_candidate:
        text = storable_text(_decoded_text(part, parsed))
        if content_type == "text/plain" and not parsed.text:
            parsed.text = text
            return
        if content_type == "text/html" and not parsed.html:
            parsed.html = text
            return
    payload = _payload_bytes(part, parsed)
    content_id = part.get("Content-ID")
    parsed.attachments.append(
        AttachmentMeta(
            filename=safe_filename(filename or ""),
            content_type=content_type,
            size=len(payload),
            content_id=storable_text(str(content_id)).strip("<> ") if content_id else None,
            is_inline=disposition == "inline"
            or (content_id is not None and disposition != "attachment"),
        )
    )


def _payload_bytes(part: Message, parsed: ParsedMime) -> bytes:
    if part.get_content_type() == "message/rfc822" or part.get_content_maintype() == "message":
        inner = part.get_payload()
        if isinstance(inner, list):
            return b"".join(m.as_bytes() for m in inner if isinstance(m, Message))
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:
        parsed.defects.append(f"undecodable part: {type(exc).__name__}")
        return b""
    return payload if isinstance(payload, bytes) else b""


def _decoded_text(part: Message, parsed: ParsedMime) -> str:
    return decode_bytes(_payload_bytes(part, parsed), part.get_content_charset())
