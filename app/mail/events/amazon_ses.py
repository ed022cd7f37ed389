"""Amazon SES sending events, published to an SNS topic that posts to our HTTPS endpoint.

SES writes them in two shapes: identity notifications (`notificationType` Bounce, Complaint or
Delivery) and event publishing through a configuration set (`eventType`, adding DeliveryDelay,
Reject, Send, Open, Click, Rendering Failure, Subscription). Both carry a `mail` object (the
email: SES's `messageId`, `destination`, and the original headers when SES includes them) and
one object for the event, listing the recipients it concerns: one delivery event is read per
recipient. A Permanent bounce is hard, unless SES did not even try because the address is on its
own suppression list (a drop, as Mailgun's `suppress-*`); a Transient or Undetermined bounce is
soft (SES gave up on this email, the address may still work). Send, Open, Click and the rest
are acknowledged and ignored.

Authentication is the inbound route's, to the letter (`app.mail.sns`): the SNS signature with a
certificate from SES_SNS_CERT_HOSTS, for a topic in SES_SNS_TOPIC_ARNS; a SubscriptionConfirmation
is confirmed by following its SubscribeURL on AWS's own SNS hosts.

The event id is the SNS MessageId with the recipient: SNS redelivers a message under its id, so a
retry is stored once. The provider message id is SES's `mail.messageId`; the Message-ID header
SES was given (`commonHeaders.messageId`, or `headers`) is what matches a reply sent another way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
    iso_time,
    text,
)
from app.mail.sns import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    SnsError,
    SnsMessage,
    body_ok,
    configured,
    confirm_url,
    headers_ok,
    parse_message,
)

# Each event's own object and the list in it naming the recipients it concerns.
_DETAILS: Mapping[str, tuple[str, str]] = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
    "Delivery": ("delivery", "recipients"),
    "DeliveryDelay": ("deliveryDelay", "delayedRecipients"),
    "Reject": ("reject", ""),
}
SES_SUPPRESSED = frozenset({"Suppressed", "OnAccountSuppressionList"})
"""Permanent bounce subtypes for mail SES never sent: the address is on its suppression list."""


class AmazonSesEvents(EventSource):
    """SES sending events through SNS; the signature is in the body."""

    name = "amazon_ses"

    def configured(self, secrets: EventSecrets) -> bool:
        """Whether certificate hosts and the accepted topics are set."""
        return configured(secrets.inbound)

    def check_headers(self, headers: Mapping[str, str], secrets: EventSecrets, now: float) -> bool:
        """Refuse what SNS's own headers show is not an SNS message for one of our topics."""
        return headers_ok(headers, secrets.inbound)

    async def check_body(
        self, request: InboundRequest, secrets: EventSecrets, now: float, http: HttpGet
    ) -> bool:
        """Verify the SNS signature (`app.mail.sns.body_ok`)."""
        return await body_ok(request, secrets.inbound, now, http)

    def parse(self, request: InboundRequest) -> EventBatch:
        """The notification's events, one per recipient, or the confirmation link to follow."""
        try:
            message = parse_message(request.body)
        except SnsError as exc:
            raise EventError(str(exc)) from exc
        if message.type == SUBSCRIPTION_CONFIRMATION:
            url = confirm_url(message)
            return EventBatch(confirm_url=url) if url else EventBatch(ignored=(message.type,))
        if message.type != NOTIFICATION:
            return EventBatch(ignored=(message.type,))
        return read_notification(message, _notification(message))


