"""Four worker processes on one queue: 500 emails, each processed exactly once."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app.config import Settings
from app.db.engine import Database
from app.db.models import AgentRun, Job, Message, Reply
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.queue import count_unfinished
from app.main import create_app
from app.providers import Providers
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory
from tests.faults.test_crashes import ROOT, worker_env

EMAILS = 500
WORKERS = 4


async def test_four_worker_processes_process_500_emails_exactly_once(
    db: Database, make_settings: SettingsFactory, providers: Providers, tmp_path: Path
) -> None:
    settings: Settings = make_settings(MAIL_LOG_DIR=str(tmp_path / "outbox"))
    app = create_app(settings, db=db, providers=providers)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for n in range(EMAILS):
            eml = make_eml(
                sender=f"Customer {n} <customer{n}@example.com>",
                subject=f"Question {n}",
                body=f"Hello, do you have the linen shirt in size L? ({n})\n",
                message_id=f"<bulk-{n}@example.com>",
            )
            payload = raw_mode_post(eml, verified_transport("example.com"))
            response = await client.post(
                "/webhooks/sendgrid/inbound",
                content=payload.body,
                headers={"content-type": payload.content_type},
                auth=BASIC_AUTH,
            )
            assert response.status_code == 200

    env = worker_env(settings)
    env.update(WORKER_POLL_SECONDS="0.05", WORKER_CONCURRENCY="4")
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "worker",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for _ in range(WORKERS)
    ]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            async with db.read(ALL_STORES) as session:
                if await count_unfinished(session) == 0:
                    break
            await asyncio.sleep(0.25)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        errors = [await process.communicate() for process in workers]
    assert [process.returncode for process in workers] == [0] * WORKERS, errors[0][1][-2000:]

    async with db.read(ALL_STORES) as session:
        statuses = dict(
            (
                await session.execute(select(Message.status, func.count()).group_by(Message.status))
            ).all()
        )
        runs_per_message = (
            await session.execute(
                select(AgentRun.message_id, func.count()).group_by(AgentRun.message_id)
            )
        ).all()
        by_reply = select(Reply.message_id, func.count()).group_by(Reply.message_id)
        replies_per_message = (await session.execute(by_reply)).all()
        jobs = (await session.execute(select(Job.status, Job.attempts, Job.lease_owner))).all()
    assert statuses == {"drafted": EMAILS}
    assert len(runs_per_message) == EMAILS
    assert {count for _, count in runs_per_message} == {1}
    assert {count for _, count in replies_per_message} == {1}
    assert len(jobs) == EMAILS
    assert {(status, attempts) for status, attempts, _ in jobs} == {("done", 1)}
    # The work really was shared: every process completed some of it.
    assert len({owner for _, _, owner in jobs}) == WORKERS
