"""What an email costs the database: transactions counted, not timed; sends before inbound work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message, Reply
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, ReplyStatus
from app.jobs import queue
from app.jobs.worker import Worker
from app.providers import Providers
from tests.builders import IN_DEFAULT_STORE, make_eml
from tests.fakes import post_email


def order_question(n: int) -> bytes:
    return make_eml(
        sender="Sara Ahmadi <sara.ahmadi@example.com>",
        subject="Where is my order #1001?",
        body="Hi, where is my order #1001?\n\nSara\n",
        message_id=f"<where-{n}@example.com>",
    )


def auto_reply(n: int) -> bytes:
    return make_eml(
        sender="Sara Ahmadi <sara.ahmadi@example.com>",
        subject="Out of office",
        body="I am away until Monday.\n",
        message_id=f"<away-{n}@example.com>",
        headers=[("Auto-Submitted", "auto-replied")],
    )


class Transactions:
    """Counts transactions begun on every engine of a `Database` (async and SQLite's writer)."""

    def __init__(self) -> None:
        self.count = 0
        self.statements = 0

    def begun(self, *_args: Any) -> None:
        self.count += 1

    def executed(self, *_args: Any) -> None:
        self.statements += 1


@contextmanager
def counting(db: Database) -> Iterator[Transactions]:
    counter = Transactions()
    engines: list[Engine] = [db.engine.sync_engine]
    if db.blocking_engine is not None:
        engines.append(db.blocking_engine)
    for engine in engines:
        event.listen(engine, "begin", counter.begun)
        event.listen(engine, "before_cursor_execute", counter.executed)
    try:
        yield counter
    finally:
        for engine in engines:
            event.remove(engine, "begin", counter.begun)
            event.remove(engine, "before_cursor_execute", counter.executed)


async def statuses(db: Database, message_pk: int) -> tuple[str, list[str]]:
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, message_pk)
        replies = (
            await session.execute(select(Reply).where(Reply.message_id == message_pk))
        ).scalars()
        assert message is not None
        return message.status, [reply.status for reply in replies]


async def test_an_auto_sent_email_costs_at_most_four_transactions(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    worker = Worker(db=db, settings=settings, providers=providers)
    # The first email fills the process's caches (stores, policies); the second is measured.
    first = await post_email(client, order_question(1), "example.com")
    assert await worker.run_once() is not None
    assert await statuses(db, first) == ("answered", ["sent"])
    second = await post_email(client, order_question(2), "example.com")
    with counting(db) as transactions:
        job = await worker.run_once()
    assert job is not None
    assert job.kind == JobKind.PROCESS_INBOUND
    assert await statuses(db, second) == ("answered", ["sent"])
    # Claim + load, open the agent's run, file everything, the send's outcome + the job's end.
    assert transactions.count <= 4, transactions.count
    assert await worker.run_once() is None  # One job per email: nothing else was queued.


async def test_an_auto_reply_is_skipped_in_at_most_three_transactions(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    worker = Worker(db=db, settings=settings, providers=providers)
    await post_email(client, order_question(1), "example.com")
    await worker.drain()
    pk = await post_email(client, auto_reply(1), "example.com")
    with counting(db) as transactions:
        await worker.run_once()
    assert await statuses(db, pk) == ("skipped", [])
    assert transactions.count <= 3, transactions.count


async def test_steps_keep_database_time_apart_from_each_steps_own_work(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(client, order_question(1), "example.com")
    await Worker(db=db, settings=settings, providers=providers).drain()
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, pk)
    assert message is not None
    assert message.steps
    names = [step["step"] for step in message.steps]
    assert names == [
        "parse", "identity", "guards", "agent", "render", "verify", "policy", "database", "send"
    ]  # fmt: skip
    [database] = [step for step in message.steps if step["step"] == "database"]
    # Opening the run comes before filing (the claim is the worker's, the filing in metrics).
    assert database["outcome"] == "1 transaction(s)"
    assert database["ms"] > 0


async def test_a_staff_approved_send_is_claimed_before_an_older_inbound_backlog(
    client: httpx.AsyncClient, db: Database, settings: Settings, tmp_path: Path
) -> None:
    for n in range(5):
        await post_email(client, order_question(n), "example.com")
    async with db.write(IN_DEFAULT_STORE) as session:
        reply = Reply(
            message_id=1,
            conversation_id=None,
            idempotency_key="staff:1",
            from_address="support@shop.test",
            to_address="sara.ahmadi@example.com",
            subject="Re: Where is my order #1001?",
            text_body="It is on its way.",
            html_body="<p>It is on its way.</p>",
            status=ReplyStatus.QUEUED,
            decision="send",
        )
        session.add(reply)
        await session.flush()
        await queue.enqueue(session, JobKind.SEND_REPLY, message_id=1, reply_id=reply.id)
    ran: list[str] = []

    async def record(job: queue.ClaimedJob) -> None:
        ran.append(job.kind)

    worker = Worker(
        db=db,
        settings=settings,
        handlers={JobKind.PROCESS_INBOUND: record, JobKind.SEND_REPLY: record},
    )
    assert await worker.drain() == 6
    # The send was queued last and ran first: a reply never waits behind the inbound backlog.
    assert ran == [JobKind.SEND_REPLY, *[JobKind.PROCESS_INBOUND] * 5]
    async with db.read(ALL_STORES) as session:
        priorities = {
            job.kind: job.priority for job in (await session.execute(select(Job))).scalars()
        }
    assert priorities == {JobKind.SEND_REPLY: 0, JobKind.PROCESS_INBOUND: 100}