def _notification(message: SnsMessage) -> dict[str, Any]:
    try:
        loaded = json.loads(message.message)
    except (ValueError, RecursionError) as exc:
        raise EventError(f"the SNS message is not JSON: {type(exc).__name__}") from exc
    if not isinstance(loaded, dict):
        raise EventError("the SNS message is not a JSON object")
    return loaded


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_notification(message: SnsMessage, notification: dict[str, Any]) -> EventBatch:
    """The delivery events of one SES notification, in either shape."""
    kind_name = text(notification.get("eventType") or notification.get("notificationType"))
    if kind_name not in _DETAILS:
        return EventBatch(ignored=(kind_name[:60] or "unreadable",))
    mail = _object(notification.get("mail"))
    details = _object(notification.get(_DETAILS[kind_name][0]))
    kind = _kind(kind_name, details)
    occurred_at = (
        iso_time(details.get("timestamp"))
        or iso_time(mail.get("timestamp"))
        or iso_time(message.get("Timestamp"))
    )
    if occurred_at is None:
        return EventBatch(ignored=("unreadable",))
    events: list[DeliveryEvent] = []
    ignored: list[str] = []
    for recipient, said in _recipients(kind_name, details, mail):
        if recipient is None:
            ignored.append("unreadable")
            continue
        events.append(
            DeliveryEvent(
                provider="amazon_ses",
                event_id=f"{message.message_id}:{recipient.lower()}",
                kind=kind[0],
                hard=kind[1],
                recipient=recipient,
                provider_message_id=text(mail.get("messageId")) or None,
                rfc_message_id=_header_message_id(mail),
                occurred_at=occurred_at,
                reason=_reason(kind_name, details, said),
            )
        )
    if not events and not ignored:
        ignored.append(f"{kind_name} without recipients")
    return EventBatch(events=tuple(events), ignored=tuple(ignored))


def _kind(kind_name: str, details: dict[str, Any]) -> tuple[EventKind, bool]:
    if kind_name == "Delivery":
        return EventKind.DELIVERED, False
    if kind_name == "DeliveryDelay":
        return EventKind.DEFERRED, False
    if kind_name == "Complaint":
        return EventKind.SPAM_REPORT, False
    if kind_name == "Reject":
        return EventKind.DROPPED, False
    permanent = text(details.get("bounceType")) == "Permanent"
    if permanent and text(details.get("bounceSubType")) in SES_SUPPRESSED:
        return EventKind.DROPPED, False
    return EventKind.BOUNCED, permanent


def _recipients(
    kind_name: str, details: dict[str, Any], mail: dict[str, Any]
) -> list[tuple[str | None, dict[str, Any]]]:
    """Each recipient the event concerns (None for one unreadable), with what it says of it."""
    if kind_name == "Reject":
        # A rejected email was sent to no one: every destination is concerned.
        listed: object = mail.get("destination")
    else:
        listed = details.get(_DETAILS[kind_name][1])
    if not isinstance(listed, list):
        return []
    found: list[tuple[str | None, dict[str, Any]]] = []
    for item in listed:
        said = _object(item)
        found.append((address(said.get("emailAddress") if said else item), said))
    return found


def _reason(kind_name: str, details: dict[str, Any], said: dict[str, Any]) -> str:
    if kind_name == "Delivery":
        return text(details.get("smtpResponse"))
    if kind_name == "Reject":
        return text(details.get("reason"))
    if kind_name == "Complaint":
        return text(details.get("complaintFeedbackType")) or "complaint"
    if kind_name == "Bounce":
        types = (text(details.get("bounceType")), text(details.get("bounceSubType")))
        summary = "/".join(part for part in types if part)
    else:
        summary = text(details.get("delayType"))
    diagnostic = text(said.get("diagnosticCode")) or text(said.get("status"))
    return ": ".join(part for part in (summary, diagnostic) if part)


def _header_message_id(mail: dict[str, Any]) -> str | None:
    """The Message-ID header SES was given: `commonHeaders`, else the `headers` list."""
    common = text(_object(mail.get("commonHeaders")).get("messageId"))
    if common:
        return common
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        fields = _object(header)
        if text(fields.get("name")).lower() == "message-id":
            return text(fields.get("value")) or None
    return None


EVENTS = AmazonSesEvents()
