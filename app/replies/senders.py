"""Sending replies: SendGrid v3 Mail Send over httpx, or a log transport that writes .eml files.

A sender answers one question per email: accepted (with the provider's id), refused for good,
worth retrying later, or *uncertain*. Uncertain means the request may have reached SendGrid (a
read timeout, a dropped connection after the body went out): the outbox never resends those on
its own, because for customer mail one missing reply is better than two.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

AUTO_SUBMITTED = "auto-replied"
AUTO_GENERATED = "auto-generated"
MAX_ERROR_CHARS = 500
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
# What may not stand in a header value: line breaks (a CR or LF starts a new header, or the
# body) and every other C0/C1 control character, lone surrogates too (they cannot be encoded).
_HEADER_BREAKS = re.compile(r"[\t\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_HEADER_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def header_text(value: str) -> str:
    """A header value on one line with no control characters: breaks become a space."""
    return _HEADER_CONTROLS.sub("", _HEADER_BREAKS.sub(" ", value)).strip()


def header_id(value: str) -> str:
    """A Message-ID for a header: no whitespace or control character at all."""
    return "".join(_HEADER_CONTROLS.sub("", value).split())


@dataclass(frozen=True, kw_only=True)
class OutgoingEmail:
    """One reply, ready for the wire."""

    from_address: str
    from_name: str
    to_address: str
    to_name: str | None
    subject: str
    text: str
    html: str
    message_id: str
    """Our RFC 5322 Message-ID, with angle brackets."""
    in_reply_to: str | None
    references: tuple[str, ...]
    custom_args: dict[str, str] = field(default_factory=dict)
    """Our ids (never personal data): they come back on SendGrid's event webhooks."""
    list_unsubscribe: str | None = None
    """A proactive email's one-click unsubscribe URL (RFC 8058); None for replies."""
    language: str = ""
    """The catalog language it is written in (for what is added to it on the way out)."""

    def __post_init__(self) -> None:
        # Every value that becomes a header is cleaned here, once, whoever builds the email and
        # whichever sender carries it: a line break in a subject or a name would start a header
        # of the sender's choosing, and stored text keeps CR and LF.
        clean = object.__setattr__
        for name in ("from_address", "from_name", "to_address", "subject"):
            clean(self, name, header_text(getattr(self, name)))
        clean(self, "to_name", header_text(self.to_name) if self.to_name else self.to_name)
        clean(self, "message_id", header_id(self.message_id))
        in_reply_to = header_id(self.in_reply_to) if self.in_reply_to else ""
        clean(self, "in_reply_to", in_reply_to or None)
        clean(self, "references", tuple(filter(None, map(header_id, self.references))))
        if self.list_unsubscribe is not None:
            clean(self, "list_unsubscribe", header_id(self.list_unsubscribe) or None)

    def threading_headers(self) -> dict[str, str]:
        """The headers every reply carries: threading, and "this is an automatic reply"."""
        headers = {
            # A proactive email answers nothing: it is auto-generated (RFC 3834), not a reply.
            "Auto-Submitted": AUTO_GENERATED if self.list_unsubscribe else AUTO_SUBMITTED,
            # Exchange and Outlook: do not answer this with out-of-office or read receipts.
            "X-Auto-Response-Suppress": "All",
            "Message-ID": self.message_id,
        }
        if self.in_reply_to:
            headers["In-Reply-To"] = self.in_reply_to
        if self.references:
            headers["References"] = " ".join(self.references)
        if self.list_unsubscribe:
            headers["List-Unsubscribe"] = f"<{self.list_unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return headers


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the email."""

    provider_message_id: str | None


class SendError(Exception):
    """Base of the ways a send can fail."""


class SendRejected(SendError):
    """Refused for good (a 4xx other than 408/429): retrying cannot help."""


class SendDeferred(SendError):
    """Not accepted this time, and certainly not sent (429, 5xx, no connection): retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SendUncertain(SendError):
    """The request may have been accepted; the reply must not be sent again automatically."""


class MailSender(Protocol):
    """Where replies go."""

    kind: str

    async def send(self, email: OutgoingEmail) -> SendResult:
        """Hand one email over; raise a `SendError` subclass when it was not accepted."""
        ...


