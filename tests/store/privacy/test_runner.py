"""How privacy requests get carried out: failures recorded and retried, the worker's periodic
call, a privacy job, and `python -m app privacy run` for operators."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import AuditEntry, Job, PrivacyRequest
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus, PrivacyStatus, PrivacyTopic
from app.jobs.worker import Worker
from app.providers import Providers
from app.store.privacy import runner
from app.store.privacy.export import export_customer
from tests.builders import IN_DEFAULT_STORE
from tests.store.privacy.world import DEFAULT, SARA, add_request, add_rows, get_request
from tests.test_cli import cli_env, run_cli


async def audit_of(db: Database, pk: int) -> list[str]:
    async with db.read(ALL_STORES) as session:
        statement = (
            select(AuditEntry.action)
            .where(AuditEntry.target_type == "privacy_request", AuditEntry.target_id == pk)
            .order_by(AuditEntry.id)
        )
        return list((await session.execute(statement)).scalars())


async def test_a_failure_is_rolled_back_recorded_and_retried(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_rows(db, DEFAULT, SARA)
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    failures = [OperationalError("SELECT", {"address": SARA.address}, Exception("gone"))]

    async def flaky(session: AsyncSession, request: PrivacyRequest, *, now: datetime) -> Any:
        request.export = b"half an export"
        if failures:
            raise failures.pop()
        return await export_customer(session, request, now=now)

    monkeypatch.setitem(runner.WORK, PrivacyTopic.DATA_REQUEST, flaky)
    now = utcnow()
    assert await runner.process_due(db, now=now) == 0

    failed = await get_request(db, pk)
    assert failed.status is PrivacyStatus.FAILED
    # The database's message would quote the data: only its type is kept.
    assert failed.last_error == "OperationalError"
    assert failed.export is None
    assert failed.due_at == now + runner.RETRY_AFTER
    # Not retried before its time, then retried and done.
    assert await runner.process_due(db, now=now + timedelta(minutes=1)) == 0
    assert await runner.process_due(db, now=now + runner.RETRY_AFTER) == 1
    done = await get_request(db, pk)
    assert done.status is PrivacyStatus.DONE
    assert done.last_error is None
    assert done.export is not None
    assert SARA.address.encode() in done.export
    assert await audit_of(db, pk) == [
        "privacy:customers/data_request:failed",
        "privacy:customers/data_request:done",
    ]


async def test_a_request_not_yet_due_waits(db: Database) -> None:
    later = utcnow() + timedelta(days=1)
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA, due_at=later)
    assert await runner.process_due(db, now=utcnow()) == 0
    assert (await get_request(db, pk)).status is PrivacyStatus.PENDING
    assert await runner.process_due(db, now=later) == 1


async def _until_done(db: Database, pk: int) -> bool:
    """Whether the request is done within about ten seconds (looked at every 20 ms)."""
    for _ in range(500):
        if (await get_request(db, pk)).status is PrivacyStatus.DONE:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_running_worker_carries_out_due_requests_on_its_own(
    db: Database, settings: Settings
) -> None:
    worker = Worker(db=db, settings=settings, handlers={}, privacy_every=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, concurrency=1))
    await asyncio.sleep(0.1)
    # Added after the worker's first look: its next periodic call picks it up.
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    assert await _until_done(db, pk)
    stop.set()
    await asyncio.wait_for(running, timeout=5)


async def test_a_privacy_job_carries_out_due_requests(
    db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(Job(kind=JobKind.PRIVACY_REQUEST, status=JobStatus.QUEUED))
    assert await Worker(db=db, settings=settings, providers=providers).drain() == 1
    assert (await get_request(db, pk)).status is PrivacyStatus.DONE
    async with db.read(ALL_STORES) as session:
        [job] = (await session.execute(select(Job))).scalars()
    assert job.status is JobStatus.DONE


async def test_operators_run_due_requests_from_the_command_line(
    db: Database, database_url: str
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    result = await asyncio.to_thread(run_cli, "privacy", "run", env=cli_env(database_url))
    assert result.returncode == 0, result.stderr
    assert "1 privacy request(s) carried out" in result.stdout
    assert (await get_request(db, pk)).status is PrivacyStatus.DONE
