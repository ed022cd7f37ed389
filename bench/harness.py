"""What every benchmark shares: fresh databases, settings, progress lines, counters, processes.

A measure runs on a database named by `kind_of(url)`: a fresh SQLite file in a temporary
directory, or the PostgreSQL database given with `--postgres`, created if missing and emptied
(its `public` schema dropped and migrated again) before each measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import psutil  # type: ignore[import-untyped]  # No stubs; used only here, typed below.
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from app.config import Settings
from app.db.engine import Database, normalise_database_url
from app.db.migrate import upgrade_database
from app.db.models import Job
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus

ROOT = Path(__file__).resolve().parent.parent
SQLITE, POSTGRESQL = "sqlite", "postgresql"
USER, PASSWORD = "sendgrid", "bench-password-0123456789"
Say = Callable[[str], None]


class Progress:
    """Prints one line per step of a run: elapsed time, the measure, the database, what runs."""

    def __init__(self, stream: TextIO | None = sys.stdout) -> None:
        self.stream = stream
        self.started = time.perf_counter()

    def __call__(self, measure: str, database: str, what: str) -> None:
        if self.stream is None:
            return
        elapsed = time.perf_counter() - self.started
        print(f"[{elapsed:7.1f} s] {measure} | {database} | {what}", file=self.stream, flush=True)

    def say(self, measure: str, database: str) -> Say:
        """A one-argument printer for the steps of one measure on one database."""
        return lambda what: self(measure, database, what)


def quiet(_what: str) -> None:
    """A `Say` that prints nothing (tests)."""


def kind_of(url: str | None) -> str:
    """`sqlite` or `postgresql` for a database URL (None: a fresh SQLite file)."""
    if url is None:
        return SQLITE
    return POSTGRESQL if normalise_database_url(url).get_backend_name() != "sqlite" else SQLITE


async def ensure_postgres_database(url: str) -> None:
    """Create the PostgreSQL database `url` names if it does not exist (on the `postgres` db)."""
    target = normalise_database_url(url)
    name = target.database or "postgres"
    # CREATE DATABASE cannot run inside a transaction block.
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            found = text("SELECT 1 FROM pg_database WHERE datname = :name")
            if (await connection.execute(found, {"name": name})).scalar() is None:
                # A name cannot be a bind parameter: quote it as an identifier.
                quoted = admin.dialect.identifier_preparer.quote_identifier(name)
                await connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await admin.dispose()


async def fresh_database(postgres: str | None, workdir: Path) -> str:
    """A migrated, empty database: a new SQLite file in `workdir`, or `postgres` emptied.

    Returns its URL with the async driver.
    """
    if postgres is None:
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        path = workdir / f"bench-{time.monotonic_ns()}.sqlite3"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        await ensure_postgres_database(postgres)
        url = normalise_database_url(postgres).render_as_string(hide_password=False)
    db = Database.connect(url)
    try:
        if db.dialect == POSTGRESQL:
            async with db.engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        await upgrade_database(db)
    finally:
        await db.dispose()
    return url


def bench_settings(url: str, workdir: Path, **extra: Any) -> Settings:
    """Settings for a worker run in the benchmark's own process (no caps on replies)."""
    values: dict[str, Any] = {
        "DATABASE_URL": url,
        "INBOUND_BASIC_AUTH_USER": USER,
        "INBOUND_BASIC_AUTH_PASSWORD": PASSWORD,
        "WORKER_MODE": "off",
        "MAIL_LOG_DIR": str(workdir / "outbox"),
        "REPLY_CAP_PER_SENDER": 1_000_000,
        "REPLY_CAP_PER_THREAD": 1_000_000,
        "LOG_LEVEL": "WARNING",
    }
    return Settings(_env_file=None, **(values | extra))


