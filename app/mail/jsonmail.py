"""Emails a provider posts as its own parsed JSON fields, to the pieces `build_email` needs.

Postmark, Brevo and Resend's API describe an email as JSON: a list or map of headers, a few
fields lifted out of them (From, Subject...), the bodies as text, and attachments' metadata. Here
those become one header block, parsed exactly as a raw email's would be (encoded words, ceilings),
so every adapter reads them the same way. A header value never spans lines: a line break inside
a JSON value cannot smuggle in a header of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.mail.adapter import ReadError, UnusableEmail
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import safe_filename, storable_text
from app.mail.mime import ParsedMime, first_header, parse_date, parse_header_block
from app.mail.models import AttachmentMeta
from app.mail.normalise import fields_checksum, raw_from_values

# RFC 5322 §3.6.8: a field name is printable ASCII except the colon.
_FIELD_NAME = re.compile(r"[!-9;-~]{1,200}")
_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")
_QUOTED_SPECIALS = re.compile(r'(["\\])')


@dataclass
class PostedEmail:
    """An email as a provider's JSON describes it (before any parsing)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[AttachmentMeta] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def add_missing(self, name: str, value: str | None) -> None:
        """Add a header the provider lifted out of the list, unless the list has it already."""
        if not value or not isinstance(value, str):
            return
        wanted = name.lower()
        if not any(key.lower() == wanted for key, _ in self.headers):
            self.headers.append((name, value))


def load_json(body: bytes) -> Any:
    """The JSON document in a body.

    Raises:
        ReadError: the body is not JSON (or nests deeper than the parser can go).
    """
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ReadError(f"not JSON: {type(exc).__name__}") from exc


def json_checksum(payload: Mapping[str, Any], exclude: Iterable[str] = ()) -> str:
    """Checksum the content fields of a JSON object, independent of their order and spacing.

    Raises:
        ReadError: a value nests too deep to serialise.
    """
    skipped = frozenset(exclude)
    try:
        pieces = [(key, _canonical(value)) for key, value in payload.items() if key not in skipped]
    except RecursionError as exc:
        raise ReadError("JSON nested too deep") from exc
    return fields_checksum(pieces)


def _canonical(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # Lone surrogates from `\ud800` escapes are kept as they were sent.
    return text.encode("utf-8", "surrogatepass")


def text_of(value: object) -> str:
    """A JSON string as storable text; anything else is empty."""
    return storable_text(value) if isinstance(value, str) else ""


def mailbox_header(name: object, address: object) -> str | None:
    """`"Name" <address>` (or the bare address) from a provider's {name, address} object.

    The name is quoted, so its commas, brackets and at signs stay part of the name, where
    identity still sees them.
    """
    if not isinstance(address, str) or not address.strip():
        return None
    address = _LINE_BREAKS.sub(" ", address).strip()
    if not isinstance(name, str) or not name.strip():
        return address
    quoted = _QUOTED_SPECIALS.sub(r"\\\1", _LINE_BREAKS.sub(" ", name).strip())
    return f'"{quoted}" <{address}>'


def attachment(
    filename: object,
    content_type: object,
    size: object,
    content_id: object = None,
    *,
    inline: bool | None = None,
) -> AttachmentMeta:
    """An attachment's metadata from a provider's fields, whatever their JSON types."""
    cid = content_id.strip().strip("<>").strip() if isinstance(content_id, str) else ""
    # The media type alone, as a raw email's parts give it: parameters are no metadata we keep.
    kind = content_type.split(";", 1)[0].strip().lower() if isinstance(content_type, str) else ""
    return AttachmentMeta(
        filename=safe_filename(filename if isinstance(filename, str) else ""),
        content_type=storable_text(kind or "application/octet-stream"),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0,
        content_id=storable_text(cid) or None,
        is_inline=bool(cid) if inline is None else inline,
    )


def parse_posted(posted: PostedEmail, ceilings: MimeCeilings) -> tuple[ParsedMime, list[str]]:
    """Parse the posted headers as a header block; return the email's parts and its From values.

    Raises:
        UnusableEmail: no headers, sender or content at all.
        OverCeiling: the headers cross one of `ceilings`.
    """
    block = _header_block(posted.headers, posted.defects)
    headers = parse_header_block(block, ceilings) if block else []
    raw_from = raw_from_values(block)
    if not headers and not (posted.text or posted.html or posted.attachments):
        raise UnusableEmail("the post holds no headers, sender or content")
    mime = ParsedMime(
        headers=headers,
        subject=first_header(headers, "subject"),
        date=parse_date(first_header(headers, "date")),
        content_type=_content_type_of(headers),
        text=storable_text(posted.text),
        html=storable_text(posted.html),
        attachments=list(posted.attachments),
    )
    return mime, raw_from


def _header_block(pairs: list[tuple[str, str]], defects: list[str]) -> bytes:
    lines: list[bytes] = []
    for name, value in pairs:
        if not _FIELD_NAME.fullmatch(name):
            defects.append(f"header name not usable: {storable_text(name)[:60]!r}")
            continue
        one_line = _LINE_BREAKS.sub(" ", value).strip()
        lines.append(f"{name}: {one_line}".encode("utf-8", "surrogatepass"))
    return b"\r\n".join(lines)


def _content_type_of(headers: list[tuple[str, str]]) -> str:
    value = first_header(headers, "content-type")
    return value.split(";", 1)[0].strip().lower() or "text/plain"


def header_pairs(value: object) -> list[tuple[str, str]]:
    """Headers from a list of {Name, Value} / {name, value} objects or a map of name to value(s).

    Entries that are not strings are skipped: a header is a name and a text.
    """
    pairs: list[tuple[str, str]] = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                continue
            name = item.get("Name", item.get("name"))
            text = item.get("Value", item.get("value"))
            if isinstance(name, str) and isinstance(text, str):
                pairs.append((name, text))
    elif isinstance(value, dict):
        for name, values in value.items():
            for text in values if isinstance(values, list) else [values]:
                if isinstance(text, str):
                    pairs.append((name, text))
    return pairs


def only_value(pairs: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of a header that occurs exactly once, or None (absent or repeated)."""
    wanted = name.lower()
    values = [value for key, value in pairs if key.lower() == wanted]
    return values[0] if len(values) == 1 else None


def finite_number(value: object) -> float | None:
    """A JSON number or numeric string as a finite float, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if number == number and abs(number) != float("inf") else None
