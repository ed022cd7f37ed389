"""The mailbox's row: its checkpoint, the lease of the worker reading it, and its state.

Every write names the lease's owner: a poller whose lease was taken over (it stalled for longer
than the lease) finds its writes refused (`LeaseLost`) and stops, so two pollers never move the
checkpoint at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.engine import Database
from app.db.mailboxes import Mailbox
from app.db.models import Message
from app.db.scope import ALL_STORES

NAME = "default"
"""The one mailbox's row (MAILBOX_* settings describe one mailbox)."""


class LeaseLost(Exception):
    """Another worker reads the mailbox now: this one must stop."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where reading stopped: the folder's UIDVALIDITY (None: never read) and the last UID."""

    folder: str
    uidvalidity: int | None
    last_uid: int


async def take_lease(
    db: Database, *, owner: str, folder: str, seconds: float, now: datetime | None = None
) -> Checkpoint | None:
    """Become the mailbox's reader, or None while another worker's lease runs.

    A row whose folder differs from `folder` (MAILBOX_FOLDER changed) starts over in the new
    folder: UIDs of one folder mean nothing in another.
    """
    at = now or utcnow()

    def work(session: Session) -> Checkpoint | None:
        row = session.execute(
            select(Mailbox).where(Mailbox.name == NAME).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = Mailbox(name=NAME, folder=folder, last_uid=0, state="starting", stored=0)
            session.add(row)
        elif row.lease_owner not in (None, owner) and row.lease_until and row.lease_until > at:
            return None
        if row.folder != folder:
            row.folder, row.uidvalidity, row.last_uid = folder, None, 0
        row.lease_owner = owner
        row.lease_until = at + timedelta(seconds=seconds)
        row.updated_at = at
        return Checkpoint(folder=row.folder, uidvalidity=row.uidvalidity, last_uid=row.last_uid)

    return await db.unit(work)


async def _owned_update(db: Database, owner: str, values: dict[str, Any]) -> None:
    def work(session: Session) -> int:
        result = session.execute(
            update(Mailbox)
            .where(Mailbox.name == NAME, Mailbox.lease_owner == owner)
            .values(updated_at=utcnow(), **values)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    if await db.unit(work) != 1:
        raise LeaseLost("another worker took over the mailbox")


async def restart_at(db: Database, *, owner: str, uidvalidity: int, last_uid: int) -> None:
    """Record a new starting point (first read, or a folder whose UIDVALIDITY changed)."""
    await _owned_update(db, owner, {"uidvalidity": uidvalidity, "last_uid": last_uid})


async def advance(db: Database, *, owner: str, uid: int, stored: bool) -> None:
    """Move the checkpoint past `uid` (its message is stored, or needs no storing)."""
    values: dict[str, Any] = {"last_uid": uid, "last_seen_at": utcnow()}
    if stored:
        values["stored"] = Mailbox.stored + 1
    await _owned_update(db, owner, values)


async def report(
    db: Database,
    *,
    owner: str,
    state: str,
    error: str | None = None,
    lease_seconds: float,
    connected: bool = False,
) -> None:
    """Record the reader's state (and renew its lease): what /readyz and the admin show."""
    now = utcnow()
    values: dict[str, Any] = {
        "state": state,
        "last_error": error,
        "last_seen_at": now,
        "lease_until": now + timedelta(seconds=lease_seconds),
    }
    if connected:
        values["connected_at"] = now
    await _owned_update(db, owner, values)


async def release(db: Database, *, owner: str) -> None:
    """Give the lease up (the worker stops), so another worker may read at once."""

    def work(session: Session) -> None:
        session.execute(
            update(Mailbox)
            .where(Mailbox.name == NAME, Mailbox.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, state="stopped", updated_at=utcnow())
        )

    await db.unit(work)


async def message_id_known(db: Database, message_id: str) -> bool:
    """Whether an email with this Message-ID is stored already (from any provider)."""

    def work(session: Session) -> bool:
        found = session.execute(
            select(Message.id).where(Message.message_id == message_id).limit(1)
        ).first()
        return found is not None

    return await db.unit(work, ALL_STORES)


async def status(
    db: Database, *, stale_after: float, now: datetime | None = None
) -> dict[str, Any]:
    """The mailbox's state for /readyz and the admin (`{"state": "not_started"}` before any)."""

    def work(session: Session) -> dict[str, Any]:
        row = session.execute(select(Mailbox).where(Mailbox.name == NAME)).scalar_one_or_none()
        if row is None:
            return {"state": "not_started"}
        at = now or utcnow()
        state = row.state
        if state != "stopped" and (
            row.last_seen_at is None or (at - row.last_seen_at).total_seconds() > stale_after
        ):
            # The row says what the reader last wrote; a reader that writes nothing is gone.
            state = "stale"
        return {
            "state": state,
            "folder": row.folder,
            "last_uid": row.last_uid,
            "stored": row.stored,
            "last_error": row.last_error,
            "connected_at": _iso(row.connected_at),
            "last_seen_at": _iso(row.last_seen_at),
        }

    async with db.read() as session:
        return await session.run_sync(work)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
