"""The autonomy tables: each intent's level per store and language, and every change of it.

A missing row means the intent is at the configured starting level (`AUTONOMY_START_LEVEL`).
`measured_since` restarts the measurement after a demotion, so an intent earns a full window of
fresh reviews before it is proposed again. The rules are in `app.replies.autonomy`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import AutonomyLevel
from app.db.stores import StoreOwned
from app.db.text import SafeString, SafeText


class IntentAutonomy(StoreOwned, Base):
    """One intent's level in one language, in one store, and who set it last."""

    __tablename__ = "intent_autonomy"
    __table_args__ = (
        UniqueConstraint(
            "store_id", "intent", "language", name="uq_intent_autonomy_store_id_intent_language"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    intent: Mapped[str] = mapped_column(SafeString(64))
    language: Mapped[str] = mapped_column(SafeString(35))
    level: Mapped[AutonomyLevel] = mapped_column(
        stored_enum(AutonomyLevel, length=16, constraint="ck_intent_autonomy_level")
    )
    changed_by: Mapped[str] = mapped_column(SafeString(320))
    """The owner who set it, or "system" for an automatic demotion."""
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    measured_since: Mapped[datetime | None]
    """Reviews decided before this (the last demotion) no longer count."""


class AutonomyChange(StoreOwned, Base):
    """The history of one intent's level: from, to, by whom, why, and what was measured."""

    __tablename__ = "autonomy_changes"
    __table_args__ = (Index("ix_autonomy_changes_intent", "store_id", "intent", "language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    intent: Mapped[str] = mapped_column(SafeString(64))
    language: Mapped[str] = mapped_column(SafeString(35))
    from_level: Mapped[AutonomyLevel] = mapped_column(
        stored_enum(AutonomyLevel, length=16, constraint="ck_autonomy_changes_from_level")
    )
    to_level: Mapped[AutonomyLevel] = mapped_column(
        stored_enum(AutonomyLevel, length=16, constraint="ck_autonomy_changes_to_level")
    )
    changed_by: Mapped[str] = mapped_column(SafeString(320))
    reason: Mapped[str] = mapped_column(SafeText)
    measured: Mapped[dict[str, Any] | None]
    """The window's figures when it changed (rate, sample, wrong facts)."""
    reply_id: Mapped[int | None] = mapped_column(BigId)
    """The sent reply reported wrong, for that demotion."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