def bench_env(url: str, workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a server or worker the benchmark starts: the caller's own settings
    left out, so a developer's .env or exported variables do not change the figures."""
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(
        DATABASE_URL=url,
        INBOUND_BASIC_AUTH_USER=USER,
        INBOUND_BASIC_AUTH_PASSWORD=PASSWORD,
        MAIL_LOG_DIR=str(workdir / "outbox"),
        REPLY_CAP_PER_SENDER="1000000",
        REPLY_CAP_PER_THREAD="1000000",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def quiet_logs() -> None:
    """Warnings and worse only, from the app code running inside the benchmark's process."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@dataclass(frozen=True)
class Span:
    """One finished transaction: its seconds, its statements and their seconds."""

    seconds: float
    statements: int
    statement_seconds: float


@dataclass
class Transactions:
    """Transactions begun, statements executed, and the time inside both."""

    count: int = 0
    statements: int = 0
    seconds: float = 0.0
    statement_seconds: float = 0.0
    spans: list[Span] = field(default_factory=list)
    """Each finished transaction, in the order they ended."""
    _open: dict[int, tuple[float, int, float]] = field(default_factory=dict)
    _running: dict[int, float] = field(default_factory=dict)

    def begun(self, connection: Any, *_args: Any) -> None:
        self.count += 1
        opened = (time.perf_counter(), self.statements, self.statement_seconds)
        self._open[id(connection)] = opened

    def ended(self, connection: Any, *_args: Any) -> None:
        opened = self._open.pop(id(connection), None)
        if opened is not None:
            seconds = time.perf_counter() - opened[0]
            self.seconds += seconds
            statements = self.statements - opened[1]
            self.spans.append(Span(seconds, statements, self.statement_seconds - opened[2]))

    def executing(self, connection: Any, *_args: Any) -> None:
        self.statements += 1
        self._running[id(connection)] = time.perf_counter()

    def executed(self, connection: Any, *_args: Any) -> None:
        started = self._running.pop(id(connection), None)
        if started is not None:
            self.statement_seconds += time.perf_counter() - started


@contextlib.contextmanager
def counting(db: Database) -> Iterator[Transactions]:
    """Count transactions and statements on every engine of `db` while the block runs.

    SQLAlchemy's `begin` and `before_cursor_execute` events, on the async engine and on
    SQLite's writer-thread engine (as `tests/test_transactions.py` counts them); the time
    from `begin` to `commit` or `rollback`, and from each statement's start to its result, is
    added up too.
    """
    counter = Transactions()
    engines: list[Engine] = [db.engine.sync_engine]
    if db.blocking_engine is not None:
        engines.append(db.blocking_engine)
    listeners: list[tuple[str, Callable[..., None]]] = [
        ("begin", counter.begun),
        ("commit", counter.ended),
        ("rollback", counter.ended),
        ("before_cursor_execute", counter.executing),
        ("after_cursor_execute", counter.executed),
    ]
    for engine in engines:
        for name, listener in listeners:
            event.listen(engine, name, listener)
    try:
        yield counter
    finally:
        for engine in engines:
            for name, listener in listeners:
                event.remove(engine, name, listener)


@dataclass(frozen=True)
class JobCounts:
    """Inbound jobs done and still to do, and sends done, at one moment."""

    at: float
    inbound_done: int
    inbound_waiting: int
    sends_done: int


async def job_counts(db: Database) -> JobCounts:
    """Count the jobs table by kind and status (one statement)."""
    async with db.read(ALL_STORES) as session:
        rows = (
            await session.execute(
                select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)
            )
        ).all()
    counts: dict[tuple[str, str], int] = {(str(k), str(s)): int(n) for k, s, n in rows}
    inbound, send = JobKind.PROCESS_INBOUND.value, JobKind.SEND_REPLY.value
    waiting = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
    return JobCounts(
        at=time.time(),
        inbound_done=counts.get((inbound, JobStatus.DONE.value), 0),
        inbound_waiting=sum(counts.get((inbound, s), 0) for s in waiting),
        sends_done=counts.get((send, JobStatus.DONE.value), 0),
    )


async def failed_jobs(db: Database) -> int:
    """Jobs that failed at least once (retried or dead): a run with any is suspect."""
    async with db.read(ALL_STORES) as session:
        statement = select(func.count()).where(Job.last_error.is_not(None))
        return int((await session.execute(statement)).scalar_one())


@dataclass
class Sampler:
    """Polls job counts every `every` seconds while a phase runs."""

    db: Database
    every: float = 0.25
    samples: list[JobCounts] = field(default_factory=list)
    peak_connections: int | None = None
    """With `connections`: the most connections PostgreSQL had open to this database."""

    async def run(self, stop: asyncio.Event, *, connections: bool = False) -> None:
        while not stop.is_set():
            await self._sample(connections)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)
        await self._sample(connections)

    async def _sample(self, connections: bool) -> None:
        self.samples.append(await job_counts(self.db))
        if connections:
            now = await open_connections(self.db)
            self.peak_connections = max(self.peak_connections or 0, now)

    def done_between(self, start: float, end: float) -> int:
        """Inbound jobs completed between two wall-clock times (the samples around them)."""
        before = [s for s in self.samples if s.at <= start] or self.samples[:1]
        after = [s for s in self.samples if s.at >= end] or self.samples[-1:]
        return after[0].inbound_done - before[-1].inbound_done

    def least_waiting_between(self, start: float, end: float) -> int:
        """The fewest inbound jobs waiting at any sample in the window (0: the queue ran dry)."""
        inside = [s.inbound_waiting for s in self.samples if start <= s.at <= end]
        return min(inside, default=self.samples[-1].inbound_waiting if self.samples else 0)


async def open_connections(db: Database) -> int:
    """Connections to this PostgreSQL database right now (`pg_stat_activity`)."""
    async with db.engine.connect() as connection:
        statement = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int((await connection.execute(statement)).scalar_one())


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """CPU time (user + system) a process has used so far; with its children if asked."""
    try:
        process = psutil.Process(pid)
        processes = [process, *(process.children(recursive=True) if children else [])]
        total = 0.0
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += float(times.user + times.system)
        return total
    except psutil.Error:
        return 0.0


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process, in MB (None once it is gone)."""
    try:
        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except psutil.Error:
        return None


def child_pids(pid: int) -> list[int]:
    """The processes a process started, and theirs."""
    try:
        return [int(child.pid) for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def memory_gb() -> float:
    """This machine's memory, in GiB."""
    return float(psutil.virtual_memory().total) / 2**30


async def start_python(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    """`python ARGS` in the project's root, with `env`."""
    return await asyncio.create_subprocess_exec(sys.executable, *args, cwd=ROOT, env=env)


async def stop_process(process: asyncio.subprocess.Process, *, grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def max_connections(url: str) -> tuple[int, int]:
    """PostgreSQL's `max_connections` and how many connections are open right now (any db)."""
    db = Database.connect(url)
    try:
        async with db.engine.connect() as connection:
            limit = int((await connection.execute(text("SHOW max_connections"))).scalar_one())
            used = (
                await connection.execute(text("SELECT count(*) FROM pg_stat_activity"))
            ).scalar()
    finally:
        await db.dispose()
    return limit, int(used or 0)


def machine() -> str:
    """One line about where the figures come from."""
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    memory = f", {memory_gb():.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def commit() -> str:
    """The checked-out commit, with `+changes` when the tree differs from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if dirty else head
