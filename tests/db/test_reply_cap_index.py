"""The per-sender reply cap is answered from an index, not by scanning every reply."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.db.engine import Database
from app.db.models import utcnow
from app.intake import messages
from tests.builders import IN_DEFAULT_STORE


async def test_the_reply_cap_count_uses_the_lowercase_address_column_index(db: Database) -> None:
    query = messages.reply_cap_query("Sara@Example.com", since=utcnow() - timedelta(hours=24))
    async with db.write(IN_DEFAULT_STORE) as session:
        connection = await session.connection()
        sql = str(query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
        if db.dialect == "sqlite":
            plan = (await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all()
            detail = " ".join(str(row[-1]) for row in plan)
        else:
            # On a nearly empty table a scan is cheaper; forbid it to see the index is usable.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = (await session.execute(text(f"EXPLAIN {sql}"))).all()
            detail = " ".join(str(row[0]) for row in plan)
    assert "ix_replies_to_address_key_created_at" in detail, detail
