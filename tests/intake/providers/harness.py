"""What every provider's route test needs: the app with a fake outside world, rows, the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select, update

from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message
from app.db.scope import ALL_STORES
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from tests.provider_fakes import FakeGet


def providers_with(settings: Settings, http: FakeGet) -> Providers:
    """The embedded defaults (replies written to MAIL_LOG_DIR), the outside world as `http`."""
    mail = LogMailSender(Path(settings.MAIL_LOG_DIR))
    return Providers(shop=DemoShop(), llm=OfflineModel(), mail=mail, http_get=http)


@asynccontextmanager
async def app_client(
    settings: Settings, db: Database, http: FakeGet
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app whose outside world is `http`."""
    app = create_app(settings, db=db, providers=providers_with(settings, http))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def count(db: Database) -> tuple[int, int]:
    """Stored messages and jobs."""
    async with db.read(ALL_STORES) as session:
        messages = (await session.execute(select(func.count(Message.id)))).scalar_one()
        jobs = (await session.execute(select(func.count(Job.id)))).scalar_one()
        return int(messages), int(jobs)


async def message(db: Database, pk: int) -> Message:
    """One stored message."""
    async with db.read(ALL_STORES) as session:
        found = await session.get(Message, pk)
        assert found is not None
        return found


async def drain(db: Database, settings: Settings, http: FakeGet | None = None) -> int:
    """Run the worker until no job is due; the number of jobs it ran."""
    worker = Worker(db=db, settings=settings, providers=providers_with(settings, http or FakeGet()))
    return await worker.drain()


async def skip_backoff(db: Database) -> None:
    """Make every retried job due now."""
    async with db.write(ALL_STORES) as session:
        await session.execute(update(Job).values(run_after=func.now()))
