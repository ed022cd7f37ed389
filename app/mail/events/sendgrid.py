"""SendGrid's Event Webhook: a JSON array of events, signed with ECDSA (the Signed Event Webhook).

The signature is checked by the `sendgrid` package's own `EventWebhook` helper over the
timestamp header and the raw body, with the verification key from SendGrid's Mail Settings
(`SENDGRID_EVENT_PUBLIC_KEY`). The package is imported on the first signed request only: it
takes a tenth of a second to import and nothing else needs it.

Each event's `sg_message_id` starts with the X-Message-Id that the Mail Send API returned
(`W86EgYT6SQKk0lRflfLRsA.filterdrecv-...`), which is what the outbox stored for the reply
(`app.mail.delivery.same_message`); `smtp-id` carries the Message-ID header.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from app.mail.adapter import HttpGet, InboundRequest
from app.mail.delivery import (
    DeliveryEvent,
    EventBatch,
    EventError,
    EventKind,
    EventSecrets,
    EventSource,
    address,
    epoch,
    fallback_id,
    load_json,
    text,
)

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
KINDS: Mapping[str, EventKind] = {
    "delivered": EventKind.DELIVERED,
    "deferred": EventKind.DEFERRED,
    "bounce": EventKind.BOUNCED,
    "dropped": EventKind.DROPPED,
    "spamreport": EventKind.SPAM_REPORT,
}
SOFT_BOUNCES = frozenset({"blocked", "expired"})
"""Bounce `type`s that say nothing about the address itself (a block, a deferral that ran out)."""


@lru_cache(maxsize=4)
def _verifier(public_key: str) -> Any:
    # Imported here: the package is only needed once a signed request comes in.
    from sendgrid.helpers.eventwebhook import EventWebhook

    return EventWebhook(public_key)


class SendGridEvents(EventSource):
    """SendGrid's Event Webhook."""

    name = "sendgrid"

    def configured(self, secrets: EventSecrets) -> bool:
        """Whether the Event Webhook's verification key is set."""
        return bool(secrets.sendgrid_public_key)

    def check_headers(self, headers: Mapping[str, str], secrets: EventSecrets, now: float) -> bool:
        """A signature and a fresh timestamp must be there before the body is read."""
        if not self.configured(secrets):
            return secrets.inbound.allow_unauthenticated
        timestamp = (headers.get(TIMESTAMP_HEADER) or "").strip()
        if not timestamp.isdigit() or not headers.get(SIGNATURE_HEADER):
            return False
        return secrets.inbound.fresh(int(timestamp), now)

    async def check_body(
        self, request: InboundRequest, secrets: EventSecrets, now: float, http: HttpGet
    ) -> bool:
        """ECDSA over the timestamp and the exact body, by SendGrid's own helper."""
        key = secrets.sendgrid_public_key
        signature = request.headers.get(SIGNATURE_HEADER)
        timestamp = (request.headers.get(TIMESTAMP_HEADER) or "").strip()
        if not key or not signature:
            return False
        try:
            payload = request.body.decode("utf-8")
            verified = _verifier(key).verify_signature(payload, signature.strip(), timestamp)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            # Not UTF-8 (the helper hashes the body as text), or a signature that is no base64
            # DER: neither was signed by SendGrid.
            return False
        return bool(verified)

    def parse(self, request: InboundRequest) -> EventBatch:
        """The array's delivery events; engagement and account events are ignored."""
        payload = load_json(request.body)
        if not isinstance(payload, list):
            raise EventError("SendGrid posts a JSON array of events")
        events: list[DeliveryEvent] = []
        ignored: list[str] = []
        for item in payload:
            found = _event(item)
            if isinstance(found, str):
                ignored.append(found)
            else:
                events.append(found)
        return EventBatch(events=tuple(events), ignored=tuple(ignored))


def _event(item: object) -> DeliveryEvent | str:
    """One event, or the name it is ignored under."""
    if not isinstance(item, dict):
        return "unreadable"
    name = text(item.get("event"))
    kind = KINDS.get(name)
    if kind is None:
        return name or "unreadable"
    recipient = address(item.get("email"))
    occurred_at = epoch(item.get("timestamp"))
    if recipient is None or occurred_at is None:
        return "unreadable"
    bounce_type = text(item.get("type")).lower()
    status = text(item.get("status"))
    reason = text(item.get("reason")) or text(item.get("response"))
    return DeliveryEvent(
        provider="sendgrid",
        event_id=text(item.get("sg_event_id")) or fallback_id(item),
        kind=kind,
        hard=kind is EventKind.BOUNCED and bounce_type not in SOFT_BOUNCES,
        recipient=recipient,
        # It starts with the X-Message-Id, then says which SendGrid server filtered it.
        provider_message_id=text(item.get("sg_message_id")) or None,
        rfc_message_id=text(item.get("smtp-id")) or None,
        occurred_at=occurred_at,
        reason=f"{status} {reason}".strip() if status and status not in reason else reason,
    )


EVENTS = SendGridEvents()
