"""After the sale: resolution checks of sent replies, follow-ups, and who unsubscribed.

A reply's satisfaction rating is three columns of `replies` itself; these are the rows the
after-sale work adds beside them (`app.jobs.resolution`, `app.jobs.followups`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import FollowUpKind, FollowUpStatus, Rating
from app.db.stores import StoreOwned
from app.db.text import SafeString, SafeText

RATING = stored_enum(Rating, length=16, constraint="ck_replies_rating")
"""The column type of `replies.rating` (the customer's satisfaction rating, by its link)."""

__all__ = ["RATING", "FollowUp", "Rating", "ResolutionCheck", "Unsubscribe"]


class ResolutionCheck(StoreOwned, Base):
    """Whether the customer wrote again after a sent reply, decided once it is due."""

    __tablename__ = "resolution_checks"
    __table_args__ = (Index("ix_resolution_checks_due", "checked_at", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"), unique=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    address: Mapped[str] = mapped_column(SafeString(320))
    """The customer's address, lower case (as `replies.to_address_key`)."""
    automated: Mapped[bool] = mapped_column(Boolean)
    """Sent without a person (the service's own reply, not a draft staff approved or wrote)."""
    sent_at: Mapped[datetime]
    due_at: Mapped[datetime]
    checked_at: Mapped[datetime | None]
    resolved: Mapped[bool | None] = mapped_column(Boolean)
    """None until checked; True when the customer did not write again before `due_at`."""
    wrote_again_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    """Their first email after the reply, when they wrote again."""


class Unsubscribe(StoreOwned, Base):
    """An address that gets no proactive email from one store (replies to it are unaffected)."""

    __tablename__ = "unsubscribes"
    __table_args__ = (
        UniqueConstraint("store_id", "address", name="uq_unsubscribes_store_id_address"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address: Mapped[str] = mapped_column(SafeString(320))
    """Lower case."""
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    """The email whose link they used."""
    one_click: Mapped[bool] = mapped_column(Boolean, default=False)
    """From a mail client's RFC 8058 one-click POST rather than our page's button."""
    unsubscribed_at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUp(StoreOwned, Base):
    """One proactive email: scheduled from the store's data, then sent, or skipped with why."""

    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("store_id", "kind", "source_key", name="uq_followups_store_kind_source"),
        Index("ix_followups_status_due_at", "status", "due_at"),
        Index("ix_followups_address_sent_at", "address", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[FollowUpKind] = mapped_column(
        stored_enum(FollowUpKind, length=16, constraint="ck_followups_kind")
    )
    source_key: Mapped[str] = mapped_column(SafeString(128))
    """What it follows up (an order's id, a reply's id): one follow-up of each kind per source."""
    status: Mapped[FollowUpStatus] = mapped_column(
        stored_enum(FollowUpStatus, length=16, constraint="ck_followups_status"),
        default=FollowUpStatus.SCHEDULED,
    )
    address: Mapped[str] = mapped_column(SafeString(320))
    """The customer's address, lower case."""
    customer_name: Mapped[str | None] = mapped_column(SafeText)
    language: Mapped[str] = mapped_column(SafeString(35), default="en")
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"))
    """The rated reply a review request follows."""
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What the email shows: the order's name and items (read from Shopify when scheduled)."""
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    subject: Mapped[str | None] = mapped_column(SafeText)
    text_body: Mapped[str | None] = mapped_column(SafeText)
    html_body: Mapped[str | None] = mapped_column(SafeText)
    rfc_message_id: Mapped[str | None] = mapped_column(SafeString(1000))
    provider_message_id: Mapped[str | None] = mapped_column(SafeString(256))
    reason: Mapped[str | None] = mapped_column(SafeText)
    """Why it was skipped, held or failed."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
