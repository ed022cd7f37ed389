"""The database engine: SQLite by default, PostgreSQL in production, one async API for both.

Units of work are opened at the boundary (a request, a job) with `engine.begin()` or
`sessionmaker.begin()`; functions below that boundary never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def normalise_database_url(url: str) -> URL:
    """Accept the URL forms operators paste and return one with an async driver.

    `postgres://`, `postgresql://` and `postgresql+psycopg2://` become `postgresql+asyncpg://`;
    `sqlite:///` becomes `sqlite+aiosqlite:///`.
    """
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)
    url = re.sub(r"^sqlite(\+\w+)?://", "sqlite+aiosqlite://", url)
    return make_url(url)


def create_engine(database_url: str, *, sqlite_busy_timeout_ms: int = 5000) -> AsyncEngine:
    """Create the async engine, configured for safe concurrent use of the chosen database."""
    url = normalise_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, busy_timeout_ms=sqlite_busy_timeout_ms)
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _create_sqlite_engine(url: URL, *, busy_timeout_ms: int) -> AsyncEngine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": busy_timeout_ms / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so `begin` below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that reads first and writes later can fail with SQLITE_BUSY
        # without ever waiting on busy_timeout; taking the write lock up front makes
        # concurrent writers queue instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(frozen=True, slots=True)
class Database:
    """The engine and its session factory, built once per process."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, database_url: str, *, sqlite_busy_timeout_ms: int = 5000) -> Database:
        """Create the engine and session factory (connections open lazily)."""
        engine = create_engine(database_url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms)
        return cls(engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False))

    @property
    def dialect(self) -> str:
        """The database kind: `sqlite` or `postgresql`."""
        return self.engine.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
