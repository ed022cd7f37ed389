"""Alembic environment: runs on the caller's connection, or builds our engine from the URL."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator

from alembic import context
from sqlalchemy.engine import Connection

from app.db.engine import create_engine
from app.db.knowledge import is_search_index
from app.db.models import Base

config = context.config
target_metadata = Base.metadata


@contextlib.contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys unenforced while migrating, then checked once before the commit.

    Batch mode changes a table by copying it, dropping it and renaming the copy; with foreign keys
    enforced, dropping a table other rows point at fails. The pragma only takes effect outside
    a transaction, so it is set on the driver's connection before ours begins.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    if connection.in_transaction():
        raise RuntimeError("SQLite migrations need a connection that is not in a transaction")

    def pragma(value: str) -> None:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(f"PRAGMA foreign_keys = {value}")
        finally:
            cursor.close()

    pragma("OFF")
    try:
        yield
    finally:
        pragma("ON")


def _run(connection: Connection) -> None:
    # Batch mode lets later migrations alter SQLite tables, which lack most ALTER forms.
    with _sqlite_foreign_keys_off(connection), connection.begin():
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=True,
            compare_type=True,
            # The full-text indexes are the databases' own (FTS5, a GIN expression index).
            include_name=lambda name, _type, _parents: not is_search_index(name),
        )
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


async def _run_with_own_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    shared: Connection | None = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    # The `alembic` command line (for developers writing migrations) takes DATABASE_URL.
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL or sqlalchemy.url")
    asyncio.run(_run_with_own_engine(url))


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run them online")
run_migrations_online()
