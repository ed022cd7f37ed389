"""Who else has an email open: heartbeats staff pages send while an email is on screen.

The thread page's script posts a heartbeat every `HEARTBEAT_SECONDS` ("viewing", or "editing"
while the composer has unsent changes); a row older than `FRESH_SECONDS` means the page was
closed, so it is ignored (and cleared by the next heartbeat). Nothing depends on presence for
safety: approving what someone else changed is refused by the draft's revision, not by this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.staff import Staff
from app.admin.workspace_schemas import PresenceView
from app.db.base import utcnow
from app.db.engine import Database
from app.db.statuses import PresenceKind
from app.db.workspace import Presence

HEARTBEAT_SECONDS = 20
FRESH_SECONDS = 60


async def heartbeat(db: Database, message_pk: int, *, staff: Staff, kind: PresenceKind) -> None:
    """Record that `staff` is viewing or editing the email now."""
    now = utcnow()
    try:
        async with db.write() as session:
            row = (
                await session.execute(
                    select(Presence).where(
                        Presence.message_id == message_pk, Presence.staff_id == staff.id
                    )
                )
            ).scalar_one_or_none()
            if row is None:
                session.add(
                    Presence(
                        message_id=message_pk,
                        staff_id=staff.id,
                        staff_name=staff.name or staff.email,
                        kind=kind,
                        seen_at=now,
                    )
                )
            else:
                row.kind, row.seen_at = kind, now
            stale = now - timedelta(seconds=FRESH_SECONDS * 10)
            await session.execute(delete(Presence).where(Presence.seen_at < stale))
    except IntegrityError:
        # Two tabs of the same person beat at once: the other one recorded it.
        return


async def present(
    session: AsyncSession, message_pks: Iterable[int], *, besides: int | None
) -> dict[int, list[PresenceView]]:
    """Who has each email open now (fresh heartbeats), leaving out staff member `besides`."""
    wanted = list(message_pks)
    if not wanted:
        return {}
    fresh = utcnow() - timedelta(seconds=FRESH_SECONDS)
    statement = (
        select(Presence)
        .where(Presence.message_id.in_(wanted), Presence.seen_at >= fresh)
        .order_by(Presence.seen_at.desc())
    )
    found: dict[int, list[PresenceView]] = defaultdict(list)
    for row in (await session.execute(statement)).scalars():
        if row.staff_id != besides:
            found[row.message_id].append(PresenceView.model_validate(row))
    return dict(found)
