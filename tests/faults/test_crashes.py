"""kill -9 at the worst moments: every email is processed once and no reply goes out twice.

Each test runs a real worker process that SIGKILLs itself at one point (`crashing_worker.py`),
lets its lease lapse (by moving the expiry into the past instead of waiting for it), and then
lets a healthy worker pick up whatever was left, as another process would after a crash.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import AgentRun, Job, Message, Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import JobStatus, MessageStatus, ReplyStatus
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from app.replies.senders import LogMailSender
from tests.builders import IN_DEFAULT_STORE, make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory

ROOT = Path(__file__).parent.parent.parent
ORDER_STATUS = make_eml(
    sender="Sara Ahmadi <sara.ahmadi@example.com>",
    subject="Where is my order #1001?",
    body="Hi, where is my order #1001?\n\nSara\n",
    message_id="<crash-status@example.com>",
)
STOCK_QUESTION = make_eml(
    sender="Marco Rossi <marco.rossi@example.it>",
    subject="Linen shirt in stock?",
    body="Hi, is the linen shirt in stock in size L?\n",
    message_id="<crash-stock@example.it>",
)


def worker_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(
        DATABASE_URL=settings.DATABASE_URL,
        MAIL_LOG_DIR=settings.MAIL_LOG_DIR,
        SUPPORT_FROM_EMAIL=settings.SUPPORT_FROM_EMAIL,
        STORE_NAME=settings.STORE_NAME,
        INBOUND_ALLOW_UNAUTHENTICATED="true",
        LOG_LEVEL="WARNING",
    )
    return env


async def post(
    settings: Settings, db: Database, providers: Providers, eml: bytes, domain: str
) -> int:
    app = create_app(settings, db=db, providers=providers)
    payload = raw_mode_post(eml, verified_transport(domain))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.post(
            "/webhooks/sendgrid/inbound",
            content=payload.body,
            headers={"content-type": payload.content_type},
            auth=BASIC_AUTH,
        )
    pk: int = response.json()["id"]
    return pk


def crash_at(point: str, settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.faults.crashing_worker", point],
        cwd=ROOT,
        env=worker_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])


async def recover(db: Database, settings: Settings, providers: Providers) -> None:
    """Time passes (the dead worker's leases lapse); a healthy worker takes over."""
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(Job)
            .where(Job.status == "running")
            .values(lease_expires_at=utcnow().replace(year=2000))
        )
    await Worker(db=db, settings=settings, providers=providers).drain()


async def facts(
    db: Database, message_pk: int
) -> tuple[MessageStatus, int, list[ReplyStatus], list[JobStatus]]:
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, message_pk)
        assert message is not None
        runs = (
            await session.execute(
                select(func.count(AgentRun.id)).where(
                    AgentRun.message_id == message_pk, AgentRun.status == "finished"
                )
            )
        ).scalar_one()
        replies = [r.status for r in (await session.execute(select(Reply))).scalars()]
        jobs = [j.status for j in (await session.execute(select(Job))).scalars()]
    return message.status, runs, replies, jobs


@pytest.fixture
def settings(make_settings: SettingsFactory, tmp_path: Path) -> Settings:
    return make_settings(MAIL_LOG_DIR=str(tmp_path / "outbox"))


@pytest.fixture
def healthy(tmp_path: Path) -> Providers:
    from app.store.demo import DemoShop

    return Providers(shop=DemoShop(), llm=OfflineModel(), mail=LogMailSender(tmp_path / "outbox"))


def sent(tmp_path: Path) -> int:
    return len(list((tmp_path / "outbox").glob("*.eml")))


async def test_killed_right_after_claiming_the_email_is_processed_once_by_the_next_worker(
    db: Database, settings: Settings, healthy: Providers, tmp_path: Path
) -> None:
    pk = await post(settings, db, healthy, ORDER_STATUS, "example.com")
    crash_at("claimed", settings)
    assert (await facts(db, pk))[:2] == ("received", 0)
    await recover(db, settings, healthy)
    # One job per email: the auto-approved reply is sent by the job that planned it.
    assert await facts(db, pk) == ("answered", 1, ["sent"], ["done"])
    assert sent(tmp_path) == 1


async def test_killed_after_the_draft_is_written_nothing_is_planned_or_drafted_twice(
    db: Database, settings: Settings, healthy: Providers, tmp_path: Path
) -> None:
    pk = await post(settings, db, healthy, STOCK_QUESTION, "example.it")
    crash_at("drafted", settings)
    assert await facts(db, pk) == ("drafted", 1, ["draft"], ["running"])
    await recover(db, settings, healthy)
    assert await facts(db, pk) == ("drafted", 1, ["draft"], ["done"])
    assert sent(tmp_path) == 0


async def test_killed_between_the_providers_acceptance_and_recording_it_nothing_is_resent(
    db: Database, settings: Settings, healthy: Providers, tmp_path: Path
) -> None:
    pk = await post(settings, db, healthy, ORDER_STATUS, "example.com")
    crash_at("after_send", settings)
    assert sent(tmp_path) == 1
    assert await facts(db, pk) == ("answered", 1, ["sending"], ["running"])
    await recover(db, settings, healthy)
    # The reply is flagged for staff, never sent a second time.
    assert await facts(db, pk) == ("answered", 1, ["unknown"], ["done"])
    assert sent(tmp_path) == 1
