"""Shared fixtures: real databases (SQLite file, or PostgreSQL via TEST_DATABASE_URL), settings,
and an HTTP client on the real application. Nothing here touches the network."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text

from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade_database
from app.db.models import Base, Store
from app.main import create_app
from app.providers import Providers
from app.replies.senders import LogMailSender
from tests.hypothesis_profiles import load_profile

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
BASIC_AUTH = ("sendgrid", "s3cret-passw0rd")
SettingsFactory = Callable[..., Settings]
# The row migration 0009 writes (its defaults fill the rest).
DEFAULT_STORE_ROW: dict[str, Any] = {
    "slug": "default",
    "name": "Default store",
    "support_email": "",
}


HYPOTHESIS_PROFILE = load_profile()


def pytest_report_header() -> str:
    return (
        f"database: {TEST_DATABASE_URL or 'SQLite (a migrated file per test)'}; "
        f"hypothesis profile: {HYPOTHESIS_PROFILE}"
    )


async def _migrate(url: str) -> None:
    db = Database.connect(url)
    try:
        if db.dialect == "postgresql":
            async with db.engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade_database(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once per run: a template SQLite file, or the PostgreSQL database."""
    if TEST_DATABASE_URL:
        asyncio.run(_migrate(TEST_DATABASE_URL))
        return TEST_DATABASE_URL
    template = tmp_path_factory.mktemp("template") / "template.sqlite3"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{template}"))
    return str(template)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    """A clean, migrated database for one test."""
    if TEST_DATABASE_URL:
        return migrated_database
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(migrated_database, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.connect(database_url)
    if database.dialect == "postgresql":
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        async with database.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            # The default store is data the migration wrote: put it back like a fresh database.
            await connection.execute(insert(Store).values(**DEFAULT_STORE_ROW))
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's own environment variables out of the settings under test."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> SettingsFactory:
    """Build settings for tests: basic auth on, no in-process worker, no .env file."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "DATABASE_URL": database_url,
            "INBOUND_BASIC_AUTH_USER": BASIC_AUTH[0],
            "INBOUND_BASIC_AUTH_PASSWORD": BASIC_AUTH[1],
            "WORKER_MODE": "off",
            "STORE_NAME": "Test Shop",
            "SUPPORT_FROM_EMAIL": "support@shop.test",
            "OWN_EMAIL_DOMAINS": "parse.shop.test",
            "MAIL_LOG_DIR": str(tmp_path / "outbox"),
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def providers(tmp_path: Path) -> Providers:
    """The embedded defaults: the demo store, the offline model, replies written to files."""
    from app.store.demo import DemoShop

    return Providers(shop=DemoShop(), llm=OfflineModel(), mail=LogMailSender(tmp_path / "outbox"))


@pytest.fixture
async def client(
    settings: Settings, db: Database, providers: Providers
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app (the lifespan, and so the worker, does not run)."""
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
