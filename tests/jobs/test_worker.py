"""The worker: runs each due job once, records failures, backs off when the database is gone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus
from app.jobs.queue import ClaimedJob
from app.jobs.worker import Worker
from app.providers import Providers
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory

# The jobs table stores only known kinds; each test maps this one to the handler it tests.
KIND = JobKind.SEND_REPLY


async def add_job(db: Database, kind: JobKind = KIND) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(Job(kind=kind, status=JobStatus.QUEUED, attempts=0, run_after=utcnow()))


async def jobs(db: Database) -> list[Job]:
    async with db.read(ALL_STORES) as session:
        return list((await session.execute(select(Job).order_by(Job.id))).scalars())


async def test_a_successful_job_is_marked_done(db: Database, settings: Settings) -> None:
    await add_job(db)
    ran: list[int] = []

    async def echo(job: ClaimedJob) -> None:
        ran.append(job.id)

    worker = Worker(db=db, settings=settings, handlers={KIND: echo})
    assert await worker.drain() == 1
    [job] = await jobs(db)
    assert ran == [job.id]
    assert (job.status, job.lease_owner, job.finished_at is not None) == ("done", worker.name, True)


async def test_a_failing_job_is_retried_later_then_dead_lettered(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(JOB_MAX_ATTEMPTS=2)
    await add_job(db)

    async def flaky(_job: ClaimedJob) -> None:
        raise RuntimeError("Shopify said no")

    worker = Worker(db=db, settings=settings, handlers={KIND: flaky})
    assert await worker.drain() == 1
    [job] = await jobs(db)
    assert (job.status, job.attempts, job.last_error) == (
        "queued",
        1,
        "RuntimeError: Shopify said no",
    )
    assert job.run_after > utcnow()
    # Not due yet: the backoff holds it back instead of a hot retry loop.
    assert await worker.drain() == 0
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Job).values(run_after=utcnow()))
    assert await worker.drain() == 1
    [job] = await jobs(db)
    assert (job.status, job.attempts) == ("dead", 2)


async def test_an_unknown_job_kind_is_recorded_as_a_failure(
    db: Database, settings: Settings
) -> None:
    await add_job(db)
    await Worker(db=db, settings=settings, handlers={}).drain()
    [job] = await jobs(db)
    assert job.last_error == "LookupError: no handler for job kind 'send_reply'"


async def test_the_lease_is_renewed_while_a_long_job_runs(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(JOB_LEASE_SECONDS=5)
    await add_job(db)
    leases: list[object] = []
    release = asyncio.Event()

    async def slow(_job: ClaimedJob) -> None:
        await release.wait()

    worker = Worker(db=db, settings=settings, handlers={KIND: slow})
    task = asyncio.create_task(worker.run_once())
    for _ in range(2):
        await asyncio.sleep(5 / 3 + 0.3)
        leases.append((await jobs(db))[0].lease_expires_at)
    release.set()
    await task
    assert leases[0] is not None
    assert leases[1] is not None
    assert leases[1] > leases[0]  # type: ignore[operator]


async def test_run_stops_when_asked_and_wakes_up_for_new_work(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(WORKER_POLL_SECONDS=30)
    done = asyncio.Event()

    async def echo(_job: ClaimedJob) -> None:
        done.set()

    worker = Worker(db=db, settings=settings, handlers={KIND: echo})
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.1)
    await add_job(db)
    worker.wakeup.set()
    # Far sooner than the 30 s poll: the wake-up, not the poll, started the job.
    await asyncio.wait_for(done.wait(), timeout=5)
    stop.set()
    await asyncio.wait_for(running, timeout=5)


async def test_an_unreachable_database_makes_the_worker_back_off(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(WORKER_POLL_SECONDS=0.01)
    unreachable = Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    worker = Worker(db=unreachable, settings=settings, handlers={})
    delays: list[float] = []
    stop = asyncio.Event()

    async def record_sleep(_stop: asyncio.Event, seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 6:
            stop.set()

    monkeypatch.setattr(worker, "_sleep", record_sleep)
    await asyncio.wait_for(worker.run(stop, concurrency=1), timeout=30)
    await unreachable.dispose()
    assert delays == [0.02, 0.04, 0.08, 0.16, 0.32, 0.64]


async def test_jobs_enqueued_for_messages_run_the_pipeline(
    db: Database, settings: Settings, providers: Providers
) -> None:
    # The default handlers map process_inbound to the pipeline; a missing message fails loudly.
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(
            Job(
                kind="process_inbound",
                message_id=None,
                status="queued",
                attempts=0,
                run_after=utcnow(),
            )
        )
    await Worker(db=db, settings=settings, providers=providers).drain()
    [job] = await jobs(db)
    assert job.last_error == "ValueError: process_inbound job without a message"
    assert job.status is JobStatus.QUEUED


async def test_a_worker_runs_up_to_its_concurrency_of_jobs_at_once(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(WORKER_POLL_SECONDS=0.05, WORKER_CONCURRENCY=3)
    for _ in range(5):
        await add_job(db)
    running = 0
    most = 0
    finished = 0
    release = asyncio.Event()
    three_running = asyncio.Event()
    all_finished = asyncio.Event()

    async def slow(job: ClaimedJob) -> None:
        nonlocal running, most, finished
        running += 1
        most = max(most, running)
        if running == 3:
            three_running.set()
        await release.wait()
        running -= 1
        finished += 1
        if finished == 5:
            all_finished.set()

    worker = Worker(db=db, settings=settings, handlers={KIND: slow})
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(three_running.wait(), timeout=10)
    await asyncio.sleep(0.2)  # A fourth lane, if there were one, would have claimed by now.
    assert (running, most) == (3, 3)
    release.set()
    await asyncio.wait_for(all_finished.wait(), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=10)
    assert most == 3
    assert {job.status for job in await jobs(db)} == {"done"}
