"""Mailgun's webhooks (`delivered`, `failed`, `complained`): one JSON event per request.

The signature is inside the body: `signature: {timestamp, token, signature}`, the signature
being the hex HMAC-SHA256 of timestamp + token under the webhook signing key
(`MAILGUN_SIGNING_KEY`), with the timestamp inside the freshness window. A `failed` event is
temporary (Mailgun retries: deferred) or permanent: a bounce, or, when Mailgun did not even try
because the address is on its own suppression list (`suppress-*`), a drop.

Mailgun's event id is unique only within a day, so the stored id joins it to the event's time.
Its message id is the email's Message-ID header, which is also what its send API returns.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from app.mail.adapter import HttpGet, InboundRequest
from app.mail.delivery import (
    DeliveryEvent,
    EventBatch,
    EventError,
    EventKind,
    EventSecrets,
    EventSource,
    address,
    angle_id,
    epoch,
    fallback_id,
    load_json,
    text,
)

NOT_AN_ADDRESS_PROBLEM = frozenset({"old", "espblock", "greylisted"})
"""Permanent failure reasons that say nothing about the address (expired retries, a block)."""


class MailgunEvents(EventSource):
    """Mailgun's event webhooks."""

    name = "mailgun"

    def configured(self, secrets: EventSecrets) -> bool:
        """Whether the webhook signing key is set."""
        return bool(secrets.inbound.mailgun_signing_key)

    def check_headers(self, headers: Mapping[str, str], secrets: EventSecrets, now: float) -> bool:
        """The signature is in the body: only an unconfigured route is refused here."""
        return self.configured(secrets) or secrets.inbound.allow_unauthenticated

    async def check_body(
        self, request: InboundRequest, secrets: EventSecrets, now: float, http: HttpGet
    ) -> bool:
        """HMAC-SHA256 of timestamp + token, compared in constant time, and a fresh timestamp."""
        key = secrets.inbound.mailgun_signing_key
        try:
            payload = load_json(request.body)
        except EventError:
            return False
        block = payload.get("signature") if isinstance(payload, dict) else None
        if not key or not isinstance(block, dict):
            return False
        timestamp, token = text(block.get("timestamp")), text(block.get("token"))
        signature = text(block.get("signature"))
        if not timestamp.isdigit() or not token or not signature:
            return False
        if not secrets.inbound.fresh(int(timestamp), now):
            return False
        expected = hmac.new(
            key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8"))

    def parse(self, request: InboundRequest) -> EventBatch:
        """The one event in `event-data`, or the name it is ignored under."""
        payload = load_json(request.body)
        data = payload.get("event-data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            raise EventError("a Mailgun webhook carries an `event-data` object")
        found = _event(data)
        if isinstance(found, str):
            return EventBatch(ignored=(found,))
        return EventBatch(events=(found,))


def _kind(data: dict[str, object]) -> tuple[EventKind, bool] | None:
    name = text(data.get("event"))
    if name == "delivered":
        return EventKind.DELIVERED, False
    if name == "complained":
        return EventKind.SPAM_REPORT, False
    if name != "failed":
        return None
    if text(data.get("severity")) == "temporary":
        return EventKind.DEFERRED, False
    reason = text(data.get("reason"))
    if reason.startswith("suppress-"):
        return EventKind.DROPPED, False
    return EventKind.BOUNCED, reason not in NOT_AN_ADDRESS_PROBLEM


def _event(data: dict[str, object]) -> DeliveryEvent | str:
    """The event, or the name it is ignored under."""
    kind = _kind(data)
    if kind is None:
        return text(data.get("event")) or "unreadable"
    recipient = address(data.get("recipient"))
    occurred_at = epoch(data.get("timestamp"))
    if recipient is None or occurred_at is None:
        return "unreadable"
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = angle_id(headers.get("message-id")) if isinstance(headers, dict) else None
    status = data.get("delivery-status")
    details = status if isinstance(status, dict) else {}
    code = text(details.get("code"))
    said = text(details.get("description")) or text(details.get("message"))
    reason = " ".join(part for part in (code, said or text(data.get("reason"))) if part)
    event_id = text(data.get("id"))
    return DeliveryEvent(
        provider="mailgun",
        event_id=f"{event_id}@{text(data.get('timestamp'))}" if event_id else fallback_id(data),
        kind=kind[0],
        hard=kind[1],
        recipient=recipient,
        provider_message_id=message_id,
        rfc_message_id=message_id,
        occurred_at=occurred_at,
        reason=reason,
    )


EVENTS = MailgunEvents()
