"""What became of an email we sent: one provider's delivery events, normalised.

Each provider that reports deliveries is one module in `app.mail.events` defining `EVENTS`, an
instance of a subclass of `EventSource`; the registry finds it, so adding a provider (Amazon
SES through SNS, say) touches no other module. The route (`POST /webhooks/<name>/events`) asks
the source, in order: `check_headers` (refuse from the headers alone), `check_body` (a signature
over the body, fetching a signing certificate through the injected `HttpGet` if it must), then
`parse`, which turns the request into `DeliveryEvent`s and counts the provider's other events.

The order of finality (`state_key`) is defined here too, so that events arriving in any order
leave a reply in the same state: the most final kind wins, then the newest.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from app.mail.adapter import HttpGet, InboundRequest, InboundSecrets

MAX_EVENT_ID = 256
MAX_PROVIDER_ID = 256
MAX_MESSAGE_ID = 1000
MAX_REASON = 1000
MAX_ADDRESS = 320


class EventKind(StrEnum):
    """What happened to one email for one recipient (stored on the reply as its state)."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"
    """Not delivered yet; the provider keeps trying."""
    BOUNCED = "bounced"
    DROPPED = "dropped"
    """Never sent: the provider's own suppression list or checks stopped it."""
    SPAM_REPORT = "spam_report"


