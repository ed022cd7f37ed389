"""Resend inbound: an `email.received` webhook event, signed with Svix, naming an email to fetch.

Resend delivers webhooks through Svix: `svix-id`, `svix-timestamp` and `svix-signature` headers,
the signature an HMAC-SHA256 (base64) of `{id}.{timestamp}.{body}` keyed with the base64 secret
after `whsec_` (RESEND_SIGNING_SECRET); the header may list several `v1,<signature>` entries
while a secret rotates. A stale timestamp is refused from the headers alone.

The event carries only the email's metadata. The worker fetches the email itself with
RESEND_API_KEY from `GET /emails/receiving/{email_id}`, and from there the original message
through its `raw.download_url` (a signed link, fetched without our key); when no raw link is
offered, the API's own fields (headers, text, html, attachments' metadata) are parsed instead.
Resend reports no SPF or DKIM result, so its senders are never verified (their mail is drafted
for staff). Every other event (`email.sent`, `email.delivered`...) is acknowledged, never stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from app.mail.adapter import (
    Delivery,
    Fetched,
    FetchFailed,
    HttpGet,
    InboundAdapter,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
)
from app.mail.ceilings import MimeCeilings
from app.mail.jsonmail import (
    PostedEmail,
    attachment,
    header_pairs,
    load_json,
    parse_posted,
    text_of,
)
from app.mail.mime import content_checksum, find_message_id
from app.mail.models import InboundEmail
from app.mail.normalise import build_email, delivery_keys, email_from_raw

PROVIDER = "resend"
FORMAT_EVENT = "resend-event"
FORMAT_RAW = "resend-raw"
FORMAT_API = "resend-api"
RECEIVED = "email.received"
_EMAIL_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signature_ok(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether one of the `svix-signature` entries is the HMAC of this id, timestamp and body."""
    message_id = headers.get("svix-id") or ""
    timestamp = headers.get("svix-timestamp") or ""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    signed = message_id.encode("utf-8") + b"." + timestamp.encode("utf-8") + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    found = False
    for entry in (headers.get("svix-signature") or "").split():
        version, _, signature = entry.partition(",")
        # Compare every entry, so timing says nothing about which one matched.
        matched = hmac.compare_digest(signature.encode("ascii", "replace"), expected)
        found = found or (version == "v1" and matched)
    return found


def _event(body: bytes) -> dict[str, Any]:
    event = load_json(body)
    if not isinstance(event, dict):
        raise ReadError("not a JSON object")
    return event


def _email_id(event: dict[str, Any]) -> str:
    data = event.get("data")
    email_id = data.get("email_id") if isinstance(data, dict) else None
    if not isinstance(email_id, str) or not _EMAIL_ID.fullmatch(email_id):
        raise ReadError("email.received without a usable data.email_id")
    return email_id


def read_event(event: dict[str, Any]) -> Delivery | NotAnEmail:
    """The dedupe keys and recipients of an `email.received` event, or the other event it is."""
    kind = event.get("type")
    if kind != RECEIVED:
        return NotAnEmail(kind=kind[:60] if isinstance(kind, str) and kind else "unknown")
    email_id = _email_id(event)
    data = event["data"]
    # Keyed by Resend's email id: a resent event (a new svix-id) is still the same email.
    checksum = content_checksum(b"resend-email:" + email_id.encode("ascii"))
    message_id = data.get("message_id")
    found = find_message_id(
        b"Message-ID: "
        + (message_id.encode("utf-8", "replace") if isinstance(message_id, str) else b"")
    )
    recipients: list[str] = []
    for key in ("to", "cc", "bcc"):
        values = data.get(key)
        recipients += [v for v in values if isinstance(v, str)] if isinstance(values, list) else []
    return delivery_keys(FORMAT_EVENT, checksum, found, recipients)


async def fetch_email(event: dict[str, Any], secrets: InboundSecrets, http: HttpGet) -> Fetched:
    """The received email: its raw message when Resend offers one, its API fields otherwise.

    Raises:
        FetchFailed: no API key, or Resend did not give the email this time.
    """
    if not secrets.resend_api_key:
        raise FetchFailed("RESEND_API_KEY is not set")
    try:
        email_id = _email_id(event)
    except ReadError as exc:
        raise FetchFailed(str(exc)) from exc
    base = secrets.resend_api_base_url.rstrip("/")
    url = f"{base}/emails/receiving/{quote(email_id, safe='')}"
    headers = {"authorization": f"Bearer {secrets.resend_api_key}", "accept": "application/json"}
    reply = await _get(http, url, headers)
    try:
        found = json.loads(reply)
    except (ValueError, RecursionError) as exc:
        raise FetchFailed(f"Resend answered {type(exc).__name__}, not JSON") from exc
    raw = found.get("raw") if isinstance(found, dict) else None
    download = raw.get("download_url") if isinstance(raw, dict) else None
    if isinstance(download, str) and _scheme(download) == "https":
        # A signed link of its own: our API key is not sent along.
        message = await _get(http, download, {})
        return Fetched(raw=message, content_type="message/rfc822", payload_format=FORMAT_RAW)
    return Fetched(raw=reply, content_type="application/json", payload_format=FORMAT_API)


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


