"""What became of the replies we sent: providers' delivery events, and the suppression list.

An event is stored once per provider event id, before anyone knows which reply it is about
(no store yet: `StoreRouted`); it is matched to its reply, and so to a store, when the reply's
provider message id or Message-ID is known (`app.replies.deliveries`). A store's suppression
list holds the addresses that bounced hard or reported a reply as spam: automated replies to
them wait as drafts until staff lift it.

After a customer's data is erased (`customers/redact`), their suppressions and unsubscribes hold
`address_hash(address)` instead of the address: lookups match either, so the customer still
gets no mail they refused, and the row no longer says who they are.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import DeliveryState
from app.db.stores import StoreOwned, StoreRouted
from app.db.text import SafeString, SafeText


def address_hash(address: str) -> str:
    """SHA-256 (hex) of the trimmed, lower-case address.

    How Shopify's privacy requests name a customer, and what an erased customer's suppression or
    unsubscribe keeps.
    """
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def address_keys(address: str) -> list[str]:
    """What a suppression or unsubscribe of `address` may hold: the address, or its hash."""
    key = address.strip().lower()
    return [key, address_hash(key)]


class DeliveryEventRecord(StoreRouted, Base):
    """One provider event about one sent email and recipient, exactly as normalised."""

    __tablename__ = "delivery_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_delivery_events_provider_event_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(SafeString(32))
    event_id: Mapped[str] = mapped_column(SafeString(256))
    """The provider's id of the event: a redelivered event is stored once."""
    kind: Mapped[DeliveryState] = mapped_column(
        stored_enum(DeliveryState, length=16, constraint="ck_delivery_events_kind")
    )
    hard: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient: Mapped[str] = mapped_column(SafeString(320))
    provider_message_id: Mapped[str | None] = mapped_column(SafeString(256))
    message_key: Mapped[str | None] = mapped_column(SafeString(256), index=True)
    """The part of `provider_message_id` the send's own id shares (`app.mail.delivery`)."""
    rfc_message_id: Mapped[str | None] = mapped_column(SafeString(1000), index=True)
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(SafeText, default="")
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"), index=True)
    """The reply it is about, once known (None: its send is not recorded yet, or not ours)."""
    matched_at: Mapped[datetime | None]


class Suppression(StoreOwned, Base):
    """An address of one store that gets no automated mail, and why."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("store_id", "address", name="uq_suppressions_store_id_address"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(SafeString(320))
    """Lower case, as replies' `to_address_key`."""
    kind: Mapped[DeliveryState] = mapped_column(
        stored_enum(DeliveryState, length=16, constraint="ck_suppressions_kind")
    )
    reason: Mapped[str] = mapped_column(SafeText, default="")
    delivery_event_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_events.id"))
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    """The reply that bounced or was reported."""
    occurred_at: Mapped[datetime]
    """When the provider says it happened (a lift is undone only by a later event)."""
    suppressed_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None]
    """When staff lifted it (None: in force)."""
    lifted_by: Mapped[str | None] = mapped_column(SafeString(320))
