"""Postmark inbound webhook: one email as JSON, authenticated by Basic credentials in its URL.

Postmark posts its parsed fields (FromFull, To, Cc, Subject, Date, TextBody, HtmlBody, a Headers
list, Attachments with base64 Content) and, when the server's "Include raw email content in JSON
payload" setting is on, the whole message as `RawEmail`: that is parsed instead, byte-exact.

Postmark checks SPF when it receives the mail and adds its own `Received-SPF` header (with the
envelope sender in `envelope-from=`) and SpamAssassin's `X-Spam-*` headers to the Headers list.
The SPF result is believed only when the list holds exactly one Received-SPF header for the
`mailfrom` identity: a second one means the sender wrote one too, and then neither is believed.
Postmark reports no DKIM result. Its other webhooks (Bounce, Delivery, Open, Click,
SpamComplaint, SubscriptionChange) carry a `RecordType` and are acknowledged, never stored.
"""

from __future__ import annotations

import re
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
from app.mail.models import AttachmentMeta, AuthResults, InboundEmail
from app.mail.normalise import build_email, delivery_keys, from_raw, raw_delivery

PROVIDER = "postmark"
FORMAT_RAW = "postmark-raw"
FORMAT_PARSED = "postmark-parsed"

# Fields about this delivery rather than the email: left out of the dedupe checksum.
_TRANSPORT_FIELDS = frozenset({"MessageID", "MessageStream", "Tag"})
_SPF_RESULTS = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"})
# RFC 7208 §9.1: `result (comment) key=value; key=value`; comments are dropped before reading.
_SPF_COMMENT = re.compile(r"\([^()]*\)")
_SPF_PARAM = re.compile(r"(?:^|[;\s])([a-z-]+)=([^;\s]*)", re.IGNORECASE)
_ADDRESS_KEYS = ("ToFull", "CcFull", "BccFull")


def _payload(body: bytes) -> dict[str, Any]:
    loaded = load_json(body)
    if not isinstance(loaded, dict):
        raise ReadError("not a JSON object")
    return loaded


def _raw_email(payload: dict[str, Any]) -> bytes | None:
    raw = payload.get("RawEmail")
    if not isinstance(raw, str) or not raw.strip():
        return None
    # RawEmail is the message as text; a lone surrogate (a `\udxxx` escape) is kept, not refused.
    return raw.encode("utf-8", "surrogatepass")


def read_delivery(payload: dict[str, Any]) -> Delivery | NotAnEmail:
    """The dedupe keys and recipients of an inbound post, or the other event it is."""
    record_type = payload.get("RecordType", "Inbound")
    if record_type != "Inbound":
        return NotAnEmail(kind=str(record_type)[:60] if record_type else "unknown")
    recipients = _recipients(payload)
    raw = _raw_email(payload)
    if raw is not None:
        return raw_delivery(raw, FORMAT_RAW, recipients)
    pairs = header_pairs(payload.get("Headers"))
    message_id = only_value(pairs, "Message-ID") or ""
    found = find_message_id(b"Message-ID: " + message_id.encode("utf-8", "replace"))
    checksum = json_checksum(payload, _TRANSPORT_FIELDS)
    return delivery_keys(FORMAT_PARSED, checksum, found, recipients)


def _recipients(payload: dict[str, Any]) -> list[str]:
    # OriginalRecipient is the envelope's recipient: the address the mail was delivered to.
    original = payload.get("OriginalRecipient")
    if isinstance(original, str) and "@" in original:
        return [original]
    found: list[str] = []
    for key in _ADDRESS_KEYS:
        entries = payload.get(key)
        for entry in entries if isinstance(entries, list) else []:
            email = entry.get("Email") if isinstance(entry, dict) else None
            if isinstance(email, str):
                found.append(email)
    return found


