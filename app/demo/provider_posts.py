"""Requests shaped like each inbound provider's webhook, built from one email (demo and tests).

Each builder takes the whole message (.eml bytes) and returns the request its provider documents
for a received email: Mailgun Routes' `forward()` to a URL ending in `mime` (a form with
`body-mime` and the timestamp/token/signature fields), Postmark's inbound JSON (parsed fields and
`RawEmail`), MailerSend's `inbound.message` (`data.raw`, the `Signature` header), Mailjet's Parse
API JSON, SparkPost's relay webhook batch (`content.email_rfc822`) and Brevo's inbound parsing
`items`. Keys and secrets are the caller's; credentials in the webhook's URL (Basic auth) are
added by whoever posts. Resend and Amazon SES, whose content is fetched or signed by a third
party, are in `app.demo.outside_world`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from typing import Any

from app.demo.sendgrid_posts import encode_form

DEMO_RECIPIENT = "support@demo-store.example"
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class ProviderPost:
    """A ready-to-send webhook request: its body and headers (Content-Type among them)."""

    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class SampleEmail:
    """What the providers' parsed formats take from a message: headers, addresses and bodies."""

    raw: bytes
    headers: list[tuple[str, str]]
    """Every header as written (encoded words kept), unfolded, in order."""
    from_name: str
    from_address: str
    to: list[Address]
    subject: str
    message_id: str
    date: str
    text: str
    html: str

    @property
    def from_header(self) -> str:
        """The From header's value as written."""
        return next((value for name, value in self.headers if name.lower() == "from"), "")

    def header_map(self) -> dict[str, str | list[str]]:
        """The headers as a map, a repeated header's values as a list (Mailjet, Brevo)."""
        found: dict[str, str | list[str]] = {}
        for name, value in self.headers:
            before = found.get(name)
            if before is None:
                found[name] = value
            else:
                found[name] = [*([before] if isinstance(before, str) else before), value]
        return found

    def sent_at(self) -> datetime:
        """The Date header as an aware datetime (now when it has none)."""
        try:
            return parsedate_to_datetime(self.date)
        except (TypeError, ValueError):
            return datetime.now(UTC)