async def _get(http: HttpGet, url: str, headers: Mapping[str, str]) -> bytes:
    host = _host(url)
    try:
        reply = await http(url, headers)
    except OSError as exc:
        raise FetchFailed(f"{host}: {exc}") from exc
    if reply.status != 200:
        raise FetchFailed(f"{host} answered {reply.status}")
    return reply.body


def parse_api_email(
    found: dict[str, Any], delivery: Delivery, ceilings: MimeCeilings
) -> InboundEmail:
    """The email from the received-email API's fields (when no raw message was offered).

    Raises:
        UnusableEmail: no headers, sender or content at all.
        OverCeiling: the headers cross one of `ceilings`.
    """
    posted = PostedEmail(
        headers=header_pairs(found.get("headers")),
        text=text_of(found.get("text")),
        html=text_of(found.get("html")),
    )
    posted.add_missing("From", found.get("from"))
    for name, key in (("To", "to"), ("Cc", "cc"), ("Reply-To", "reply_to")):
        values = found.get(key)
        if isinstance(values, list):
            posted.add_missing(name, ", ".join(v for v in values if isinstance(v, str)))
    posted.add_missing("Subject", found.get("subject"))
    posted.add_missing("Message-ID", found.get("message_id"))
    attachments = found.get("attachments")
    for item in attachments if isinstance(attachments, list) else []:
        if isinstance(item, dict):
            disposition = item.get("content_disposition")
            posted.attachments.append(
                attachment(
                    item.get("filename"),
                    item.get("content_type"),
                    item.get("size"),
                    item.get("content_id"),
                    inline=disposition == "inline" if isinstance(disposition, str) else None,
                )
            )
    mime, raw_from = parse_posted(posted, ceilings)
    return build_email(mime, raw_from, delivery, defects=posted.defects)


class ResendAdapter(InboundAdapter):
    """Resend's `email.received` webhook, signed by Svix; the email is fetched by the worker."""

    name = PROVIDER
    headers_authenticate = False

    def configured(self, secrets: InboundSecrets) -> bool:
        """Whether RESEND_SIGNING_SECRET is set."""
        return bool(secrets.resend_signing_secret)

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """Refuse a post without Svix's headers, or whose timestamp is outside the window."""
        if not self.configured(secrets):
            return secrets.allow_unauthenticated
        timestamp = headers.get("svix-timestamp") or ""
        if not headers.get("svix-id") or not headers.get("svix-signature"):
            return False
        return bool(_TIMESTAMP.fullmatch(timestamp)) and secrets.fresh(float(timestamp), now)

    async def check_body(
        self, request: InboundRequest, secrets: InboundSecrets, now: float, http: HttpGet
    ) -> bool:
        """Check the Svix signature over the body."""
        if not secrets.resend_signing_secret:
            return secrets.allow_unauthenticated
        return signature_ok(secrets.resend_signing_secret, request.headers, request.body)

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """The event's dedupe keys, or the other event it is (`read_event`)."""
        return read_event(_event(request.body))

    def needs_fetch(self, payload_format: str) -> bool:
        """A stored event is a reference: the email must be fetched."""
        return payload_format == FORMAT_EVENT

    async def fetch(
        self,
        raw: bytes,
        content_type: str,
        payload_format: str,
        secrets: InboundSecrets,
        http: HttpGet,
    ) -> Fetched:
        """Fetch the email the stored event names (`fetch_email`)."""
        try:
            event = _event(raw)
        except ReadError as exc:
            raise FetchFailed(str(exc)) from exc
        return await fetch_email(event, secrets, http)

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """The fetched email: raw MIME, or the API's fields."""
        if delivery.payload_format == FORMAT_RAW:
            return email_from_raw(raw, delivery, ceilings)
        if delivery.payload_format == FORMAT_API:
            found = load_json(raw)
            if not isinstance(found, dict):
                raise ReadError("Resend's received email is not a JSON object")
            return parse_api_email(found, delivery, ceilings)
        raise ReadError(f"{delivery.payload_format} is not an email; it was never fetched")


ADAPTER = ResendAdapter()
