"""The database: SQLite by default, PostgreSQL in production, one async API for both.

Units of work are opened at the boundary (a request, a job) with `Database.write()` or
`Database.read()`; functions below that boundary never commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from app.db.scope import CrossStoreWrite, StoreScope, bind_scope

T = TypeVar("T")
_WRITE_OPTION = "app_write_transaction"
WEB_POOL = (10, 20)
"""PostgreSQL pool of a process that is no worker (the web app): kept open, and extra in bursts."""
MIN_WORKER_POOL = 5
MAX_WORKER_POOL = 32
MAX_WORKER_CONNECTIONS = 128


def pool_sizes(concurrency: int | None) -> tuple[int, int]:
    """PostgreSQL's `(pool_size, max_overflow)` for a worker running `concurrency` jobs at once.

    A job holds a connection only inside a unit of work, never while the model or the store
    answers, so far fewer connections than jobs are busy at once: a quarter of the lanes are
    kept open (5 to 32), and bursts may open one per lane plus a few for lease renewals, up to
    128 in all (beyond that, lanes queue for a connection: the database is the limit then).
    PostgreSQL's `max_connections` must cover every process's total. Without a concurrency
    (the web app): `WEB_POOL`.
    """
    if concurrency is None:
        return WEB_POOL
    kept = min(max(concurrency // 4, MIN_WORKER_POOL), MAX_WORKER_POOL)
    total = min(concurrency + 4, MAX_WORKER_CONNECTIONS)
    return kept, max(total - kept, 0)


def normalise_database_url(url: str) -> URL:
    """Accept the URL forms operators paste and return one with an async driver.

    `postgres://`, `postgresql://` and `postgresql+psycopg2://` become `postgresql+asyncpg://`;
    `sqlite:///` becomes `sqlite+aiosqlite:///`.
    """
    url = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)
    url = re.sub(r"^sqlite(\+\w+)?://", "sqlite+aiosqlite://", url)
    return make_url(url)


def create_engine(
    database_url: str, *, sqlite_busy_timeout_ms: int = 5000, concurrency: int | None = None
) -> AsyncEngine:
    """Create the async engine, configured for safe concurrent use of the chosen database.

    `concurrency` is how many jobs a worker opening it runs at once; it sizes PostgreSQL's
    connection pool (`pool_sizes`).
    """
    url = normalise_database_url(database_url)
    if url.get_backend_name() != "sqlite":
        pool_size, max_overflow = pool_sizes(concurrency)
        return create_async_engine(
            url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow
        )
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": sqlite_busy_timeout_ms / 1000})
    _configure_sqlite(engine.sync_engine, busy_timeout_ms=sqlite_busy_timeout_ms)
    return engine


def _configure_sqlite(
    engine: Engine, *, busy_timeout_ms: int, always_immediate: bool = False
) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so `begin` below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # A deferred transaction that reads first and writes later can fail with SQLITE_BUSY
        # without ever waiting on busy_timeout; write units of work therefore take the write
        # lock up front. Read units stay deferred: in WAL mode readers never wait.
        if always_immediate or connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


@dataclass(frozen=True, slots=True, kw_only=True)
class Database:
    """The engine and its units of work, built once per process.

    Use `write()` for anything that changes data and `read()` for queries. On SQLite, writers in
    this process also take turns on an asyncio lock: waiting there costs nothing, while waiting
    in SQLite's busy handler sleeps in growing steps and wrecks latency under load.
    """

    engine: AsyncEngine
    writer_sessions: async_sessionmaker[AsyncSession]
    reader_sessions: async_sessionmaker[AsyncSession]
    write_lock: asyncio.Lock | None
    blocking_engine: Engine | None
    """SQLite only: a synchronous engine on one dedicated thread, for `run_write`."""
    blocking_executor: ThreadPoolExecutor | None
    scope: StoreScope | None = None
    """The store this handle's units of work see (`for_store`); None: name it per unit of work."""

    @classmethod
    def connect(
        cls,
        database_url: str,
        *,
        sqlite_busy_timeout_ms: int = 5000,
        concurrency: int | None = None,
    ) -> Database:
        """Create the engines and session factories (connections open lazily).

        A worker passes `concurrency`, the jobs it runs at once, to size the pool for them.
        """
        engine = create_engine(
            database_url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms, concurrency=concurrency
        )
        writer = engine.execution_options(**{_WRITE_OPTION: True})
        blocking_engine: Engine | None = None
        if engine.dialect.name == "sqlite":
            blocking_url = engine.url.set(drivername="sqlite+pysqlite")
            blocking_engine = sqlalchemy.create_engine(
                blocking_url, connect_args={"timeout": sqlite_busy_timeout_ms / 1000}
            )
            _configure_sqlite(
                blocking_engine, busy_timeout_ms=sqlite_busy_timeout_ms, always_immediate=True
            )
        return cls(
            engine=engine,
            writer_sessions=async_sessionmaker(writer, expire_on_commit=False),
            reader_sessions=async_sessionmaker(engine, expire_on_commit=False),
            write_lock=asyncio.Lock() if blocking_engine is not None else None,
            blocking_engine=blocking_engine,
            blocking_executor=(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
                if blocking_engine is not None
                else None
            ),
        )

    def for_store(self, store_id: int) -> Database:
        """This database as one store sees it: every unit of work is scoped to that store.

        The handle shares the engine, pools and write lock; it cannot be widened again.
        """
        return dataclasses.replace(self, scope=self._narrowed(StoreScope.of(store_id)))

    def _narrowed(self, scope: StoreScope | None) -> StoreScope | None:
        if scope is None or self.scope is None or self.scope == scope:
            return scope or self.scope
        if self.scope.is_everywhere:
            return scope
        raise CrossStoreWrite(f"a handle scoped to store {self.scope.store_id} asked for {scope}")

    @contextlib.asynccontextmanager
    async def write(self, scope: StoreScope | None = None) -> AsyncIterator[AsyncSession]:
        """One write unit of work: commits when the block succeeds, rolls back if it raises.

        `scope` is the store whose rows it may touch (`app.db.scope`), by default the handle's;
        without either, any query on a store's rows raises `UnscopedQuery`.
        """
        scope = self._narrowed(scope)
        async with contextlib.AsyncExitStack() as stack:
            if self.write_lock is not None:
                await stack.enter_async_context(self.write_lock)
            session = await stack.enter_async_context(self.writer_sessions.begin())
            bind_scope(session.sync_session, scope)
            yield session

    @contextlib.asynccontextmanager
    async def read(self, scope: StoreScope | None = None) -> AsyncIterator[AsyncSession]:
        """One read-only unit of work (rolled back at the end), scoped like `write`."""
        scope = self._narrowed(scope)
        async with self.reader_sessions() as session:
            bind_scope(session.sync_session, scope)
            yield session

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (synchronous Core statements) in one write transaction and commit.

        On SQLite the whole transaction runs on the writer thread in a single hop, instead of
        one event-loop round trip per statement; this is the hot path of intake. On PostgreSQL
        it runs on the async connection.
        """
        engine, executor, lock = self.blocking_engine, self.blocking_executor, self.write_lock
        if engine is None or executor is None or lock is None:
            async with self.write() as session:
                connection = await session.connection()
                return await connection.run_sync(work)

        def transaction() -> T:
            with engine.begin() as connection:
                return work(connection)

        async with lock:
            return await asyncio.get_running_loop().run_in_executor(executor, transaction)

    async def unit(self, work: Callable[[Session], T], scope: StoreScope | None = None) -> T:
        """Run `work` (synchronous ORM or Core on a `Session`) as one write unit of work.

        The pipeline's units of work go through here: on SQLite the whole transaction is one hop
        to the writer thread (`BEGIN IMMEDIATE` ... `COMMIT`), not one event-loop round trip per
        statement; on PostgreSQL it runs on the async connection through `run_sync`. `scope`
        works as in `write`. `work` must return plain values, not ORM objects.
        """
        scope = self._narrowed(scope)
        engine, executor, lock = self.blocking_engine, self.blocking_executor, self.write_lock
        if engine is None or executor is None or lock is None:
            async with self.write(scope) as session:
                return await session.run_sync(work)

        def transaction() -> T:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                bind_scope(session, scope)
                return work(session)

        async with lock:
            return await asyncio.get_running_loop().run_in_executor(executor, transaction)

    def start_write(self, work: Callable[[Connection], T]) -> asyncio.Future[T]:
        """Start `run_write(work)` now and return its future (callbacks run on the loop).

        On SQLite the transaction is handed to the writer thread immediately, without waiting
        for the asyncio write lock: the single writer thread already serialises these, and a
        concurrent aiosqlite writer is waited for by SQLite's busy timeout.
        """
        engine, executor = self.blocking_engine, self.blocking_executor
        loop = asyncio.get_running_loop()
        if engine is None or executor is None:
            return asyncio.ensure_future(self.run_write(work))

        def transaction() -> T:
            with engine.begin() as connection:
                return work(connection)

        return asyncio.wrap_future(executor.submit(transaction), loop=loop)

    @property
    def dialect(self) -> str:
        """The database kind: `sqlite` or `postgresql`."""
        return self.engine.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection and the writer thread."""
        await self.engine.dispose()
        if self.blocking_engine is not None and self.blocking_executor is not None:
            # SQLite connections are closed on the thread that opened them.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.blocking_executor, self.blocking_engine.dispose)
            self.blocking_executor.shutdown(wait=True)
