"""The jobs table as a queue: atomic claims, leases that expire, retries and dead letters."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from app.db.engine import Database
from app.db.models import Job, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus
from app.jobs import queue
from tests.builders import IN_DEFAULT_STORE


async def add_jobs(db: Database, n: int, *, run_after_offset: timedelta = timedelta()) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        for _ in range(n):
            await queue.enqueue(
                session,
                JobKind.PROCESS_INBOUND,
                message_id=None,
                run_after=utcnow() + run_after_offset,
            )


async def claim(db: Database, owner: str, lease_seconds: int = 60) -> queue.ClaimedJob | None:
    async with db.write(IN_DEFAULT_STORE) as session:
        return await queue.claim_next(session, owner=owner, lease_seconds=lease_seconds)


async def job_row(db: Database, job_id: int) -> Job:
    async with db.read(ALL_STORES) as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def test_claims_the_oldest_due_job_and_counts_the_attempt(db: Database) -> None:
    await add_jobs(db, 3)
    first = await claim(db, "w1")
    second = await claim(db, "w1")
    assert first is not None
    assert second is not None
    assert (first.id, second.id) == (1, 2)
    assert first.attempts == 1
    row = await job_row(db, first.id)
    assert (row.status, row.lease_owner) == ("running", "w1")
    assert row.lease_expires_at is not None
    assert row.lease_expires_at > utcnow()


async def test_jobs_not_yet_due_are_not_claimed(db: Database) -> None:
    await add_jobs(db, 1, run_after_offset=timedelta(minutes=5))
    assert await claim(db, "w1") is None


async def test_concurrent_claimers_each_get_a_different_job(db: Database) -> None:
    await add_jobs(db, 40)
    seen: list[int] = []

    async def claimer(name: str) -> None:
        while (job := await claim(db, name)) is not None:
            seen.append(job.id)

    await asyncio.gather(*(claimer(f"w{i}") for i in range(8)))
    assert sorted(seen) == list(range(1, 41))


async def test_an_expired_lease_is_taken_over_by_another_worker(db: Database) -> None:
    await add_jobs(db, 1)
    job = await claim(db, "crashed-worker")
    assert job is not None
    assert await claim(db, "w2") is None
    # Rewind the lease instead of sleeping: the worker "died" long ago.
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    taken = await claim(db, "w2")
    assert taken is not None
    assert taken.id == job.id
    assert taken.attempts == 2
    # The crashed worker can no longer complete it.
    async with db.write(IN_DEFAULT_STORE) as session:
        assert not await queue.complete(session, job.id, owner="crashed-worker")
        assert await queue.complete(session, job.id, owner="w2")
    assert (await job_row(db, job.id)).status == "done"


async def test_extending_a_lease_keeps_the_job(db: Database) -> None:
    await add_jobs(db, 1)
    job = await claim(db, "w1", lease_seconds=5)
    assert job is not None
    before = (await job_row(db, job.id)).lease_expires_at
    async with db.write(IN_DEFAULT_STORE) as session:
        assert await queue.extend_lease(session, job.id, owner="w1", lease_seconds=600)
        assert not await queue.extend_lease(
            session, job.id, owner="someone-else", lease_seconds=600
        )
    after = (await job_row(db, job.id)).lease_expires_at
    assert before is not None
    assert after is not None
    assert after > before


async def test_a_failure_requeues_with_backoff_then_dead_letters(db: Database) -> None:
    await add_jobs(db, 1)
    for attempt in (1, 2):
        job = await claim(db, "w1")
        assert job is not None
        assert job.attempts == attempt
        async with db.write(IN_DEFAULT_STORE) as session:
            status = await queue.fail(session, job, owner="w1", error="boom", max_attempts=3)
        assert status is JobStatus.QUEUED
        row = await job_row(db, job.id)
        assert row.last_error == "boom"
        assert row.run_after > utcnow()
        # Make it due again without waiting for the backoff.
        async with db.write(IN_DEFAULT_STORE) as session:
            await session.execute(update(Job).values(run_after=utcnow()))
    job = await claim(db, "w1")
    assert job is not None
    assert job.attempts == 3
    async with db.write(IN_DEFAULT_STORE) as session:
        status = await queue.fail(session, job, owner="w1", error="boom again", max_attempts=3)
    assert status is JobStatus.DEAD
    row = await job_row(db, job.id)
    assert (row.status, row.last_error) == ("dead", "boom again")
    assert row.finished_at is not None
    assert await claim(db, "w1") is None


def test_backoff_grows_and_is_capped() -> None:
    delays = [queue.retry_delay(attempt) for attempt in range(1, 20)]
    assert delays[0] <= timedelta(seconds=2)
    assert delays[5] >= timedelta(seconds=32)
    assert max(delays) <= timedelta(minutes=15)


async def test_unfinished_jobs_are_counted(db: Database) -> None:
    await add_jobs(db, 2)
    job = await claim(db, "w1")
    assert job is not None
    async with db.write(IN_DEFAULT_STORE) as session:
        await queue.complete(session, job.id, owner="w1")
    async with db.read(ALL_STORES) as session:
        assert await queue.count_unfinished(session) == 1
        statuses = (await session.execute(select(Job.status).order_by(Job.id))).scalars().all()
    assert statuses == ["done", "queued"]
