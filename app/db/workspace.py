"""The staff workspace's own tables: internal notes, saved replies (macros) and presence.

Assignment and closing are columns of `messages`; these are the rows the workspace adds beside
them. Notes are never sent to anyone; presence rows are heartbeats that expire on their own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import PresenceKind
from app.db.stores import StoreOwned
from app.db.text import SafeString, SafeText


class MessageNote(StoreOwned, Base):
    """An internal note on an email: for colleagues, never sent, shown in the trace."""

    __tablename__ = "message_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    author: Mapped[str] = mapped_column(SafeString(320))
    body: Mapped[str] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Macro(StoreOwned, Base):
    """A saved reply with `{{ variables }}` filled from the email's tool facts."""

    __tablename__ = "macros"
    __table_args__ = (
        UniqueConstraint("store_id", "name", "language", name="uq_macros_store_id_name_language"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(120))
    language: Mapped[str] = mapped_column(SafeString(35), default="")
    """A catalog language tag, or "" for a macro offered in every language."""
    body: Mapped[str] = mapped_column(SafeText)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(SafeString(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(SafeString(320))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Presence(StoreOwned, Base):
    """Who is viewing or editing an email, as of their last heartbeat."""

    __tablename__ = "presence"
    __table_args__ = (
        Index("ix_presence_seen_at", "seen_at"),
        UniqueConstraint("message_id", "staff_id", name="uq_presence_message_id_staff_id"),
    )

    # A surrogate key like every store table's, so privacy erasure finds and deletes the rows.
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    staff_name: Mapped[str] = mapped_column(SafeString(320))
    kind: Mapped[PresenceKind] = mapped_column(
        stored_enum(PresenceKind, length=16, constraint="ck_presence_kind")
    )
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
