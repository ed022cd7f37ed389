"""The queue at a glance, for `/metrics`: unfinished jobs and the oldest one's age, per kind.

Read when scraped (every 15 s or so, by one process): one grouped query over the unfinished jobs,
which the claim index (status, run_after) narrows to the queue's current backlog.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import Job
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus
from app.metrics import QueueRow


async def queue_rows(db: Database) -> list[QueueRow]:
    """One row per job kind (kinds without jobs included, at zero), in kind order."""
    statement = (
        select(Job.kind, func.count(Job.id), func.min(Job.created_at))
        .where(Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)))
        .group_by(Job.kind)
    )
    found: dict[str, tuple[int, datetime | None]] = {kind.value: (0, None) for kind in JobKind}
    async with db.read(ALL_STORES) as session:
        for kind, count, oldest in (await session.execute(statement)).all():
            found[JobKind(kind).value] = (int(count), oldest)
    now = utcnow()
    return [
        QueueRow(kind=kind, depth=depth, oldest_seconds=_age(now, oldest))
        for kind, (depth, oldest) in sorted(found.items())
    ]


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
