"""MailerSend inbound routes: a received email posted as JSON (`"type": "inbound.message"`).

The whole MIME message is in `data.raw` (preferred: exact headers and parts); without it, the
fields MailerSend parsed (`data.headers`, `text`, `html`, `attachments`) are read instead. The
envelope is `data.sender.email` and `data.recipients.rcptTo[].email`.

Authentication: MailerSend signs the body with HMAC-SHA256 under the route's secret (shown
under the route's "Route to" URL; MAILERSEND_SIGNING_SECRET) and sends the hex digest in the
`Signature` header. A missing or malformed header is refused before the body is read; the digest
itself needs the body, so the headers prove the sender only when Basic auth is configured (and
then required as well).

Verdicts: `data.spf_check` is `{"code": "+", ...}`, undocumented, whose code reads as an SPF
qualifier (RFC 7208 §4.6.2: `+` pass, `-` fail, `~` softfail, `?` neutral); any other code is
no result. `data.dkim_check` is a bare boolean naming no domain, so it credits nothing.
MailerSend reports no spam score. Its other webhooks posted here are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

from app.mail.adapter import (
    Delivery,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    SignedOrBasicAdapter,
)
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import storable_text
from app.mail.jsonmail import (
    PostedEmail,
    attachment,
    header_pairs,
    json_checksum,
    load_json,
    mailbox_header,
    parse_posted,
    text_of,
)
from app.mail.mime import find_message_id
from app.mail.models import AuthResults, InboundEmail
from app.mail.normalise import build_email, delivery_keys, from_raw, raw_delivery

PROVIDER = "mailersend"
FORMAT_RAW = "mailersend-raw"
FORMAT_FIELDS = "mailersend-fields"
EMAIL_EVENT = "inbound.message"

_SPF_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
# What describes one delivery of the email rather than the email: out of the dedupe checksum.
_TRANSPORT_FIELDS = (
    "object",
    "id",
    "created_at",
    "recipients",
    "sender",
    "spf_check",
    "dkim_check",
)
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


def _data(payload: object) -> dict[str, Any] | NotAnEmail:
    """The email's `data`, or the other event the payload is."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ReadError("not a MailerSend webhook payload (no type)")
    kind = payload["type"]
    if kind != EMAIL_EVENT:
        return NotAnEmail(kind=storable_text(kind)[:60])
    data = payload.get("data")
    if not isinstance(data, dict):
        raise ReadError("inbound.message without data")
    return data


def _raw(data: dict[str, Any]) -> bytes | None:
    raw = data.get("raw")
    if not isinstance(raw, str) or not raw.strip():
        return None
    # A JSON string can hold lone surrogates; they are kept as sent rather than refused.
    return raw.encode("utf-8", "surrogatepass")


def _recipients(data: dict[str, Any]) -> tuple[str, ...]:
    recipients = data.get("recipients")
    envelope = recipients.get("rcptTo") if isinstance(recipients, dict) else None
    if not isinstance(envelope, list):
        return ()
    return tuple(
        storable_text(item["email"].strip().lower())
        for item in envelope
        if isinstance(item, dict) and isinstance(item.get("email"), str)
    )


def _sender(data: dict[str, Any]) -> str | None:
    sender = data.get("sender")
    email = sender.get("email") if isinstance(sender, dict) else None
    return email if isinstance(email, str) else None


def read_payload(payload: object) -> Delivery | NotAnEmail:
    """Dedupe keys and envelope recipients of an inbound.message, or the event it is instead."""
    data = _data(payload)
    if isinstance(data, NotAnEmail):
        return data
    raw = _raw(data)
    if raw is not None:
        return raw_delivery(raw, FORMAT_RAW, _recipients(data))
    message_id = None
    for name, value in header_pairs(data.get("headers")):
        if name.lower() == "message-id":
            message_id = find_message_id(f"Message-ID: {value}".encode("utf-8", "replace"))
            break
    checksum = json_checksum(data, exclude=_TRANSPORT_FIELDS)
    return delivery_keys(FORMAT_FIELDS, checksum, message_id, _recipients(data))


def parse_payload(payload: object, delivery: Delivery, ceilings: MimeCeilings) -> InboundEmail:
    """The email in an inbound.message.

    Raises:
        ReadError: the payload is not an inbound.message.
        UnusableEmail: the raw email is empty or headless, or the fields hold nothing.
        OverCeiling: the email crosses one of `ceilings`.
    """
    data = _data(payload)
    if isinstance(data, NotAnEmail):
        raise ReadError(f"not an email: {data.kind}")
    defects: list[str] = []
    raw = _raw(data)
    if raw is not None:
        mime, raw_from = from_raw(raw, ceilings)
    else:
        mime, raw_from = parse_posted(_posted(data, defects), ceilings)
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=_sender(data),
        envelope_to=_recipients(data),
        auth=AuthResults(spf=spf_result(data.get("spf_check"), defects)),
        defects=defects,
    )


def _posted(data: dict[str, Any], defects: list[str]) -> PostedEmail:
    posted = PostedEmail(
        headers=header_pairs(data.get("headers")),
        text=text_of(data.get("text")),
        html=text_of(data.get("html")),
        defects=defects,
    )
    sender = data.get("from")
    if isinstance(sender, dict):
        raw_from = sender.get("raw")
        posted.add_missing(
            "From",
            raw_from
            if isinstance(raw_from, str)
            else mailbox_header(sender.get("name"), sender.get("email")),
        )
    posted.add_missing("Subject", text_of(data.get("subject")))
    posted.add_missing("Date", text_of(data.get("date")))
    attachments = data.get("attachments")
    for item in attachments if isinstance(attachments, list) else []:
        if not isinstance(item, dict):
            continue
        posted.attachments.append(
            attachment(
                item.get("file_name"),
                item.get("content_type"),
                item.get("size"),
                item.get("content_id"),
                inline=item.get("content_disposition") == "inline",
            )
        )
    return posted


def spf_result(check: object, defects: list[str]) -> str | None:
    """The SPF result of `spf_check`'s qualifier code, or None."""
    code = check.get("code") if isinstance(check, dict) else None
    if code is None:
        return None
    result = _SPF_QUALIFIERS.get(code) if isinstance(code, str) else None
    if result is None:
        defects.append("spf_check code not understood; no SPF result trusted")
    return result


class MailerSendAdapter(SignedOrBasicAdapter):
    """MailerSend's inbound route, signed with the route's secret."""

    name = PROVIDER

    def signing_secret(self, secrets: InboundSecrets) -> str | None:
        """The route's signing secret."""
        return secrets.mailersend_signing_secret

    def signature_header_ok(self, headers: Mapping[str, str]) -> bool:
        """A `Signature` header holding a hex SHA-256 digest."""
        return _HEX_DIGEST.fullmatch((headers.get("signature") or "").strip()) is not None

    def signature_ok(
        self, request: InboundRequest, secret: str, secrets: InboundSecrets, now: float
    ) -> bool:
        """The Signature header against HMAC-SHA256 of the exact body."""
        signature = (request.headers.get("signature") or "").strip().lower()
        expected = hmac.new(secret.encode("utf-8"), request.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace"))

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


ADAPTER = MailerSendAdapter()
