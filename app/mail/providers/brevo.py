"""Brevo inbound parsing webhook: emails as JSON `{"items": [...]}`, Basic credentials in the URL.

Each item is one email as Brevo parsed it: Uuid, MessageId, InReplyTo, From/To/Cc/ReplyTo as
{Name, Address}, SentAtDate, Subject, the headers as a map (a list where a header repeats),
RawTextBody and RawHtmlBody, ExtractedMarkdownMessage (Brevo's own reply extraction; our
cleaner works from the bodies instead), SpamScore, and Attachments.

Attachments arrive as metadata (Name, ContentType, ContentLength, ContentID) with a
DownloadToken for their bytes (`GET /v3/inbound/attachments/{token}` with BREVO_API_KEY). We
keep only attachments' metadata, all of which is in the post, so nothing is ever fetched and the
API key is not needed for inbound mail. Brevo reports no SPF or DKIM result, so its senders are
never verified: their mail is drafted for staff. Brevo's transactional and marketing webhooks
(`{"event": "delivered", ...}`) posted here are acknowledged, never stored.

A post normally carries one item. One with several cannot be one stored delivery: it is kept
quarantined whole, for staff, rather than answered in part.
"""

from __future__ import annotations

from typing import Any

from app.mail.adapter import Delivery, InboundAdapter, InboundRequest, NotAnEmail, ReadError
from app.mail.ceilings import MimeCeilings
from app.mail.jsonmail import (
    PostedEmail,
    attachment,
    finite_number,
    header_pairs,
    json_checksum,
    load_json,
    mailbox_header,
    only_value,
    parse_posted,
    text_of,
)
from app.mail.mime import find_message_id
from app.mail.models import AuthResults, InboundEmail
from app.mail.normalise import build_email, delivery_keys

PROVIDER = "brevo"
FORMAT_PARSED = "brevo-parsed"
# Brevo's id of this delivery, not part of the email.
_TRANSPORT_FIELDS = frozenset({"Uuid"})


def _item(body: bytes) -> dict[str, Any] | NotAnEmail:
    """The one email item of a post, or the other event the post is."""
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise ReadError("not a JSON object")
    if "items" not in payload:
        event = payload.get("event")
        return NotAnEmail(kind=event[:60] if isinstance(event, str) and event else "unknown")
    items = payload["items"]
    if not isinstance(items, list):
        raise ReadError("items is not a list")
    if not items:
        return NotAnEmail(kind="empty")
    if len(items) > 1:
        raise ReadError(f"a batch of {len(items)} emails in one post; kept whole for staff")
    item = items[0]
    if not isinstance(item, dict):
        raise ReadError("the item is not a JSON object")
    return item


def read_delivery(item: dict[str, Any]) -> Delivery:
    """The dedupe keys and recipients of one item."""
    pairs = header_pairs(item.get("Headers"))
    message_id = item.get("MessageId")
    if not isinstance(message_id, str):
        message_id = only_value(pairs, "Message-ID") or ""
    found = find_message_id(b"Message-ID: " + message_id.encode("utf-8", "replace"))
    return delivery_keys(
        FORMAT_PARSED, json_checksum(item, _TRANSPORT_FIELDS), found, _recipients(item, pairs)
    )


def _recipients(item: dict[str, Any], pairs: list[tuple[str, str]]) -> list[str]:
    # Delivered-To names the envelope recipient: the address the mail actually came to.
    delivered = [
        value.strip().strip("<>") for name, value in pairs if name.lower() == "delivered-to"
    ]
    if delivered:
        return delivered
    found: list[str] = []
    for key in ("Recipients", "To", "Cc"):
        entries = item.get(key)
        for entry in entries if isinstance(entries, list) else []:
            address = entry.get("Address") if isinstance(entry, dict) else entry
            if isinstance(address, str):
                found.append(address)
    return found


def parse_item(item: dict[str, Any], delivery: Delivery, ceilings: MimeCeilings) -> InboundEmail:
    """The email of one item.

    Raises:
        UnusableEmail: no headers, sender or content at all.
        OverCeiling: the headers cross one of `ceilings`.
    """
    pairs = header_pairs(item.get("Headers"))
    posted = PostedEmail(
        headers=list(pairs),
        text=text_of(item.get("RawTextBody")),
        html=text_of(item.get("RawHtmlBody")),
    )
    # The headers map holds these too; the fields fill in when it does not.
    sender = item.get("From")
    if isinstance(sender, dict):
        posted.add_missing("From", mailbox_header(sender.get("Name"), sender.get("Address")))
    for name, key in (("To", "To"), ("Cc", "Cc"), ("Reply-To", "ReplyTo")):
        posted.add_missing(name, _mailboxes(item.get(key)))
    posted.add_missing("Subject", item.get("Subject"))
    posted.add_missing("Date", item.get("SentAtDate"))
    posted.add_missing("Message-ID", item.get("MessageId"))
    posted.add_missing("In-Reply-To", item.get("InReplyTo"))
    attachments = item.get("Attachments")
    for entry in attachments if isinstance(attachments, list) else []:
        if isinstance(entry, dict):
            posted.attachments.append(
                attachment(
                    entry.get("Name"),
                    entry.get("ContentType"),
                    entry.get("ContentLength"),
                    entry.get("ContentID"),
                )
            )
    mime, raw_from = parse_posted(posted, ceilings)
    return_path = only_value(pairs, "Return-Path")
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=return_path,
        envelope_to=tuple(_recipients({}, pairs)),
        auth=AuthResults(spam_score=finite_number(item.get("SpamScore"))),
        defects=posted.defects,
    )


def _mailboxes(value: object) -> str | None:
    entries = value if isinstance(value, list) else [value]
    written = [
        mailbox_header(entry.get("Name"), entry.get("Address"))
        for entry in entries
        if isinstance(entry, dict)
    ]
    return ", ".join(w for w in written if w) or None


class BrevoAdapter(InboundAdapter):
    """Brevo's inbound parsing webhook; Basic credentials in the URL (the default check)."""

    name = PROVIDER

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """Dedupe keys and recipients of the post's one item (`read_delivery`)."""
        item = _item(request.body)
        return item if isinstance(item, NotAnEmail) else read_delivery(item)

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """The stored post's item as an email (`parse_item`)."""
        item = _item(raw)
        if isinstance(item, NotAnEmail):
            raise ReadError(f"the stored post is a {item.kind} event, not an email")
        return parse_item(item, delivery, ceilings)


ADAPTER = BrevoAdapter()
