"""An outage is told apart from a refused row, on real errors from the database under test."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db.engine import Database
from app.db.errors import describe, is_outage
from app.db.models import StaffUser
from app.db.scope import ALL_STORES
from tests.builders import IN_DEFAULT_STORE


async def test_a_row_the_database_refuses_is_not_an_outage(db: Database) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(StaffUser(email="a@shop.test", password_hash="x"))
    with pytest.raises(SQLAlchemyError) as caught:
        async with db.write(IN_DEFAULT_STORE) as session:
            session.add(StaffUser(email="a@shop.test", password_hash="y"))
    assert not is_outage(caught.value)
    assert "a@shop.test" not in describe(caught.value)


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b"])
async def test_a_value_postgresql_cannot_hold_is_not_an_outage(db: Database, value: str) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite stores NUL and encodes surrogates itself")
    with pytest.raises(SQLAlchemyError) as caught:
        async with db.write(IN_DEFAULT_STORE) as session:
            # A plain bind, not a text column: the safe types would have cleaned the value.
            await session.execute(text("SELECT CAST(:value AS text)"), {"value": value})
    assert not is_outage(caught.value)
    assert describe(caught.value) in {"CharacterNotInRepertoireError (22021)", "DataError (22000)"}


async def test_an_unreachable_database_is_an_outage() -> None:
    unreachable = Database.connect("postgresql+asyncpg://nobody:pw@127.0.0.1:1/none")
    try:
        with pytest.raises(ConnectionRefusedError) as caught:
            async with unreachable.read() as session:
                await session.execute(text("SELECT 1"))
    finally:
        await unreachable.dispose()
    assert is_outage(caught.value)


async def test_a_dropped_connection_or_a_locked_database_is_an_outage(
    db: Database, database_url: str
) -> None:
    if db.dialect == "postgresql":
        with pytest.raises(SQLAlchemyError) as caught:
            async with db.read(ALL_STORES) as session:
                await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    else:
        impatient = Database.connect(database_url, sqlite_busy_timeout_ms=0)
        try:
            async with db.write(IN_DEFAULT_STORE) as holder:
                await holder.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock
                with pytest.raises(SQLAlchemyError) as caught:
                    async with impatient.write() as session:
                        await session.execute(text("SELECT 1"))
        finally:
            await impatient.dispose()
    assert is_outage(caught.value)
