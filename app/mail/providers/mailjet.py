"""Mailjet Parse API: a received email posted as JSON to the parse route's URL.

Mailjet posts no raw MIME, only what it parsed: `Headers` (a map; a repeated header's values as
a list), `Parts` (each part's headers and the `ContentRef` naming the field that holds it:
`Text-part`, `Html-part`, `Attachment1`, `InlineAttachment1`...; attachments always base64),
the envelope's `Sender` and `Recipient`, and `SpamAssassinScore`.

Authentication: Basic credentials in the route's URL, as Mailjet advises (it signs nothing), so
the headers decide before the body is read. Mailjet reports no SPF or DKIM result: a sender
reached through Mailjet is never verified and its mail is drafted for staff. Mailjet's event
webhooks (sent, open, bounce...) posted here are acknowledged and ignored.
"""

from __future__ import annotations

from email.message import Message
from typing import Any

from app.mail.adapter import Delivery, InboundAdapter, InboundRequest, NotAnEmail, ReadError
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import storable_text
from app.mail.jsonmail import (
    PostedEmail,
    attachment,
    finite_number,
    header_pairs,
    json_checksum,
    load_json,
    parse_posted,
    text_of,
)
from app.mail.mime import base64_size, find_message_id
from app.mail.models import AttachmentMeta, AuthResults, InboundEmail
from app.mail.normalise import build_email, delivery_keys

PROVIDER = "mailjet"
FORMAT_PARSE = "mailjet-parse"

# Fields of a Parse API payload; an object with none of them is not an email.
_EMAIL_FIELDS = ("Headers", "Parts", "Text-part", "Html-part", "From", "Subject")
# What describes one delivery of the email rather than the email: out of the dedupe checksum.
_TRANSPORT_FIELDS = ("Sender", "Recipient", "SpamAssassinScore", "CustomID", "Payload")


def read_payload(payload: object) -> Delivery | NotAnEmail:
    """The email's dedupe keys and envelope recipients, or the event(s) it is instead.

    Raises:
        ReadError: neither a Parse API email nor Mailjet events.
    """
    if isinstance(payload, list):
        # Mailjet's event webhook groups events into an array when asked to.
        kinds = [item.get("event") for item in payload if isinstance(item, dict)]
        if payload and len(kinds) == len(payload) and all(isinstance(k, str) for k in kinds):
            return NotAnEmail(kind=f"event {storable_text(str(kinds[0]))[:60]}")
        raise ReadError("a JSON array that is not Mailjet events")
    if not isinstance(payload, dict):
        raise ReadError("the JSON body is not an object")
    if not any(name in payload for name in _EMAIL_FIELDS):
        if isinstance(payload.get("event"), str):
            return NotAnEmail(kind=f"event {storable_text(payload['event'])[:60]}")
        raise ReadError("not a Parse API payload (no Headers, Parts or bodies)")
    message_id = None
    for name, value in header_pairs(payload.get("Headers")):
        if name.lower() == "message-id":
            message_id = find_message_id(f"Message-ID: {value}".encode("utf-8", "replace"))
            break
    checksum = json_checksum(payload, exclude=_TRANSPORT_FIELDS)
    return delivery_keys(FORMAT_PARSE, checksum, message_id, _recipients(payload))


def _recipients(payload: dict[str, Any]) -> tuple[str, ...]:
    value = text_of(payload.get("Recipient"))
    return tuple(r.strip().lower() for r in value.split(",") if "@" in r)


def parse_payload(payload: object, delivery: Delivery, ceilings: MimeCeilings) -> InboundEmail:
    """The email in a Parse API payload.

    Raises:
        ReadError: the payload is not a Parse API email.
        UnusableEmail: it holds no headers, sender or content.
        OverCeiling: its headers cross one of `ceilings`.
    """
    found = read_payload(payload)
    if isinstance(found, NotAnEmail) or not isinstance(payload, dict):
        raise ReadError("not a Parse API email")
    defects: list[str] = []
    posted = PostedEmail(
        headers=header_pairs(payload.get("Headers")),
        text=text_of(payload.get("Text-part")),
        html=text_of(payload.get("Html-part")),
        defects=defects,
    )
    # Mailjet lifts these out of the headers; they stand in only when the map lacks them.
    posted.add_missing("From", text_of(payload.get("From")))
    posted.add_missing("Subject", text_of(payload.get("Subject")))
    parts = payload.get("Parts")
    for part in parts if isinstance(parts, list) else []:
        found_attachment = _attachment(part, payload)
        if found_attachment is not None:
            posted.attachments.append(found_attachment)
    mime, raw_from = parse_posted(posted, ceilings)
    sender = payload.get("Sender")
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=sender if isinstance(sender, str) else None,
        envelope_to=_recipients(payload),
        auth=AuthResults(spam_score=finite_number(payload.get("SpamAssassinScore"))),
        defects=defects,
    )


def _attachment(part: object, payload: dict[str, Any]) -> AttachmentMeta | None:
    """An `AttachmentN` / `InlineAttachmentN` part's metadata; None for the body parts."""
    if not isinstance(part, dict) or not isinstance(part.get("ContentRef"), str):
        return None
    ref = part["ContentRef"]
    if not ref.startswith(("Attachment", "InlineAttachment")):
        return None
    headers = Message()
    for name, value in header_pairs(part.get("Headers")):
        if name.lower() in ("content-type", "content-disposition", "content-id"):
            # One line each: the values only feed the parameter parser below.
            headers[name] = " ".join(value.split())
    content = payload.get(ref)
    size = base64_size(content) if isinstance(content, str) else None
    return attachment(
        _filename(headers),
        headers.get_content_type(),
        size,
        headers.get("Content-ID"),
        inline=ref.startswith("InlineAttachment"),
    )


def _filename(headers: Message) -> str | None:
    try:
        name = headers.get_filename()
    except (ValueError, LookupError, IndexError):
        # Parameters broken beyond what the stdlib's lenient parser tolerates.
        return None
    return name if isinstance(name, str) else None


class MailjetAdapter(InboundAdapter):
    """Mailjet's Parse API; Basic credentials in the route's URL (the default check)."""

    name = PROVIDER

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """The email's keys (`read_payload`)."""
        return read_payload(load_json(request.body))

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """Parse the stored payload (`parse_payload`)."""
        return parse_payload(load_json(raw), delivery, ceilings)


ADAPTER = MailjetAdapter()