def read_sample(eml: bytes) -> SampleEmail:
    """Read `eml` the way a provider's parser would before posting its fields."""
    written = message_from_bytes(eml, policy=policy.compat32)
    headers = [(name, _FOLD.sub("", str(value))) for name, value in written.items()]
    message = message_from_bytes(eml, policy=policy.default)
    assert isinstance(message, EmailMessage)
    sender = message["From"].addresses[0] if message["From"] else Address()
    to = list(message["To"].addresses) if message["To"] else []
    return SampleEmail(
        raw=eml,
        headers=headers,
        from_name=sender.display_name,
        from_address=sender.addr_spec,
        to=to,
        subject=str(message.get("Subject", "")),
        message_id=str(message.get("Message-ID", "")),
        date=str(message.get("Date", "")),
        text=_body(message, "plain"),
        html=_body(message, "html"),
    )


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body((subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""


def _json(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _delivery_id(email: SampleEmail, provider: str) -> uuid.UUID:
    """A provider's id of this delivery, the same every time the sample is built."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{provider}:{email.message_id}")


def mailgun_signature(key: str, timestamp: int, token: str) -> str:
    """Mailgun's `signature` field: hex HMAC-SHA256 of timestamp then token, keyed by `key`."""
    signed = f"{timestamp}{token}".encode()
    return hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def mailgun_post(
    eml: bytes,
    *,
    key: str,
    timestamp: int,
    recipient: str = DEMO_RECIPIENT,
    spf: str = "Pass",
    dkim: str = "Pass",
    spam_score: str = "0.0",
) -> ProviderPost:
    """A signed `forward()` post to a `.../mime` URL: the message in `body-mime`.

    Mailgun prepends its verdicts (`X-Mailgun-Spf`, `X-Mailgun-Dkim-Check-Result`,
    `X-Mailgun-Sscore`) and its own `Received` header to the message it forwards.
    """
    email = read_sample(eml)
    stamped = (
        f"X-Mailgun-Spf: {spf}\r\n"
        f"X-Mailgun-Dkim-Check-Result: {dkim}\r\n"
        f"X-Mailgun-Sscore: {spam_score}\r\n"
        f"Received: by mxa.mailgun.org with SMTP id {secrets.token_hex(6)};"
        f" {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
    ).encode() + eml
    token = secrets.token_hex(25)
    form = encode_form(
        [
            ("recipient", recipient.encode()),
            ("sender", email.from_address.encode()),
            ("from", email.from_header.encode()),
            ("subject", email.subject.encode()),
            ("body-mime", stamped),
            ("timestamp", str(timestamp).encode()),
            ("token", token.encode()),
            ("signature", mailgun_signature(key, timestamp, token).encode()),
        ]
    )
    return ProviderPost(form.body, {"content-type": form.content_type})


def postmark_post(
    eml: bytes, *, recipient: str = DEMO_RECIPIENT, spf: str = "Pass", spam_score: str = "0.1"
) -> ProviderPost:
    """Postmark's inbound JSON with "Include raw email content" on: fields and `RawEmail`.

    Postmark lifts From, To, Cc, Subject and Date out of the Headers list, and adds SpamAssassin's
    `X-Spam-*` headers and its SPF check (`Received-SPF`) to it.
    """
    email = read_sample(eml)
    lifted = {"from", "to", "cc", "subject", "date"}
    spf_header = (
        f"{spf} (sender SPF authorized) identity=mailfrom; client-ip=198.51.100.7; "
        f"helo=mail.example; envelope-from={email.from_address}; receiver={recipient}"
    )
    headers = [
        {"Name": "X-Spam-Status", "Value": "No"},
        {"Name": "X-Spam-Score", "Value": spam_score},
        {"Name": "Received-SPF", "Value": spf_header},
    ] + [{"Name": n, "Value": v} for n, v in email.headers if n.lower() not in lifted]
    to_full = [{"Email": a.addr_spec, "Name": a.display_name, "MailboxHash": ""} for a in email.to]
    payload = {
        "FromName": email.from_name,
        "MessageStream": "inbound",
        "From": email.from_address,
        "FromFull": {"Email": email.from_address, "Name": email.from_name, "MailboxHash": ""},
        "To": ", ".join(str(a) for a in email.to),
        "ToFull": to_full,
        "Cc": "",
        "CcFull": [],
        "OriginalRecipient": recipient,
        "Subject": email.subject,
        "MessageID": str(_delivery_id(email, "postmark")),
        "ReplyTo": "",
        "MailboxHash": "",
        "Date": email.date,
        "TextBody": email.text,
        "HtmlBody": email.html,
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": headers,
        "Attachments": [],
        "RawEmail": eml.decode("utf-8", "replace"),
    }
    return ProviderPost(_json(payload), {"content-type": "application/json"})


def mailersend_signature(secret: str, body: bytes) -> str:
    """MailerSend's `Signature` header: hex HMAC-SHA256 of the exact body."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def mailersend_post(
    eml: bytes, *, secret: str, recipient: str = DEMO_RECIPIENT, spf_code: str = "+"
) -> ProviderPost:
    """An `inbound.message` webhook with the whole message in `data.raw`, signed."""
    email = read_sample(eml)
    created = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    data = {
        "object": "message",
        "id": _delivery_id(email, "mailersend").hex[:24],
        "recipients": {
            "rcptTo": [{"email": recipient}],
            "to": {
                "raw": ", ".join(str(a) for a in email.to),
                "data": [{"email": a.addr_spec, "name": a.display_name} for a in email.to],
            },
        },
        "from": {
            "email": email.from_address,
            "name": email.from_name,
            "raw": email.from_header,
        },
        "sender": {"email": email.from_address},
        "subject": email.subject,
        "date": email.date,
        "headers": email.header_map(),
        "text": email.text,
        "html": email.html,
        "attachments": [],
        "spf_check": {"code": spf_code, "value": None},
        "dkim_check": False,
        "created_at": created,
        "raw": eml.decode("utf-8", "replace"),
    }
    body = _json(
        {
            "type": "inbound.message",
            "inbound_id": _delivery_id(email, "mailersend-route").hex[:16],
            "url": "https://support.demo-store.example/webhooks/mailersend/inbound",
            "created_at": created,
            "data": data,
        }
    )
    signature = mailersend_signature(secret, body)
    return ProviderPost(body, {"content-type": "application/json", "signature": signature})


def mailjet_post(
    eml: bytes, *, recipient: str = DEMO_RECIPIENT, spam_score: str = "0.3"
) -> ProviderPost:
    """The Parse API's JSON: headers as a map, the bodies in `Text-part` / `Html-part`."""
    email = read_sample(eml)
    parts: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "Sender": email.from_address,
        "Recipient": recipient,
        "Date": email.sent_at().astimezone(UTC).strftime("%Y%m%dT%H%M%S"),
        "From": email.from_header,
        "Subject": email.subject,
        "Headers": email.header_map(),
        "Parts": parts,
    }
    for ref, subtype, text in (
        ("Text-part", "plain", email.text),
        ("Html-part", "html", email.html),
    ):
        if text:
            parts.append(
                {"Headers": {"Content-Type": f"text/{subtype}; charset=UTF-8"}, "ContentRef": ref}
            )
            payload[ref] = text
    payload |= {"SpamAssassinScore": spam_score, "CustomID": "", "Payload": ""}
    return ProviderPost(_json(payload), {"content-type": "application/json"})


def sparkpost_post(eml: bytes, *, recipient: str = DEMO_RECIPIENT) -> ProviderPost:
    """A relay webhook batch of one `relay_message`; base64 when the message is not UTF-8."""
    email = read_sample(eml)
    try:
        rfc822, is_base64 = eml.decode("utf-8"), False
    except UnicodeDecodeError:
        rfc822, is_base64 = base64.b64encode(eml).decode("ascii"), True
    relay = {
        "content": {
            "email_rfc822": rfc822,
            "email_rfc822_is_base64": is_base64,
            "headers": [{name: value} for name, value in email.headers],
            "html": email.html,
            "subject": email.subject,
            "text": email.text,
            "to": [recipient],
        },
        "customer_id": "1337",
        "friendly_from": email.from_address,
        "msg_from": email.from_address,
        "rcpt_to": recipient,
        "webhook_id": "639989543249587193",
        "protocol": "smtp",
    }
    return ProviderPost(
        _json([{"msys": {"relay_message": relay}}]), {"content-type": "application/json"}
    )


def brevo_post(
    eml: bytes, *, recipient: str = DEMO_RECIPIENT, spam_score: float = 0.4
) -> ProviderPost:
    """Brevo's inbound parsing webhook: `{"items": [one email as Brevo parsed it]}`."""
    email = read_sample(eml)
    headers = {"Delivered-To": recipient} | email.header_map()
    in_reply_to = next((v for n, v in email.headers if n.lower() == "in-reply-to"), None)
    item = {
        "Uuid": [str(_delivery_id(email, "brevo"))],
        "MessageId": email.message_id,
        "InReplyTo": in_reply_to,
        "From": {"Name": email.from_name, "Address": email.from_address},
        "To": [{"Name": a.display_name or None, "Address": a.addr_spec} for a in email.to],
        "Cc": [],
        "ReplyTo": None,
        "SentAtDate": email.date,
        "Subject": email.subject,
        "Attachments": [],
        "Headers": headers,
        "SpamScore": spam_score,
        "ExtractedMarkdownMessage": email.text.strip(),
        "ExtractedMarkdownSignature": None,
        "RawHtmlBody": email.html or None,
        "RawTextBody": email.text or None,
    }
    return ProviderPost(_json({"items": [item]}), {"content-type": "application/json"})
