"""A connected mailbox's checkpoint and state: where reading stopped, and how it is going.

One row per mailbox (today one, named `default`). The checkpoint is the folder's UIDVALIDITY and
the last UID stored, so a restarted poller neither misses nor repeats a message. The lease
(`lease_owner` until `lease_until`) lets exactly one worker process read the mailbox at a time.
The state (`state`, `last_error`, `last_seen_at`) is what `/readyz` and the admin show.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, utcnow
from app.db.text import SafeString, SafeText


class Mailbox(Base):
    """One connected mailbox: its checkpoint, who reads it, and its last known state."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(64), unique=True)
    folder: Mapped[str] = mapped_column(SafeString(255))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(SafeString(32))
    last_error: Mapped[str | None] = mapped_column(SafeText)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    """Messages stored from this mailbox since the row was made."""
    lease_owner: Mapped[str | None] = mapped_column(SafeString(128))
    lease_until: Mapped[datetime | None]
    connected_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    """The poller's last sign of life (a sync, an IDLE round, a failed attempt)."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
