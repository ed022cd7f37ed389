"""LFRM segments and product suggestions: boundaries, customers' segments, suggested products.

Each store's quintile boundaries, its customers' segments, and the products suggested in
replies with their clicks.

The rule that turns measures into segments is `app.store.segments`; these tables only keep its
results, so scoring one customer reads one row and the needs-action view can order by
`customer_segments.priority` in SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, utcnow
from app.db.stores import StoreOwned
from app.db.text import SafeString


class SegmentCuts(StoreOwned, Base):
    """A store's quintile boundaries for each LFRM measure, as of its last computation."""

    __tablename__ = "segment_cuts"
    __table_args__ = (UniqueConstraint("store_id", name="uq_segment_cuts_store_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cuts: Mapped[dict[str, Any]]
    """{"length": ["17", ...], "frequency": [...], "recency": [...], "monetary": [...]}."""
    customers: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerSegment(StoreOwned, Base):
    """One customer's segment as of the store's last computation (keyed by email, lower case)."""

    __tablename__ = "customer_segments"
    __table_args__ = (
        UniqueConstraint("store_id", "email", name="uq_customer_segments_store_id_email"),
        Index("ix_customer_segments_store_id_segment", "store_id", "segment"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(SafeString(320))
    segment: Mapped[str] = mapped_column(SafeString(16))
    priority: Mapped[int] = mapped_column(Integer)
    meaning: Mapped[str] = mapped_column(SafeString(200))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductSuggestion(StoreOwned, Base):
    """A product suggested in one reply; its link is `/r/<token>`, stored only as a hash.

    The redirect goes to `url` as stored here, never to anything the link itself carries.
    """

    __tablename__ = "product_suggestions"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_product_suggestions_token_hash"),
        Index("ix_product_suggestions_store_id_product_id", "store_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(SafeString(64))
    product_id: Mapped[str] = mapped_column(SafeString(100))
    product_title: Mapped[str] = mapped_column(SafeString(300))
    url: Mapped[str] = mapped_column(SafeString(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    last_clicked_at: Mapped[datetime | None]