def parse_payload(
    payload: dict[str, Any], delivery: Delivery, ceilings: MimeCeilings
) -> InboundEmail:
    """The email of an inbound post: from RawEmail when present, from the fields otherwise.

    Raises:
        UnusableEmail: no headers, sender or content at all.
        OverCeiling: the email crosses one of `ceilings`.
    """
    defects: list[str] = []
    pairs = header_pairs(payload.get("Headers"))
    auth, envelope_from = _auth_results(pairs, defects)
    raw = _raw_email(payload)
    if raw is not None:
        mime, raw_from = from_raw(raw, ceilings)
    else:
        posted = _posted(payload, pairs)
        mime, raw_from = parse_posted(posted, ceilings)
        defects += posted.defects
    original = payload.get("OriginalRecipient")
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=envelope_from,
        envelope_to=(original,) if isinstance(original, str) and "@" in original else (),
        auth=auth,
        defects=defects,
    )


def _posted(payload: dict[str, Any], pairs: list[tuple[str, str]]) -> PostedEmail:
    posted = PostedEmail(
        headers=list(pairs),
        text=text_of(payload.get("TextBody")),
        html=text_of(payload.get("HtmlBody")),
    )
    # Postmark lifts these out of the Headers list into fields of their own.
    sender = payload.get("FromFull")
    if isinstance(sender, dict):
        posted.add_missing("From", mailbox_header(sender.get("Name"), sender.get("Email")))
    else:
        posted.add_missing("From", mailbox_header(payload.get("FromName"), payload.get("From")))
    for name, key in (("To", "To"), ("Cc", "Cc"), ("Reply-To", "ReplyTo")):
        posted.add_missing(name, payload.get(key))
    posted.add_missing("Subject", payload.get("Subject"))
    posted.add_missing("Date", payload.get("Date"))
    attachments = payload.get("Attachments")
    for item in attachments if isinstance(attachments, list) else []:
        if isinstance(item, dict):
            posted.attachments.append(_attachment(item))
    return posted


def _attachment(item: dict[str, Any]) -> AttachmentMeta:
    # The dashboard's "Check" button posts `Data` where real deliveries post `Content`.
    content = item.get("Content", item.get("Data"))
    size = item.get("ContentLength")
    if not isinstance(size, int) and isinstance(content, str):
        size = _base64_size(content)
    return attachment(item.get("Name"), item.get("ContentType"), size, item.get("ContentID"))


def _base64_size(text: str) -> int:
    stripped = "".join(text.split())
    return len(stripped) * 3 // 4 - len(stripped) + len(stripped.rstrip("="))


def _auth_results(
    pairs: list[tuple[str, str]], defects: list[str]
) -> tuple[AuthResults, str | None]:
    """Postmark's SPF check (its Received-SPF header) and SpamAssassin score."""
    spam_values = [value for name, value in pairs if name.lower() == "x-spam-score"]
    # Postmark adds its own X-Spam-Score above the message's headers: the first one is its.
    spam_score = finite_number(spam_values[0].strip()) if spam_values else None
    received_spf = only_value(pairs, "Received-SPF")
    if received_spf is None:
        if any(name.lower() == "received-spf" for name, _ in pairs):
            defects.append("several Received-SPF headers; no SPF result trusted")
        return AuthResults(spam_score=spam_score), None
    result, _, rest = received_spf.strip().partition(" ")
    params = {key.lower(): value for key, value in _SPF_PARAM.findall(_SPF_COMMENT.sub(" ", rest))}
    spf = result.lower() if result.lower() in _SPF_RESULTS else None
    if params.get("identity", "").lower() != "mailfrom":
        # A HELO result says nothing about the envelope sender.
        spf = None
    envelope_from = params.get("envelope-from") or None
    return AuthResults(spf=spf, spam_score=spam_score), envelope_from


class PostmarkAdapter(InboundAdapter):
    """Postmark's inbound webhook; Basic credentials in the URL (the default check)."""

    name = PROVIDER

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """Dedupe keys and recipients (`read_delivery`)."""
        return read_delivery(_payload(request.body))

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """The stored post as an email (`parse_payload`)."""
        return parse_payload(_payload(raw), delivery, ceilings)


ADAPTER = PostmarkAdapter()
