"""The jobs table as a queue: enqueue in the caller's transaction, claim with a lease.

A claim is one atomic UPDATE ... RETURNING of the most urgent due job (or a job whose lease ran
out, because its worker died): lowest priority first, then oldest. Sends have priority 0 and
inbound email 100, so a reply staff approved, or a send being retried, is claimed before any of
the inbound backlog. PostgreSQL adds `FOR UPDATE SKIP LOCKED` so many workers claim different
jobs without waiting on each other; SQLite serialises writers, and the same statement is atomic
there.

The statements run on a synchronous `Session` (`claim_next_in`, `complete_in`) so the worker can
put them in the same unit of work as the job's own reads and writes (`Database.unit`); the async
forms run the same functions on an `AsyncSession`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.models import Job, utcnow
from app.db.statuses import JobKind, JobStatus

MAX_ERROR_CHARS = 4000
PRIORITY: dict[JobKind, int] = {
    JobKind.SEND_REPLY: 0,
    JobKind.PRIVACY_REQUEST: 50,
    JobKind.PROCESS_INBOUND: 100,
}
"""Lower is claimed first: a customer's reply never waits behind the inbound backlog."""


class RetryLater(Exception):
    """Raised by a job handler: this attempt failed in an expected way; try again after `delay`."""

    def __init__(self, message: str, *, delay: timedelta | None = None) -> None:
        super().__init__(message)
        self.delay = delay


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds the lease on."""

    id: int
    kind: JobKind
    message_id: int | None
    attempts: int
    reply_id: int | None = None
    store_id: int | None = None
    """The store whose work it is (None: an email not routed yet)."""
    owner: str = ""
    """The worker holding the lease."""
    loaded: Any = None
    """What the worker read for the job in the claim's own transaction (see `Worker.loaders`)."""
    lease: Lease = field(default_factory=lambda: Lease(0, ""))

    def __post_init__(self) -> None:
        object.__setattr__(self, "lease", Lease(self.id, self.owner))


@dataclass(slots=True)
class Lease:
    """A claimed job's lease, which its handler may end in its own last unit of work.

    A handler that completes the job together with its outcome (`complete_in` in the same
    transaction) saves the worker a separate commit; it marks `completed` once that committed.
    """

    job_id: int
    owner: str
    completed: bool = False

    def complete_in(self, session: Session) -> bool:
        """Mark the job done in the caller's transaction; False if the lease was lost."""
        return complete_in(session, self.job_id, owner=self.owner)


async def enqueue(
    session: AsyncSession,
    kind: JobKind,
    *,
    message_id: int | None,
    reply_id: int | None = None,
    run_after: datetime | None = None,
) -> None:
    """Add a job in the caller's transaction (so it commits or vanishes with the data)."""
    add_job(
        session.sync_session, kind, message_id=message_id, reply_id=reply_id, run_after=run_after
    )
    await session.flush()


def add_job(
    session: Session,
    kind: JobKind,
    *,
    message_id: int | None,
    reply_id: int | None = None,
    run_after: datetime | None = None,
) -> None:
    """`enqueue` on a synchronous session (flushed with the caller's other rows)."""
    now = utcnow()
    session.add(
        Job(
            kind=kind,
            message_id=message_id,
            reply_id=reply_id,
            status=JobStatus.QUEUED,
            priority=PRIORITY.get(kind, PRIORITY[JobKind.PROCESS_INBOUND]),
            attempts=0,
            run_after=run_after or now,
            created_at=now,
        )
    )


def assign_store_in(session: Session, *, message_id: int, store_id: int) -> None:
    """Give an email's jobs the store it was routed to (intake queued them before routing)."""
    session.execute(
        update(Job)
        .where(Job.message_id == message_id, Job.store_id.is_(None))
        .values(store_id=store_id)
        .execution_options(synchronize_session=False)
    )


async def claim_next(session: AsyncSession, *, owner: str, lease_seconds: int) -> ClaimedJob | None:
    """Claim the most urgent due job, or one whose lease expired, for `lease_seconds`."""
    return await session.run_sync(claim_next_in, owner=owner, lease_seconds=lease_seconds)


def claim_next_in(session: Session, *, owner: str, lease_seconds: int) -> ClaimedJob | None:
    """`claim_next` in the caller's synchronous unit of work."""
    now = utcnow()
    due = (
        select(Job.id)
        .where(
            or_(
                and_(Job.status == JobStatus.QUEUED, Job.run_after <= now),
                and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
            )
        )
        .order_by(Job.priority, Job.run_after, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(Job)
        .where(Job.id == due)
        .values(
            status=JobStatus.RUNNING,
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
        )
        .returning(Job.id, Job.kind, Job.message_id, Job.attempts, Job.reply_id, Job.store_id)
    )
    row = session.execute(statement).one_or_none()
    if row is None:
        return None
    return ClaimedJob(
        id=row.id,
        kind=row.kind,
        message_id=row.message_id,
        attempts=row.attempts,
        reply_id=row.reply_id,
        store_id=row.store_id,
        owner=owner,
    )


async def extend_lease(
    session: AsyncSession, job_id: int, *, owner: str, lease_seconds: int
) -> bool:
    """Push a running job's lease forward; False if this worker no longer holds it."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def complete(session: AsyncSession, job_id: int, *, owner: str) -> bool:
    """Mark a job done; False if the lease was lost (another worker took it over)."""
    return await session.run_sync(complete_in, job_id, owner=owner)


def complete_in(session: Session, job_id: int, *, owner: str) -> bool:
    """`complete` in the caller's synchronous unit of work."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
        .values(status=JobStatus.DONE, finished_at=utcnow(), lease_expires_at=None)
    )
    result = session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: up to 2^attempts seconds, capped at 15 minutes."""
    ceiling = min(900.0, float(2**attempts))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - not crypto.


async def fail(
    session: AsyncSession,
    job: ClaimedJob,
    *,
    owner: str,
    error: str,
    max_attempts: int,
    retry_after: timedelta | None = None,
) -> JobStatus:
    """Record a failed attempt: back to the queue with backoff, or dead after `max_attempts`.

    `retry_after` replaces the backoff when the failure said how long to wait (a rate limit).
    """
    now = utcnow()
    status = JobStatus.DEAD if job.attempts >= max_attempts else JobStatus.QUEUED
    statement = (
        update(Job)
        .where(Job.id == job.id, Job.lease_owner == owner)
        .values(
            status=status,
            last_error=error[:MAX_ERROR_CHARS],
            run_after=now + (retry_after if retry_after is not None else retry_delay(job.attempts)),
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now if status is JobStatus.DEAD else None,
        )
    )
    await session.execute(statement)
    return status


async def count_unfinished(session: AsyncSession) -> int:
    """Count jobs still queued or running."""
    statement = select(func.count(Job.id)).where(
        Job.status.in_((JobStatus.QUEUED, JobStatus.RUNNING))
    )
    return int((await session.execute(statement)).scalar_one())
