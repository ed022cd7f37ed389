"""From a provider's pieces to the one `InboundEmail`: shared by every adapter.

Raw MIME (the best a provider can give: byte-exact) goes through `email_from_raw`; a provider
that posts its own parsed fields builds a `ParsedMime` and calls `build_email`. Dedupe keys come
from `raw_delivery` or `fields_delivery`, never from anything that changes between retries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.utils import getaddresses

from app.mail.adapter import Delivery, UnusableEmail
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import decode_bytes, storable_as_written, storable_text
from app.mail.cleantext import clean_text
from app.mail.identity import single_mailbox
from app.mail.mime import (
    MAX_MESSAGE_ID_LENGTH,
    ParsedMime,
    content_checksum,
    find_message_id,
    first_header,
    header_block,
    parse_message_ids,
    parse_mime,
    synthetic_message_id,
)
from app.mail.models import AuthResults, InboundEmail, Mailbox

# A From header line and its folded continuations; line breaks may be CRLF, LF or a lone CR.
_FROM_LINE = re.compile(
    rb"(?i)(?:\A|(?<=[\r\n]))from[ \t]*:([^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*)"
)
_FOLD = re.compile(rb"(?:\r\n|\r|\n)(?=[ \t])")


def delivery_keys(
    payload_format: str, checksum: str, message_id: str | None, recipients: Iterable[str] = ()
) -> Delivery:
    """A `Delivery`, with a synthetic Message-ID (from the checksum) when there is none usable."""
    wanted = tuple(dict.fromkeys(r.strip().lower() for r in recipients if r and "@" in r))
    if message_id is None or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return Delivery(payload_format, checksum, synthetic_message_id(checksum), True, wanted)
    return Delivery(payload_format, checksum, message_id, False, wanted)


def raw_delivery(raw: bytes, payload_format: str, recipients: Iterable[str] = ()) -> Delivery:
    """Dedupe keys of a raw MIME email: its checksum and its Message-ID header."""
    return delivery_keys(
        payload_format, content_checksum(raw), find_message_id(header_block(raw)), recipients
    )


def fields_checksum(fields: Iterable[tuple[str, bytes]]) -> str:
    """Checksum named content fields in a stable order (independent of the request's layout)."""
    pieces = sorted(fields)
    digest_input = b"".join(
        b"%s\x00%d\x00%s" % (name.encode("utf-8", "replace"), len(value), value)
        for name, value in pieces
    )
    return content_checksum(digest_input)


def from_raw(raw: bytes, ceilings: MimeCeilings) -> tuple[ParsedMime, list[str]]:
    """Parse raw MIME, and return its From header values as written.

    Raises:
        UnusableEmail: the email is empty or has no header section.
        OverCeiling: the email crosses one of `ceilings`.
    """
    if not raw.strip():
        raise UnusableEmail("the email is empty")
    block = header_block(raw)
    if not block.strip() or b":" not in block:
        raise UnusableEmail("the email has no header section")
    return parse_mime(raw, ceilings), raw_from_values(block)


def raw_from_values(block: bytes) -> list[str]:
    """Return every From header's raw value (unfolded), so identity sees duplicates too.

    The values are decoded but neither cleaned nor normalised: identity refuses a header whose
    text would change on the way to the database, and compares the address as it was written.
    """
    values: list[str] = []
    for match in _FROM_LINE.finditer(block):
        raw = _FOLD.sub(b"", match.group(1)).strip()
        values.append(decode_bytes(raw, "utf-8"))
    return values


def mailboxes(value: str) -> tuple[Mailbox, ...]:
    """Every address in a header value (display names cleaned, addresses lower-cased)."""
    try:
        found = getaddresses([value]) if value else []
    except RecursionError:
        # Comments nested hundreds deep: nothing to display.
        return ()
    return tuple(
        Mailbox(name=storable_text(name), address=storable_text(address.lower()))
        for name, address in found
        if "@" in address
    )


def sender_of(raw_from: list[str], defects: list[str]) -> Mailbox | None:
    """The one trustworthy sender of the From values (`single_mailbox`), or None."""
    try:
        return single_mailbox(raw_from)
    except RecursionError:
        # The stdlib address parsers recurse once per nested comment: "((((...)))) a@b".
        defects.append("From header nested too deep; no sender")
        return None


def build_email(
    mime: ParsedMime,
    raw_from: list[str],
    delivery: Delivery,
    *,
    envelope_from: str | None = None,
    envelope_to: tuple[str, ...] = (),
    auth: AuthResults | None = None,
    defects: Iterable[str] = (),
) -> InboundEmail:
    """The provider-neutral email from parsed MIME and what the provider told us around it."""
    found_defects = list(defects)
    headers = tuple(mime.headers)
    sender = sender_of(raw_from, found_defects)
    return InboundEmail(
        message_id=delivery.message_id,
        has_synthetic_message_id=delivery.has_synthetic_message_id,
        in_reply_to=parse_message_ids(first_header(headers, "in-reply-to")),
        references=parse_message_ids(first_header(headers, "references")),
        from_header=storable_as_written(raw_from[0]) if raw_from else "",
        from_=sender,
        reply_to=mailboxes(first_header(headers, "reply-to")),
        to=mailboxes(first_header(headers, "to")),
        cc=mailboxes(first_header(headers, "cc")),
        envelope_from=storable_text(envelope_from.strip().strip("<>").strip().lower())
        if envelope_from is not None
        else None,
        envelope_to=tuple(storable_text(a.strip().lower()) for a in envelope_to),
        subject=mime.subject,
        date=mime.date,
        content_type=mime.content_type,
        text=mime.text,
        html=mime.html,
        clean_text=clean_text(text=mime.text, html=mime.html),
        headers=headers,
        attachments=tuple(mime.attachments),
        auth=auth or AuthResults(),
        defects=tuple(mime.defects + found_defects),
    )


def email_from_raw(
    raw: bytes,
    delivery: Delivery,
    ceilings: MimeCeilings,
    *,
    envelope_from: str | None = None,
    envelope_to: tuple[str, ...] = (),
    auth: AuthResults | None = None,
    defects: Iterable[str] = (),
) -> InboundEmail:
    """Parse raw MIME into the email (see `from_raw` for what it raises)."""
    mime, raw_from = from_raw(raw, ceilings)
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        auth=auth,
        defects=defects,
    )
