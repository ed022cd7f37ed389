"""Bringing a database's schema to the latest Alembic revision, from code or the CLI.

Also the one place that tells an operator, in one line, that the database cannot be reached.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError

from app.db.engine import Database, normalise_database_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnreachable(Exception):
    """The database cannot be opened; `str()` names it (host or file, never a password)."""


def alembic_config(database_url: str | None = None) -> Config:
    """Return an Alembic config pointing at the bundled migrations."""
    # Alembic is imported when it is used: `serve` and `worker` never need it (0.15 s of startup).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url:
        url = normalise_database_url(database_url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_database(db: Database, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the given database."""
    from alembic import command

    def _upgrade(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    # Not `begin()`: the migration environment opens the transaction itself, after what must
    # be set outside one (see `migrations/env.py`).
    async with db.engine.connect() as connection:
        await connection.run_sync(_upgrade)


def open_database(
    database_url: str, *, sqlite_busy_timeout_ms: int = 5000, concurrency: int | None = None
) -> Database:
    """`Database.connect`, raising `DatabaseUnreachable` when a SQLite file's folder can't exist."""
    try:
        return Database.connect(
            database_url, sqlite_busy_timeout_ms=sqlite_busy_timeout_ms, concurrency=concurrency
        )
    except OSError as exc:
        # Creating the engine touches nothing but a SQLite file's directory, which it creates.
        reason = f"cannot create the folder {exc.filename} ({exc.strerror})"
        raise unreachable(normalise_database_url(database_url), exc, reason=reason) from exc


async def ensure_reachable(db: Database) -> None:
    """Open (and return to the pool) one connection; raise `DatabaseUnreachable` if that fails.

    Commands call this before their real work, so that only a failure to connect reads as
    "unreachable": an error inside a migration or a query keeps its traceback.
    """
    try:
        async with db.engine.connect():
            pass
    except (OSError, DBAPIError) as exc:
        raise unreachable(db.engine.url, exc) from exc


def unreachable(url: URL, exc: BaseException, *, reason: str = "") -> DatabaseUnreachable:
    """The one-line error for a database that cannot be opened."""
    if url.get_backend_name() == "sqlite":
        where = f"cannot open the SQLite database {url.database}"
    else:
        address = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database}"
        where = f"cannot connect to the PostgreSQL database {address}"
    reason = reason or _reason(exc)
    if url.password:
        # Drivers may echo the connection string: hide the password where it stands in one
        # (":secret@"), never as a bare substring, which would mangle words ("p" in "port").
        reason = reason.replace(f":{url.password}@", ":***@")
    return DatabaseUnreachable(f"{where} (DATABASE_URL): {reason}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running, and on that port?)"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
