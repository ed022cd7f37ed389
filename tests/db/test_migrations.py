"""The migrations and the models describe the same schema, on the database under test."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from app.db.engine import Database, create_engine, normalise_database_url
from app.db.knowledge import is_search_index
from app.db.migrate import alembic_config
from app.db.models import AgentRun, Base, Job, Message, ProposedAction, Reply
from app.db.scope import ALL_STORES, bind_scope
from app.db.statuses import (
    AgentRunStatus,
    JobKind,
    JobStatus,
    MessageStatus,
    ProposalStatus,
    ReplyStatus,
)
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import TEST_DATABASE_URL

BEFORE_ENUMS = "0005"
"""The last revision whose status columns held plain strings with no constraint."""


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(connection: Connection) -> list[object]:
        # The full-text indexes (SQLite's FTS5 table, PostgreSQL's GIN expression index) are
        # the databases' own, outside the models.
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, _type, _parents: not is_search_index(name),
            },
        )
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == []


async def test_every_table_exists(db: Database) -> None:
    def tables(connection: Connection) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with db.engine.connect() as connection:
        names = await connection.run_sync(tables)
    assert {"messages", "conversations", "replies", "jobs", "alembic_version"} <= names


def enum_columns() -> list[tuple[str, str, sa.Enum]]:
    """Every column of the models stored as an enum: (table, column, type)."""
    return [
        (table.name, column.name, column.type)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.Enum)
    ]


def test_every_status_column_is_a_checked_enum_as_wide_as_its_old_string() -> None:
    widths = {(table, column): kind.length for table, column, kind in enum_columns()}
    assert widths == {
        ("messages", "status"): 32,
        ("messages", "closed_reason"): 32,
        ("presence", "kind"): 16,
        ("replies", "status"): 32,
        ("jobs", "kind"): 64,
        ("jobs", "status"): 16,
        ("agent_runs", "status"): 16,
        ("proposed_actions", "status"): 16,
        ("api_tokens", "scope"): 16,
        ("stores", "status"): 16,
        ("store_memberships", "role"): 16,
        ("privacy_requests", "topic"): 32,
        ("privacy_requests", "status"): 16,
        ("replies", "delivery_state"): 16,
        ("delivery_events", "kind"): 16,
        ("suppressions", "kind"): 16,
        ("knowledge_articles", "source"): 16,
        ("intent_autonomy", "level"): 16,
        ("autonomy_changes", "from_level"): 16,
        ("autonomy_changes", "to_level"): 16,
        ("reply_examples", "mark"): 16,
        ("replies", "rating"): 16,
        ("followups", "kind"): 16,
        ("followups", "status"): 16,
    }
    for table, column, kind in enum_columns():
        assert (kind.native_enum, kind.validate_strings) == (False, True)
        assert (kind.create_constraint, kind.name) == (True, f"ck_{table}_{column}")


async def test_the_databases_checks_allow_exactly_each_enums_values(db: Database) -> None:
    """Autogenerate does not compare CHECK constraints: a new member without a migration fails
    here instead of at the first insert in production."""

    def checks(connection: Connection) -> dict[str, str]:
        inspector = inspect(connection)
        return {
            check["name"]: check["sqltext"]
            for table in {t for t, _, _ in enum_columns()}
            for check in inspector.get_check_constraints(table)
            if check["name"]
        }

    async with db.engine.connect() as connection:
        found = await connection.run_sync(checks)
    for table, column, kind in enum_columns():
        name = f"ck_{table}_{column}"
        assert name in found, name
        assert set(re.findall(r"'([^']*)'", found[name])) == set(kind.enums), name


async def test_the_database_refuses_a_status_no_enum_knows(db: Database) -> None:
    async with db.engine.connect() as connection:
        with pytest.raises(IntegrityError, match="ck_agent_runs_status"):
            await connection.execute(
                sa.text(
                    "INSERT INTO agent_runs (llm_kind, model, prompt_version, tools_hash, status,"
                    " steps, input_tokens, output_tokens, started_at, store_id)"
                    " VALUES ('offline', 'm', 'p', 't', 'wandering', 0, 0, 0, :at, 1)"
                ),
                {"at": datetime(2026, 11, 1, tzinfo=UTC)},
            )


async def test_code_cannot_store_a_status_no_enum_knows(db: Database) -> None:
    with pytest.raises(sa.exc.StatementError, match="not among the defined enum values"):
        async with db.write(IN_DEFAULT_STORE) as session:
            await session.execute(sa.update(Job).values(status="finished"))


# --- upgrading a database written before the status enums ----------------------------------


@contextlib.asynccontextmanager
async def empty_database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database of the kind under test: a new SQLite file, or a new PostgreSQL schema."""
    if not TEST_DATABASE_URL:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    schema = f"migration_{uuid.uuid4().hex[:12]}"
    owner = create_engine(TEST_DATABASE_URL)
    async with owner.begin() as connection:
        await connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    engine = create_async_engine(
        normalise_database_url(TEST_DATABASE_URL),
        connect_args={"server_settings": {"search_path": schema}},
    )
    try:
        yield engine
    finally:
        await engine.dispose()
        async with owner.begin() as connection:
            await connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await owner.dispose()


async def migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.connect() as connection:
        await connection.run_sync(run)


AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MESSAGES = sa.table(
    "messages",
    *(sa.column(name) for name in ("id", "provider", "payload_format", "content_type")),
    sa.column("raw", sa.LargeBinary),
    *(sa.column(name) for name in ("raw_size", "checksum", "message_id", "status")),
    sa.column("has_synthetic_message_id", sa.Boolean),
    sa.column("message_id_reused", sa.Boolean),
    sa.column("received_at", sa.DateTime(timezone=True)),
)
REPLIES = sa.table(
    "replies",
    *(sa.column(name) for name in ("id", "message_id", "to_address", "status")),
    sa.column("is_automated", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
JOBS = sa.table(
    "jobs",
    *(sa.column(name) for name in ("message_id", "reply_id", "kind", "status", "attempts")),
    sa.column("run_after", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
AGENT_RUNS = sa.table(
    "agent_runs",
    *(sa.column(name) for name in ("id", "message_id", "llm_kind", "model", "prompt_version")),
    *(sa.column(name) for name in ("tools_hash", "status", "steps", "input_tokens")),
    sa.column("output_tokens"),
    sa.column("started_at", sa.DateTime(timezone=True)),
)
PROPOSALS = sa.table(
    "proposed_actions",
    *(sa.column(name) for name in ("message_id", "agent_run_id", "tool", "order_id")),
    *(sa.column(name) for name in ("order_name", "reason", "status")),
    sa.column("arguments", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


async def write_rows_as_before(engine: AsyncEngine, *, message_status: str = "drafted") -> None:
    """Rows as the service wrote them while statuses were plain strings."""
    async with engine.begin() as connection:
        await connection.execute(
            MESSAGES.insert().values(
                id=1,
                provider="sendgrid",
                payload_format="raw",
                content_type="message/rfc822",
                raw=b"From: a@example.com\r\n\r\nhi\r\n",
                raw_size=27,
                checksum="0" * 64,
                message_id="<old-1@example.com>",
                status=message_status,
                has_synthetic_message_id=False,
                message_id_reused=False,
                received_at=AT,
            )
        )
        await connection.execute(
            REPLIES.insert().values(
                id=1,
                message_id=1,
                to_address="a@example.com",
                status="draft",
                is_automated=True,
                created_at=AT,
            )
        )
        await connection.execute(
            JOBS.insert().values(
                message_id=1,
                reply_id=1,
                kind="send_reply",
                status="dead",
                attempts=5,
                run_after=AT,
                created_at=AT,
            )
        )
        await connection.execute(
            AGENT_RUNS.insert().values(
                id=1,
                message_id=1,
                llm_kind="offline",
                model="offline",
                prompt_version="v1",
                tools_hash="abc",
                status="finished",
                steps=2,
                input_tokens=10,
                output_tokens=5,
                started_at=AT,
            )
        )
        await connection.execute(
            PROPOSALS.insert().values(
                message_id=1,
                agent_run_id=1,
                tool="request_return",
                order_id="gid://shopify/Order/1",
                order_name="#1001",
                reason="asked by email",
                status="pending",
                arguments={"order_number": "#1001"},
                created_at=AT,
            )
        )


async def read_statuses(engine: AsyncEngine) -> dict[str, Any]:
    async with AsyncSession(engine) as session:
        bind_scope(session.sync_session, ALL_STORES)
        message = (await session.execute(select(Message))).scalar_one()
        reply = (await session.execute(select(Reply))).scalar_one()
        job = (await session.execute(select(Job))).scalar_one()
        run = (await session.execute(select(AgentRun))).scalar_one()
        proposal = (await session.execute(select(ProposedAction))).scalar_one()
        return {
            "message": message.status,
            "reply": reply.status,
            "job": (job.kind, job.status),
            "run": run.status,
            "proposal": proposal.status,
            "raw": (await session.execute(select(Message.raw))).scalar_one(),
        }


async def test_rows_stored_before_the_status_enums_read_back_as_enum_members(
    tmp_path: Path,
) -> None:
    async with empty_database(tmp_path) as engine:
        await migrate(engine, BEFORE_ENUMS)
        await write_rows_as_before(engine)
        await migrate(engine, "head")
        statuses = await read_statuses(engine)
        assert statuses == {
            "message": MessageStatus.DRAFTED,
            "reply": ReplyStatus.DRAFT,
            "job": (JobKind.SEND_REPLY, JobStatus.DEAD),
            "run": AgentRunStatus.FINISHED,
            "proposal": ProposalStatus.PENDING,
            "raw": b"From: a@example.com\r\n\r\nhi\r\n",
        }
        # Equal is not enough (a member equals its value): each is read back as the member.
        assert type(statuses["message"]) is MessageStatus
        assert [type(kind) for kind in statuses["job"]] == [JobKind, JobStatus]
        assert type(statuses["proposal"]) is ProposalStatus
        # Back down, the rows stay and the checks go; up again, they come back.
        await migrate(engine, BEFORE_ENUMS, down=True)
        async with engine.begin() as connection:
            await connection.execute(sa.text("UPDATE jobs SET status = 'anything'"))
            await connection.execute(sa.text("UPDATE jobs SET status = 'dead'"))
        await migrate(engine, "head")
        assert (await read_statuses(engine))["message"] is MessageStatus.DRAFTED


async def test_the_upgrade_stops_on_a_stored_status_it_does_not_know(tmp_path: Path) -> None:
    async with empty_database(tmp_path) as engine:
        await migrate(engine, BEFORE_ENUMS)
        await write_rows_as_before(engine, message_status="parked")
        with pytest.raises(RuntimeError, match=r"messages\.status = 'parked' \(1 rows\)"):
            await migrate(engine, "head")
