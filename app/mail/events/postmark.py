"""Postmark's webhooks (Delivery, Bounce, SpamComplaint): one JSON record per request.

Postmark signs nothing; its webhook URL carries Basic credentials
(`https://user:password@host/webhooks/postmark/events`), checked against
`INBOUND_BASIC_AUTH_USER` / `_PASSWORD` before the body is read. `MessageID` is the id
Postmark's send API returned. A Delivery record has no id of its own: it is one per message
and recipient, so those two name it.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.mail.adapter import InboundRequest
from app.mail.delivery import (
    DeliveryEvent,
    EventBatch,
    EventError,
    EventKind,
    EventSource,
    address,
    fallback_id,
    iso_time,
    load_json,
    text,
)

HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
"""Bounce types that say the address takes no mail (Postmark deactivates it too)."""
NOT_BOUNCES = frozenset(
    {"AutoResponder", "Subscribe", "Unsubscribe", "AddressChange", "ChallengeVerification",
     "OpenRelayTest", "InboundError"}
)  # fmt: skip
"""Bounce records that are no failure to deliver our email (an out-of-office reply, say)."""
TIME_FIELDS: Mapping[str, str] = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
}


class PostmarkEvents(EventSource):
    """Postmark's delivery, bounce and spam complaint webhooks (Basic auth: the defaults)."""

    name = "postmark"

    def parse(self, request: InboundRequest) -> EventBatch:
        """The one record, or the record type it is ignored under."""
        payload = load_json(request.body)
        if not isinstance(payload, dict):
            raise EventError("Postmark posts one JSON object")
        found = _event(payload)
        if isinstance(found, str):
            return EventBatch(ignored=(found,))
        return EventBatch(events=(found,))


def _kind(record_type: str, bounce_type: str) -> tuple[EventKind, bool] | None:
    if record_type == "Delivery":
        return EventKind.DELIVERED, False
    if record_type == "SpamComplaint" or (record_type, bounce_type) == ("Bounce", "SpamComplaint"):
        return EventKind.SPAM_REPORT, False
    if record_type != "Bounce" or bounce_type in NOT_BOUNCES:
        return None
    return EventKind.BOUNCED, bounce_type in HARD_BOUNCES


def _event(record: dict[str, object]) -> DeliveryEvent | str:
    """The record as an event, or the name it is ignored under."""
    record_type = text(record.get("RecordType"))
    bounce_type = text(record.get("Type"))
    kind = _kind(record_type, bounce_type)
    if kind is None:
        return (
            f"{record_type}:{bounce_type}"
            if record_type == "Bounce"
            else record_type or "unreadable"
        )
    recipient = address(
        record.get("Recipient") if record_type == "Delivery" else record.get("Email")
    )
    occurred_at = iso_time(record.get(TIME_FIELDS[record_type]))
    message_id = text(record.get("MessageID"))
    if recipient is None or occurred_at is None:
        return "unreadable"
    if record_type == "Delivery":
        event_id = f"Delivery:{message_id}:{recipient.lower()}" if message_id else ""
        reason = text(record.get("Details"))
    else:
        record_id = text(record.get("ID"))
        event_id = f"{record_type}:{record_id}" if record_id else ""
        said = text(record.get("Description")), text(record.get("Details"))
        reason = " ".join(part for part in (text(record.get("Name")) or bounce_type, *said) if part)
    return DeliveryEvent(
        provider="postmark",
        event_id=event_id or fallback_id(record),
        kind=kind[0],
        hard=kind[1],
        recipient=recipient,
        provider_message_id=message_id or None,
        rfc_message_id=None,
        occurred_at=occurred_at,
        reason=reason,
    )


EVENTS = PostmarkEvents()