def sendgrid_payload(email: OutgoingEmail, *, sandbox: bool = False) -> dict[str, Any]:
    """The v3 /mail/send body: plain text before HTML, threading headers, our ids as custom_args."""
    to: dict[str, str] = {"email": email.to_address}
    if email.to_name:
        to["name"] = email.to_name
    payload: dict[str, Any] = {
        "personalizations": [{"to": [to]}],
        "from": {"email": email.from_address, "name": email.from_name},
        "reply_to": {"email": email.from_address, "name": email.from_name},
        "subject": email.subject,
        "content": [
            {"type": "text/plain", "value": email.text},
            {"type": "text/html", "value": email.html},
        ],
        "headers": email.threading_headers(),
        "custom_args": dict(email.custom_args),
        # Support replies are personal mail: no click rewriting or tracking pixels.
        "tracking_settings": {
            "click_tracking": {"enable": False, "enable_text": False},
            "open_tracking": {"enable": False},
        },
    }
    if sandbox:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    return payload


class SendGridSender:
    """SendGrid v3 Mail Send over an async httpx client (the official package is blocking)."""

    kind = "sendgrid"

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_key: SecretStr,
        base_url: str = "https://api.sendgrid.com",
        sandbox: bool = False,
    ) -> None:
        self._client = client
        self._api_key = api_key
        self._url = base_url.rstrip("/") + "/v3/mail/send"
        self._sandbox = sandbox

    async def send(self, email: OutgoingEmail) -> SendResult:
        """POST the email; map SendGrid's answer to a result or a `SendError`."""
        try:
            response = await self._client.post(
                self._url,
                json=sendgrid_payload(email, sandbox=self._sandbox),
                headers={"Authorization": f"Bearer {self._api_key.get_secret_value()}"},
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No connection was made, so nothing was sent.
            raise SendDeferred(f"SendGrid unreachable: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise SendUncertain(
                f"SendGrid did not answer after the request was sent ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(provider_message_id=response.headers.get("X-Message-Id"))
        # Never let the key reach a log or a reply row, even if an error body echoes it back.
        reason = self._redact(f"SendGrid {status}: {_error_text(response)}")
        if status == 429:
            raise SendDeferred(reason, retry_after=_rate_limit_wait(response))
        if status == 408 or status >= 500:
            raise SendDeferred(reason, retry_after=_retry_after(response))
        raise SendRejected(reason)

    def _redact(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        return text.replace(key, "[redacted]") if key else text


class LogMailSender:
    """Writes each reply as an .eml file (the default without a SendGrid key): nothing leaves."""

    kind = "log"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, email: OutgoingEmail) -> SendResult:
        """Write the reply atomically to `<directory>/<time>-<message id>.eml`."""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{_SAFE_NAME.sub('_', email.message_id)}.eml"
        try:
            await asyncio.to_thread(self._write, name, as_mime(email))
        except OSError as exc:
            # The file was not written (the rename is atomic), so nothing was "sent".
            raise SendDeferred(f"could not write {name}: {exc}") from exc
        return SendResult(provider_message_id=name)

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.{uuid.uuid4().hex}.part"
        try:
            partial.write_bytes(data)
            os.replace(partial, self.directory / name)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


def as_mime(email: OutgoingEmail) -> bytes:
    """The reply as the MIME message a mail server would carry (text and HTML alternatives)."""
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((email.from_name, email.from_address))
    message["To"] = formataddr((email.to_name or "", email.to_address))
    message["Subject"] = email.subject
    # "+0000", not formatdate's "-0000" (which RFC 5322 reads as "time zone unknown").
    message["Date"] = format_datetime(datetime.now(UTC))
    for name, value in email.threading_headers().items():
        message[name] = value
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message.as_bytes()


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_ERROR_CHARS] or response.reason_phrase
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors[:3]:
            if isinstance(error, dict):
                field_name = error.get("field")
                message = str(error.get("message") or "")
                parts.append(f"{field_name}: {message}" if field_name else message)
        return "; ".join(parts)[:MAX_ERROR_CHARS]
    return str(body)[:MAX_ERROR_CHARS]


def _rate_limit_wait(response: httpx.Response) -> float | None:
    reset = response.headers.get("X-RateLimit-Reset")
    if reset and reset.strip().isdigit():
        return max(1.0, float(reset) - time.time())
    return _retry_after(response)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
