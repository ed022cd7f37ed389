"""Migration 0009 moves a populated single-store database into the default store without loss.

Every table that exists at 0008 gets rows in every column (raw bytes that are not UTF-8, JSON,
timestamps, nulls nowhere), written with the schema as it was then; after the upgrade every row
reads back unchanged, carries store 1, and every staff member owns store 1. Down to 0008 and up
again, nothing is lost either. On PostgreSQL this runs in a schema of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.db.test_migrations import empty_database, migrate

BEFORE_STORES = "0008_credentials"
AT = datetime(2026, 11, 1, 9, 30, 15, tzinfo=UTC)
RAW = b"From: =?utf-8?q?Z=C3=BC?= <z@example.com>\r\nX: \xff\xfe\x00\r\n\r\nbody \x80\r\n"
# The values of the checked status columns as of 0008.
ENUM_VALUES = {
    ("messages", "status"): ["drafted", "received"],
    ("replies", "status"): ["draft", "sent"],
    ("jobs", "kind"): ["send_reply", "process_inbound"],
    ("jobs", "status"): ["dead", "queued"],
    ("agent_runs", "status"): ["finished", "running"],
    ("proposed_actions", "status"): ["pending", "executed"],
    ("api_tokens", "scope"): ["review", "read"],
}
STORE_OWNED = (
    "conversations",
    "replies",
    "agent_runs",
    "model_turns",
    "tool_calls",
    "proposed_actions",
    "messages",
    "jobs",
    "audit_log",
)
ROWS = 2


def value(table: sa.Table, column: sa.Column[Any], row: int, *, sqlite: bool) -> Any:
    """A value for one column of row `row` (1-based) that the schema of 0008 accepts."""
    kind = column.type
    if (table.name, column.name) in ENUM_VALUES:
        return ENUM_VALUES[(table.name, column.name)][row - 1]
    if column.foreign_keys:
        return 1  # every referenced table has a row 1
    if isinstance(kind, sa.LargeBinary):
        return RAW + bytes([row])
    if isinstance(kind, sa.Boolean):
        return row == 1
    if isinstance(kind, sa.DateTime):
        moment = AT.replace(minute=row)
        # The models store naive UTC on SQLite (`UTCDateTime`): rows are written that way.
        return moment.replace(tzinfo=None) if sqlite else moment
    if isinstance(kind, sa.JSON):
        return {"row": row, "text": "Grüße", "list": [1, None, "#1001"]}
    if isinstance(kind, sa.Float):
        return 0.25 + row
    if isinstance(kind, sa.Integer):
        return row
    if isinstance(kind, sa.String):
        text = f"{table.name}.{column.name}.{row}·ü"
        return text[-kind.length :] if kind.length else text
    raise AssertionError(f"no test value for {table.name}.{column.name} ({kind!r})")


def populate(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Rows in every table of the schema as it is now; what was written, read back."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    sqlite = connection.dialect.name == "sqlite"
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        rows = [
            {column.name: value(table, column, row, sqlite=sqlite) for column in table.columns}
            for row in range(1, ROWS + 1)
        ]
        connection.execute(table.insert(), rows)
    if connection.dialect.name == "postgresql":
        # Rows were written with explicit ids: move each sequence past them, as real use would.
        for table in metadata.sorted_tables:
            if "id" in table.columns:
                connection.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), 100)")
                )
    return snapshot(connection, metadata)


def snapshot(
    connection: Connection, metadata: sa.MetaData | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of 0008, in the columns 0008 had (so later ones are left out)."""
    if metadata is None:
        metadata = sa.MetaData()
        metadata.reflect(connection)
    found = {}
    for table in metadata.sorted_tables:
        if table.name == "alembic_version":
            continue
        order = list(table.primary_key.columns) or list(table.columns)
        found[table.name] = [
            tuple(row) for row in connection.execute(sa.select(table).order_by(*order)).all()
        ]
    return found


async def run(engine: AsyncEngine, work: Any) -> Any:
    async with engine.begin() as connection:
        return await connection.run_sync(work)


def columns_of(names: dict[str, list[str]]) -> Any:
    """Read the rows of tables of the current schema limited to the columns of 0008."""

    def read(connection: Connection) -> dict[str, list[tuple[Any, ...]]]:
        metadata = sa.MetaData()
        metadata.reflect(connection)
        found = {}
        for table_name, column_names in names.items():
            table = metadata.tables[table_name]
            columns = [table.c[name] for name in column_names]
            order = list(table.primary_key.columns) or columns
            found[table_name] = [
                tuple(row) for row in connection.execute(sa.select(*columns).order_by(*order))
            ]
        return found

    return read


def store_ids(connection: Connection) -> dict[str, list[int | None]]:
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return {
        name: list(
            connection.execute(
                sa.select(metadata.tables[name].c.store_id).order_by(metadata.tables[name].c.id)
            ).scalars()
        )
        for name in (*STORE_OWNED, "staff_sessions", "api_tokens")
    }


def stores_and_owners(connection: Connection) -> tuple[list[Any], list[Any]]:
    stores = connection.execute(sa.text("SELECT id, slug, status FROM stores")).all()
    owners = connection.execute(
        sa.text("SELECT staff_id, store_id, role FROM store_memberships ORDER BY staff_id")
    ).all()
    return [tuple(row) for row in stores], [tuple(row) for row in owners]


def table_columns(connection: Connection) -> dict[str, list[str]]:
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return {
        table.name: [column.name for column in table.columns]
        for table in metadata.sorted_tables
        if table.name != "alembic_version"
    }


async def test_a_populated_database_moves_into_the_default_store_without_loss(
    tmp_path: Path,
) -> None:
    async with empty_database(tmp_path) as engine:
        await migrate(engine, BEFORE_STORES)
        columns = await run(engine, table_columns)
        before = await run(engine, populate)
        # Every table of 0008 holds rows, including the ones this issue is about.
        assert {
            "messages",
            "conversations",
            "replies",
            "jobs",
            "agent_runs",
            "model_turns",
            "tool_calls",
            "proposed_actions",
            "staff_users",
            "staff_sessions",
            "api_tokens",
            "audit_log",
        } <= set(before)
        assert all(len(rows) == ROWS for rows in before.values()), before.keys()
        assert before["messages"][0][columns["messages"].index("raw")] == RAW + b"\x01"

        await migrate(engine, "head")
        assert await run(engine, columns_of(columns)) == before
        ids = await run(engine, store_ids)
        for name in STORE_OWNED:
            assert ids[name] == [1] * ROWS, name
        # The store a session or token works in is chosen later (None: the member's first).
        assert ids["staff_sessions"] == ids["api_tokens"] == [None] * ROWS
        stores, owners = await run(engine, stores_and_owners)
        assert stores == [(1, "default", "active")]
        assert owners == [(1, 1, "owner"), (2, 1, "owner")]

        # Down to 0008: the same rows in the same columns; up again: back in the default store.
        await migrate(engine, BEFORE_STORES, down=True)
        assert await run(engine, snapshot) == before
        await migrate(engine, "head")
        assert await run(engine, columns_of(columns)) == before
        assert (await run(engine, store_ids))["messages"] == [1] * ROWS
        assert await run(engine, stores_and_owners) == (stores, owners)
