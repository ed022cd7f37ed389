"""app.db.scope: no statement form reads or writes another store's rows, or runs unscoped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, exists, func, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.engine import Database
from app.db.models import AgentRun, Conversation, Message, Reply, Store, ToolCall
from app.db.scope import ALL_STORES, CrossStoreWrite, StoreScope, UnscopedQuery
from app.db.statuses import MessageStatus, ReplyStatus

ONE, TWO = StoreScope.of(1), StoreScope.of(2)
Work = Callable[[AsyncSession], Awaitable[Any]]


def message(store_id: int, number: int) -> Message:
    return Message(
        store_id=store_id,
        provider="sendgrid",
        payload_format="raw",
        content_type="message/rfc822",
        raw=f"From: c{number}@example.com\r\n\r\nstore {store_id}\r\n".encode(),
        raw_size=30,
        checksum=f"{number:064d}",
        message_id=f"<m{number}@example.com>",
        status=MessageStatus.RECEIVED,
        from_address="same@customer.test",
    )


@pytest.fixture
async def two_stores(db: Database) -> Database:
    """Store 1 and store 2, each with two conversations, messages and replies (same customer)."""
    async with db.write(ALL_STORES) as session:
        session.add(Store(slug="second", name="Second", support_email="help@second.test"))
        await session.flush()
        number = 0
        for store_id in (1, 2):
            for _ in range(2):
                number += 1
                conversation = Conversation(
                    store_id=store_id, customer_email="same@customer.test", subject="#1001"
                )
                mail = message(store_id, number)
                session.add_all([conversation, mail])
                await session.flush()
                mail.conversation_id = conversation.id
                session.add(
                    Reply(
                        store_id=store_id,
                        message_id=mail.id,
                        conversation_id=conversation.id,
                        to_address="same@customer.test",
                        status=ReplyStatus.DRAFT,
                        text_body=f"reply of store {store_id}",
                    )
                )
    return db


async def ids(session: AsyncSession, statement: Any) -> list[Any]:
    return list((await session.execute(statement)).scalars().all())


async def everything(db: Database, model: Any) -> list[tuple[int, int | None]]:
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(select(model.id, model.store_id).order_by(model.id))
        return [(row[0], row[1]) for row in rows.all()]


# --- no scope: every form of query on a store's table is refused ---------------------------------

UNSCOPED: dict[str, Work] = {
    "select": lambda s: s.execute(select(Message)),
    "select a column": lambda s: s.execute(select(Message.id)),
    "count via func": lambda s: s.execute(select(func.count(Message.id))),
    "count(*) select_from": lambda s: s.execute(select(func.count()).select_from(Message)),
    "update": lambda s: s.execute(update(Message).values(subject="x")),
    "delete": lambda s: s.execute(delete(Reply)),
    "session.get": lambda s: s.get(Conversation, 1),
    "exists": lambda s: s.execute(select(exists().where(Message.from_address == "x"))),
    "scalar subquery": lambda s: s.execute(select(select(func.max(Reply.id)).scalar_subquery())),
    "in subquery of a global table": lambda s: s.execute(
        select(Store.id).where(Store.id.in_(select(Conversation.store_id)))
    ),
    "join from a global table": lambda s: s.execute(
        select(Store.id).join(Conversation, Conversation.store_id == Store.id)
    ),
    "union": lambda s: s.execute(union(select(Message.id), select(Reply.id))),
    "cte": lambda s: s.execute(select(select(Message.id).cte().c.id)),
    "core table": lambda s: s.execute(select(Message.__table__.c.id)),
    "core table via select()": lambda s: s.execute(Reply.__table__.select()),
}


@pytest.mark.parametrize("form", UNSCOPED)
async def test_an_unscoped_unit_of_work_cannot_touch_a_stores_rows(
    two_stores: Database, form: str
) -> None:
    with pytest.raises(UnscopedQuery, match="named no store scope"):
        async with two_stores.write() as session:
            await UNSCOPED[form](session)


async def test_an_unscoped_unit_of_work_still_reads_global_tables(two_stores: Database) -> None:
    async with two_stores.read() as session:
        assert await ids(session, select(Store.slug).order_by(Store.id)) == ["default", "second"]


# --- a store scope: every form of query sees that store's rows only -------------------------------


async def test_selects_joins_and_subqueries_see_one_store(two_stores: Database) -> None:
    async with two_stores.read(TWO) as session:
        assert await ids(session, select(Message.id).order_by(Message.id)) == [3, 4]
        joined = (
            select(Reply.id)
            .join(Message, Message.id == Reply.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.customer_email == "same@customer.test")
            .order_by(Reply.id)
        )
        assert await ids(session, joined) == [3, 4]
        # A join written the wrong way round (on the customer, across stores) still stays inside.
        crossing = select(Reply.id).join(
            Conversation, Conversation.customer_email == Reply.to_address
        )
        assert set(await ids(session, crossing)) == {3, 4}
        other = aliased(Message)
        assert set(await ids(session, select(other.id))) == {3, 4}
        newest = select(func.max(Message.id)).scalar_subquery()
        assert await ids(session, select(Reply.id).where(Reply.message_id == newest)) == [4]
        inside = select(Conversation.id).where(Conversation.subject == "#1001")
        in_threads = select(Message.id).where(Message.conversation_id.in_(inside))
        assert set(await ids(session, in_threads)) == {3, 4}
        assert await ids(session, select(exists().where(Message.id == 1))) == [False]
        assert await ids(session, select(exists().where(Message.id == 3))) == [True]
        assert set(await ids(session, union(select(Message.id), select(Reply.id)))) == {3, 4}
        assert set(await ids(session, select(select(Message.id).cte().c.id))) == {3, 4}
        per_store = select(Store.id).join(Conversation, Conversation.store_id == Store.id)
        assert await ids(session, per_store) == [2, 2]


async def test_counts_see_one_store(two_stores: Database) -> None:
    async with two_stores.read(ONE) as session:
        assert await ids(session, select(func.count(Message.id))) == [2]
        assert await ids(session, select(func.count()).select_from(Reply)) == [2]
        grouped = select(Message.store_id, func.count()).group_by(Message.store_id)
        assert (await session.execute(grouped)).all() == [(1, 2)]
    async with two_stores.read(ALL_STORES) as session:
        assert await ids(session, select(func.count(Message.id))) == [4]


async def test_session_get_and_deferred_columns_stay_inside(two_stores: Database) -> None:
    async with two_stores.read(ONE) as session:
        assert await session.get(Message, 3) is None
        own = await session.get(Message, 1)
        assert own is not None
        # `raw` is deferred: loading it is another SELECT, filtered the same way.
        assert (await session.execute(select(Message.raw).where(Message.id == 1))).scalar_one()
    async with two_stores.read(TWO) as session:
        found = await session.get(Message, 3)
        assert found is not None
        assert found.store_id == 2


async def test_each_store_gets_its_own_filter_from_one_cached_statement(
    two_stores: Database,
) -> None:
    """The criterion is a cached lambda: its store id must be a parameter, not baked in."""
    statement = select(Message.id).order_by(Message.id)
    for scope, expected in ((ONE, [1, 2]), (TWO, [3, 4]), (ONE, [1, 2]), (TWO, [3, 4])):
        async with two_stores.read(scope) as session:
            assert await ids(session, statement) == expected


async def test_orm_update_and_delete_leave_other_stores_rows_untouched(
    two_stores: Database,
) -> None:
    async with two_stores.write(ONE) as session:
        changed = await session.execute(update(Reply).values(text_body="edited"))
        assert changed.rowcount == 2  # type: ignore[attr-defined]
        gone = await session.execute(delete(Reply).where(Reply.id > 0))
        assert gone.rowcount == 2  # type: ignore[attr-defined]
        await session.execute(update(Message).where(Message.id == 3).values(subject="nope"))
    async with two_stores.read(ALL_STORES) as session:
        rows = (await session.execute(select(Reply.store_id, Reply.text_body))).all()
        assert sorted(rows) == [(2, "reply of store 2"), (2, "reply of store 2")]
        assert (await session.get(Message, 3)) is not None
        subject = await ids(session, select(Message.subject).where(Message.id == 3))
        assert subject == [None]


# --- writes in a store scope ---------------------------------------------------------------------


async def test_new_rows_are_stamped_with_the_scopes_store(two_stores: Database) -> None:
    async with two_stores.write(TWO) as session:
        run = AgentRun(llm_kind="offline", model="m", prompt_version="v", tools_hash="t")
        session.add(run)
        await session.flush()
        session.add(
            ToolCall(agent_run_id=run.id, tool="t", outcome="ok", summary="", duration_ms=1)
        )
        await session.execute(insert(Conversation).values(customer_email="new@customer.test"))
        await session.execute(insert(Conversation), [{"customer_email": "a@x.test"}])
        await session.execute(insert(Conversation).values([{"store_id": 2}, {"store_id": 2}]))
    assert [store for _, store in await everything(two_stores, AgentRun)] == [2]
    assert [store for _, store in await everything(two_stores, ToolCall)] == [2]
    assert [store for _, store in await everything(two_stores, Conversation)][-4:] == [2] * 4


CROSSING: dict[str, Work] = {
    "added row": lambda s: _add(s, Conversation(store_id=2, customer_email="x@x.test")),
    "moved row": lambda s: _move(s),
    "insert values": lambda s: s.execute(insert(Conversation).values(store_id=2)),
    "bulk insert": lambda s: s.execute(insert(Conversation), [{"store_id": 2}]),
    "multi-row insert": lambda s: s.execute(
        insert(Conversation).values([{"store_id": 1}, {"store_id": 2}])
    ),
    "multi-row insert without store": lambda s: s.execute(
        insert(Conversation).values([{"customer_email": "a@x.test"}])
    ),
    "update moving rows": lambda s: s.execute(update(Conversation).values(store_id=2)),
    "bulk update by primary key": lambda s: s.execute(
        update(Conversation), [{"id": 3, "subject": "taken over"}]
    ),
    "insert from select": lambda s: s.execute(
        insert(Conversation).from_select(
            ["store_id", "customer_email"], select(Conversation.store_id, Conversation.subject)
        )
    ),
}


async def _add(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await session.flush()


async def _move(session: AsyncSession) -> None:
    own = await session.get(Conversation, 1)
    assert own is not None
    own.store_id = 2
    await session.flush()


@pytest.mark.parametrize("form", CROSSING)
async def test_a_row_of_another_store_cannot_be_written_in_a_store_scope(
    two_stores: Database, form: str
) -> None:
    before = await everything(two_stores, Conversation)
    async with two_stores.read(ALL_STORES) as session:
        subjects = await ids(session, select(Conversation.subject).order_by(Conversation.id))
    with pytest.raises(CrossStoreWrite):
        async with two_stores.write(ONE) as session:
            await CROSSING[form](session)
    assert await everything(two_stores, Conversation) == before
    async with two_stores.read(ALL_STORES) as session:
        assert (
            await ids(session, select(Conversation.subject).order_by(Conversation.id)) == subjects
        )


async def test_a_core_table_cannot_be_queried_in_a_store_scope(two_stores: Database) -> None:
    """A Core table is not reached by the ORM's filter: refused instead of read unfiltered."""
    for statement in (select(Message.__table__.c.id), Reply.__table__.select()):
        with pytest.raises(UnscopedQuery, match="cannot be filtered by store"):
            async with two_stores.read(TWO) as session:
                await session.execute(statement)


# --- handles -------------------------------------------------------------------------------------


async def test_a_store_handle_cannot_be_widened(two_stores: Database) -> None:
    store = two_stores.for_store(1)
    with pytest.raises(CrossStoreWrite):
        async with store.read(ALL_STORES):
            pass
    with pytest.raises(CrossStoreWrite):
        async with store.write(TWO):
            pass
    with pytest.raises(CrossStoreWrite):
        store.for_store(2)
    async with store.read() as session:
        assert await ids(session, select(Message.id).order_by(Message.id)) == [1, 2]
    async with store.read(ONE) as session:
        assert await ids(session, select(func.count(Reply.id))) == [2]


async def test_all_stores_sees_everything(two_stores: Database) -> None:
    async with two_stores.read(ALL_STORES) as session:
        assert await ids(session, select(Message.id).order_by(Message.id)) == [1, 2, 3, 4]
        assert sorted(await ids(session, select(Reply.store_id))) == [1, 1, 2, 2]
        assert await ids(session, select(Message.__table__.c.id).order_by(sa.text("id"))) == [
            1,
            2,
            3,
            4,
        ]
    wide = two_stores.for_store(2)
    async with wide.read() as session:
        assert await ids(session, select(Message.id).order_by(Message.id)) == [3, 4]