class EventError(ValueError):
    """The request is authentic but not in the provider's format (answered 400)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryEvent:
    """One provider event about one recipient of one email, as every provider's looks."""

    provider: str
    event_id: str
    """The provider's own id of the event (deduplicated on it, with the provider)."""
    kind: EventKind
    hard: bool
    """A permanent failure: the address will not accept mail (meaningful for `bounced`)."""
    recipient: str
    provider_message_id: str | None
    """The provider's id of the email: what its send API returned, or that followed by dotted
    details (SendGrid's `sg_message_id`; see `same_message`)."""
    rfc_message_id: str | None
    """The email's Message-ID header, with angle brackets, when the event carries it."""
    occurred_at: datetime
    reason: str

    def __post_init__(self) -> None:
        # Bounded and canonical here, once, whichever provider built it: the columns are sized.
        set_ = object.__setattr__
        set_(self, "event_id", _bounded_id(self.event_id, MAX_EVENT_ID))
        set_(self, "recipient", self.recipient.strip().lower()[:MAX_ADDRESS])
        set_(self, "hard", self.hard and self.kind is EventKind.BOUNCED)
        pid = (self.provider_message_id or "").strip()
        set_(self, "provider_message_id", pid[:MAX_PROVIDER_ID] or None)
        set_(self, "rfc_message_id", angle_id(self.rfc_message_id))
        set_(self, "reason", " ".join(self.reason.split())[:MAX_REASON])
        when = self.occurred_at
        set_(
            self, "occurred_at", (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
        )

    @property
    def suppresses(self) -> bool:
        """Whether the address must get no more automated mail: a hard bounce or a spam report."""
        return self.kind is EventKind.SPAM_REPORT or (self.kind is EventKind.BOUNCED and self.hard)


@dataclass(frozen=True, slots=True)
class EventBatch:
    """What one request said: delivery events, and the kinds of provider events ignored."""

    events: tuple[DeliveryEvent, ...] = ()
    ignored: tuple[str, ...] = ()
    """Provider events that are no delivery event (opens, clicks...) or unreadable ones."""
    confirm_url: str | None = None
    """A subscription the provider asks us to confirm by GET (Amazon SNS), already vetted."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSecrets:
    """Every event source's credentials: the inbound ones, and those only events use."""

    inbound: InboundSecrets = field(default_factory=InboundSecrets)
    sendgrid_public_key: str | None = None
    """SendGrid's Event Webhook verification key (base64 DER, EC P-256)."""


class EventSource(ABC):
    """One provider's delivery-event webhook. Subclasses set `name` and override what differs.

    The defaults suit a provider that offers only Basic auth in the webhook URL (Postmark): the
    headers decide, and an unconfigured source refuses everything unless unauthenticated posts
    are explicitly allowed (local experiments).
    """

    name: ClassVar[str]

    def configured(self, secrets: EventSecrets) -> bool:
        """Whether this provider's authentication is set up."""
        return secrets.inbound.basic_configured

    def check_headers(self, headers: Mapping[str, str], secrets: EventSecrets, now: float) -> bool:
        """Refuse what the headers alone can refuse (before the body is read)."""
        if not self.configured(secrets):
            return secrets.inbound.allow_unauthenticated
        return secrets.inbound.basic_ok(headers.get("authorization"))

    async def check_body(
        self, request: InboundRequest, secrets: EventSecrets, now: float, http: HttpGet
    ) -> bool:
        """Whether the body is the provider's (called only when `configured`)."""
        return True

    @abstractmethod
    def parse(self, request: InboundRequest) -> EventBatch:
        """The request's delivery events.

        A single unreadable event in a batch is counted as ignored ("unreadable"), so one odd
        event never costs the others.

        Raises:
            EventError: the request as a whole is not in the provider's format.
        """


# --- the order of finality ---------------------------------------------------------------------

_RANKS: Mapping[tuple[EventKind, bool], int] = {
    (EventKind.DEFERRED, False): 0,
    (EventKind.BOUNCED, False): 1,
    (EventKind.DELIVERED, False): 2,
    (EventKind.DROPPED, False): 3,
    (EventKind.BOUNCED, True): 4,
    (EventKind.SPAM_REPORT, False): 5,
}
"""How final each state is. A deferral is overtaken by anything; a soft bounce by a later
delivery (the provider retried); a delivery by a hard bounce that came back afterwards or by a
spam report (the recipient had it and complained). A complaint is the last word."""


def rank(kind: EventKind, hard: bool) -> int:
    """How final a state is (higher wins)."""
    return _RANKS[(kind, hard and kind is EventKind.BOUNCED)]


def state_key(kind: EventKind, hard: bool, at: datetime, reason: str) -> tuple[int, datetime, str]:
    """The order of states: the most final, then the newest, then (a tie) the reason's text.

    A reply keeps the greatest state it was told of, so the result is the same whatever order
    the events arrive in.
    """
    return (rank(kind, hard), at, reason)


# --- small readers shared by the providers' parsers ---------------------------------------------


def message_key(provider_message_id: str) -> str:
    """The part of a provider message id that both the send and its events carry for certain.

    SendGrid's events name the email `<X-Message-Id>.<filter details>`: the part before the
    first dot is in both. Ids with no dot are their own key.
    """
    return provider_message_id.partition(".")[0]


def same_message(event_id: str, sent_id: str) -> bool:
    """Whether an event's provider message id names the email whose send returned `sent_id`."""
    return event_id == sent_id or event_id.startswith(sent_id + ".")


def sent_ids(event_id: str) -> list[str]:
    """Every id a send may have returned for an event's provider message id (its dot-prefixes)."""
    parts = event_id.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def load_json(body: bytes) -> Any:
    """The body as JSON. Raises `EventError` when it is not."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise EventError(f"not JSON: {exc}") from exc


def angle_id(value: object) -> str | None:
    """A Message-ID with angle brackets (providers drop them), or None."""
    if not isinstance(value, str):
        return None
    text = "".join(value.split()).strip("<>")
    return f"<{text}>"[:MAX_MESSAGE_ID] if text else None


def text(value: object) -> str:
    """A scalar field as text ("" for anything else)."""
    if isinstance(value, bool) or value is None:
        return ""
    return str(value) if isinstance(value, str | int | float) else ""


def address(value: object) -> str | None:
    """A recipient address as the provider gave it, if it looks like one."""
    found = text(value).strip()
    return found if "@" in found and len(found) <= MAX_ADDRESS else None


def epoch(value: object) -> datetime | None:
    """A Unix timestamp (number or numeric string) as UTC, if it is one."""
    try:
        seconds = float(text(value)) if isinstance(value, str) else value
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return None
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def iso_time(value: object) -> datetime | None:
    """An ISO 8601 time as UTC (no zone means UTC), if it is one."""
    try:
        when = datetime.fromisoformat(text(value).strip())
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def fallback_id(item: object) -> str:
    """An event id for an event that carries none: a digest of its canonical JSON."""
    canonical = json.dumps(item, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _bounded_id(value: str, limit: int) -> str:
    value = value.strip()
    if len(value) <= limit:
        return value
    # Too long for the column: a digest keeps it unique and stable across redeliveries.
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
