"""SparkPost relay webhooks: inbound email relayed as a JSON batch of events.

A post is a JSON array of `{"msys": {"relay_message": {...}}}`; each relay message has the
envelope (`msg_from`, `rcpt_to`) and `content.email_rfc822`, the whole MIME message, in base64
when `content.email_rfc822_is_base64` (SparkPost encodes a message that is not valid UTF-8).
One post may carry several messages: then each is stored as its own delivery (a `Batch`, each
body a one-event array), as if it had come alone; a post of one message is stored as posted.

Authentication: SparkPost signs nothing. The relay webhook's `auth_token`, which SparkPost sends
in `X-MessageSystems-Webhook-Token`, must be INBOUND_BASIC_AUTH_PASSWORD; Basic credentials in
the webhook's target URL are accepted as well. Either is checked before the body is read.

SparkPost reports no SPF or DKIM result, so a sender reached through SparkPost is never verified
and its mail is drafted for staff. Its other events (message, track, relay and generation
events) and the empty `[{"msys": {}}]` test post are acknowledged and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from app.mail.adapter import (
    Batch,
    Delivery,
    InboundAdapter,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
)
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import storable_text
from app.mail.jsonmail import load_json
from app.mail.mime import content_checksum
from app.mail.models import InboundEmail
from app.mail.normalise import email_from_raw, raw_delivery

PROVIDER = "sparkpost"
FORMAT_RELAY = "sparkpost-relay"
RELAY_HEADER = "x-messagesystems-webhook-token"
"""The header carrying the relay webhook's auth_token."""


@dataclass(frozen=True, slots=True)
class RelayMessage:
    """One relayed email: the event as posted, its MIME bytes and its envelope."""

    event: dict[str, Any]
    raw: bytes
    msg_from: str | None
    rcpt_to: str | None


def read_batch(payload: object) -> tuple[list[RelayMessage], list[str]]:
    """The relayed emails in a post, and the kinds of its other events.

    Raises:
        ReadError: not an array of SparkPost events, or a relay message without its email.
    """
    if not isinstance(payload, list):
        raise ReadError("not a JSON array of SparkPost events")
    messages: list[RelayMessage] = []
    others: list[str] = []
    for item in payload:
        msys = item.get("msys") if isinstance(item, dict) else None
        if not isinstance(msys, dict):
            raise ReadError("an item of the batch has no msys object")
        relay = msys.get("relay_message")
        if relay is None:
            others += [_kind(category, body) for category, body in msys.items()]
            continue
        if not isinstance(relay, dict):
            raise ReadError("relay_message is not an object")
        messages.append(_relay_message(item, relay))
    return messages, others


def _kind(category: str, body: object) -> str:
    kind = body.get("type") if isinstance(body, dict) else None
    return storable_text(f"{category}.{kind}" if isinstance(kind, str) else category)[:60]


def _relay_message(item: dict[str, Any], relay: dict[str, Any]) -> RelayMessage:
    content = relay.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("email_rfc822"), str):
        raise ReadError("relay_message without content.email_rfc822")
    rfc822: str = content["email_rfc822"]
    if content.get("email_rfc822_is_base64") is True:
        try:
            raw = base64.b64decode(rfc822, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ReadError(f"email_rfc822 is not base64: {exc}") from exc
    else:
        # A JSON string can hold lone surrogates; they are kept as sent rather than refused.
        raw = rfc822.encode("utf-8", "surrogatepass")
    msg_from, rcpt_to = relay.get("msg_from"), relay.get("rcpt_to")
    return RelayMessage(
        event=item,
        raw=raw,
        msg_from=msg_from if isinstance(msg_from, str) else None,
        rcpt_to=rcpt_to if isinstance(rcpt_to, str) else None,
    )


def read_payload(payload: object) -> Delivery | Batch | NotAnEmail:
    """Each relayed email's dedupe keys, or the events the post holds instead."""
    messages, others = read_batch(payload)
    if not messages:
        return NotAnEmail(kind=others[0] if others else "empty batch")
    deliveries = [
        raw_delivery(message.raw, FORMAT_RELAY, [message.rcpt_to or ""]) for message in messages
    ]
    if len(deliveries) == 1:
        return deliveries[0]
    return Batch(
        tuple(
            replace(delivery, body=_alone(message))
            for delivery, message in zip(deliveries, messages, strict=True)
        )
    )


def _alone(message: RelayMessage) -> bytes:
    """A post of this one email, as SparkPost would have sent it alone."""
    try:
        # ASCII JSON: the email round-trips exactly, lone surrogates included.
        return json.dumps([message.event]).encode("ascii")
    except RecursionError as exc:
        raise ReadError("an event nests too deep to store on its own") from exc


def parse_payload(payload: object, delivery: Delivery, ceilings: MimeCeilings) -> InboundEmail:
    """The relayed email the delivery's checksum names (or the post's only one).

    Raises:
        ReadError: the post is not SparkPost's, or holds no such email.
        UnusableEmail: the email is empty or headless.
        OverCeiling: the email crosses one of `ceilings`.
    """
    messages, _ = read_batch(payload)
    chosen = [m for m in messages if content_checksum(m.raw) == delivery.checksum]
    if not chosen and len(messages) == 1:
        chosen = messages
    if not chosen:
        raise ReadError("no relayed email in the post matches the stored delivery")
    message = chosen[0]
    return email_from_raw(
        message.raw,
        delivery,
        ceilings,
        envelope_from=message.msg_from,
        envelope_to=(message.rcpt_to,) if message.rcpt_to else (),
    )


class SparkPostAdapter(InboundAdapter):
    """SparkPost's relay webhook: its auth token, or Basic credentials, in the headers."""

    name = PROVIDER

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """The relay webhook's auth token, or Basic credentials."""
        if not self.configured(secrets):
            return secrets.allow_unauthenticated
        token = headers.get(RELAY_HEADER)
        if token is not None and secrets.basic_password:
            expected = secrets.basic_password.encode("utf-8")
            if hmac.compare_digest(token.strip().encode("utf-8", "replace"), expected):
                return True
        return secrets.basic_ok(headers.get("authorization"))

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | Batch | NotAnEmail:
        """Each relayed email's keys (`read_payload`)."""
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
        """Parse the stored post (`parse_payload`)."""
        return parse_payload(load_json(raw), delivery, ceilings)


ADAPTER = SparkPostAdapter()
