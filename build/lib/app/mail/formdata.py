"""A small, strict `multipart/form-data` reader over bytes already in memory.

Why not Starlette's `request.form()`: it refuses any field over 1 MB by default (a raw-mode email
is one field, and SendGrid drops mail on a 4xx), decodes non-UTF-8 fields as latin-1 (losing the
charsets SendGrid names), and costs far more per request than slicing a buffer we already hold
for the signature check. Values stay bytes; decoding is the caller's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

_BOUNDARY_PARAM = re.compile(
    r'(?:^|[;\s])boundary\s*=\s*(?:"([^"]{1,200})"|([^\s;,"]{1,200}))', re.IGNORECASE
)
_SIMPLE_FIELD = re.compile(
    rb'Content-Disposition: form-data; name="([A-Za-z0-9_.-]{1,100})"\r\n\r\n'
)
_PARAM = re.compile(rb';\s*([A-Za-z0-9_*.-]+)\s*=\s*("(?:[^"]*)"|[^;]*)')


class FormDataError(ValueError):
    """The body is not well-formed multipart/form-data; the message says why."""


@dataclass(frozen=True, slots=True)
class FormPart:
    """One form part: a field (`filename is None`) or an uploaded file."""

    name: str
    value: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class FormData:
    """The parts of a form in wire order, with lookups by field name."""

    parts: tuple[FormPart, ...]

    def get(self, name: str) -> bytes | None:
        """Return the first non-file field called `name`, or None."""
        for part in self.parts:
            if part.name == name and part.filename is None:
                return part.value
        return None

    def count(self, name: str) -> int:
        """Return how many parts carry `name` (duplicates are a sign of a broken request)."""
        return sum(1 for part in self.parts if part.name == name)

    def files(self) -> list[FormPart]:
        """Return the file parts in wire order."""
        return [part for part in self.parts if part.filename is not None]


def boundary_from_content_type(content_type: str) -> str:
    """Return the multipart boundary named in a Content-Type header value."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "multipart/form-data":
        raise FormDataError(f"expected multipart/form-data, got {media_type or 'no content type'}")
    match = _BOUNDARY_PARAM.search(content_type)
    if match is None:
        raise FormDataError("multipart/form-data without a boundary")
    return match.group(1) or match.group(2)


def parse_form_data(body: bytes, content_type: str, *, max_parts: int) -> FormData:
    """Split a multipart/form-data body into its parts.

    Raises:
        FormDataError: when the content type, a delimiter or a part header is malformed, the
            closing delimiter is missing, or there are more than `max_parts` parts.
    """
    delimiter = b"--" + boundary_from_content_type(content_type).encode("ascii", "replace")
    # The body may start with a preamble; the first delimiter need not follow a line break.
    start = body.find(delimiter)
    if start < 0:
        raise FormDataError("the boundary never occurs in the body")
    separator = b"\r\n" + delimiter
    position = start + len(delimiter)
    parts: list[FormPart] = []
    while True:
        if body.startswith(b"--", position):
            return FormData(tuple(parts))
        if b"--".startswith(body[position : position + 2]):
            # The body ends right after a delimiter, or one dash into the closing "--".
            raise FormDataError("the closing delimiter is missing (truncated body?)")
        if not body.startswith(b"\r\n", position):
            raise FormDataError("a delimiter is not followed by a line break")
        end = body.find(separator, position + 2)
        if end < 0:
            raise FormDataError("the closing delimiter is missing (truncated body?)")
        if len(parts) >= max_parts:
            raise FormDataError(f"more than {max_parts} parts")
        parts.append(_parse_part(body, position + 2, end))
        position = end + len(separator)


def _parse_part(body: bytes, start: int, end: int) -> FormPart:
    # Nearly every field SendGrid posts has exactly this one header line; matching it whole is
    # several times cheaper than the general parse below, and this runs on every webhook call.
    simple = _SIMPLE_FIELD.match(body, start, end)
    if simple is not None:
        return FormPart(
            name=simple.group(1).decode("utf-8", "replace"), value=body[simple.end() : end]
        )
    header_end = body.find(b"\r\n\r\n", start, end)
    if header_end < 0:
        # A part with no headers at all cannot name its field.
        raise FormDataError("a part has no header block")
    disposition = b""
    content_type: str | None = None
    for line in body[start:header_end].split(b"\r\n"):
        key, colon, value = line.partition(b":")
        if not colon:
            raise FormDataError("a part header line has no colon")
        key = key.strip().lower()
        if key == b"content-disposition":
            disposition = value.strip()
        elif key == b"content-type":
            content_type = value.strip().decode("latin-1")
    if not disposition.lower().startswith(b"form-data"):
        raise FormDataError("a part is not form-data")
    params = _disposition_params(disposition)
    name = params.get("name")
    if name is None:
        raise FormDataError("a part has no name")
    return FormPart(
        name=name,
        value=body[header_end + 4 : end],
        filename=params.get("filename"),
        content_type=content_type,
    )


def _disposition_params(disposition: bytes) -> dict[str, str]:
    r"""Parse Content-Disposition parameters the way browsers write them.

    Browsers and SendGrid do not backslash-escape inside quoted values (a quote becomes %22), so a
    filename such as `"path\\"` is the literal `path\\`; treating the backslash as an escape would
    swallow the closing quote.
    """
    params: dict[str, str] = {}
    for match in _PARAM.finditer(disposition):
        key = match.group(1).decode("ascii").lower()
        raw = match.group(2).strip()
        if raw.startswith(b'"') and raw.endswith(b'"') and len(raw) >= 2:
            raw = raw[1:-1]
        if key.endswith("*"):
            # RFC 5987 extended value: charset'language'percent-encoded.
            charset, _, rest = raw.partition(b"'")
            _, _, encoded = rest.partition(b"'")
            value = unquote_to_bytes(encoded)
            try:
                params[key[:-1]] = value.decode(charset.decode("ascii") or "utf-8", "replace")
            except (LookupError, ValueError):
                # An unknown or non-ASCII charset name, or a codec such as idna that refuses
                # "replace" (UnicodeError is a ValueError): the value is most likely UTF-8.
                params[key[:-1]] = value.decode("utf-8", "replace")
            continue
        params.setdefault(key, raw.decode("utf-8", "replace"))
    return params
