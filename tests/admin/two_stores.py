"""Two stores with look-alike data, for the tests of staff per store.

Emails go through the real webhook and worker; the second email (and everything the worker
made of it) is then moved into store `beta`, so both stores hold the same sender, order #1007
and the same shoes. `gamma` is a third store nobody in these tests belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from sqlalchemy import select, update

from app.admin.staff import create_api_token, create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import Conversation, Job, Message, ProposedAction, Reply
from app.db.scope import ALL_STORES, scoped_tables
from app.db.statuses import StoreRole
from app.db.stores import DEFAULT_STORE_ID, Store
from app.jobs.worker import Worker
from app.providers import Providers
from tests.builders import make_eml
from tests.fakes import post_email

PASSWORD = "correct horse battery staple"
AGENT_A = "ana@alpha.test"
AGENT_B = "ben@beta.test"
OWNER = "olga@both.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def return_request(subject: str, message_id: str) -> bytes:
    return make_eml(
        sender="Lena Fischer <lena@example.de>",
        subject=subject,
        body="Hello, the shoes from order #1007 are too small. Can I return them?\n",
        message_id=message_id,
    )


@dataclass
class Store_:
    """What one store holds after the worker ran: its email and what was made of it."""

    id: int
    slug: str
    message: int
    reply: int
    proposal: int
    job: int


@dataclass
class TwoStores:
    alpha: Store_
    beta: Store_
    gamma_id: int
    """A third store nobody in these tests is a member of."""


async def _store(db: Database, slug: str, name: str) -> int:
    async with db.write(ALL_STORES) as session:
        store = Store(
            slug=slug,
            name=name,
            shop_domain=f"{slug}.myshopify.com",
            support_email=f"support@{slug}.test",
            support_addresses=[f"support@{slug}.test"],
            credentials=b"sealed-secret-bytes",
        )
        session.add(store)
        await session.flush()
        return store.id


async def _made_of(db: Database, message_pk: int) -> tuple[int, int, int]:
    async with db.read(ALL_STORES) as session:
        reply = (
            await session.execute(select(Reply.id).where(Reply.message_id == message_pk))
        ).scalar_one()
        proposal = (
            await session.execute(
                select(ProposedAction.id).where(ProposedAction.message_id == message_pk)
            )
        ).scalar_one()
        job = (
            await session.execute(select(Job.id).where(Job.message_id == message_pk).limit(1))
        ).scalar_one()
    return reply, proposal, job


async def _move_to_store(db: Database, message_pk: int, store_id: int) -> None:
    """Everything of one email into another store, as routing will put it there."""
    async with db.write(ALL_STORES) as session:
        message = await session.get(Message, message_pk)
        assert message is not None
        conversation = message.conversation_id
        for table in scoped_tables():
            columns = table.__table__.columns  # type: ignore[attr-defined]
            if "message_id" in columns and table is not Message:
                await session.execute(
                    update(table)
                    .where(columns["message_id"] == message_pk)
                    .values(store_id=store_id)
                )
        await session.execute(
            update(Message).where(Message.id == message_pk).values(store_id=store_id)
        )
        await session.execute(
            update(Conversation).where(Conversation.id == conversation).values(store_id=store_id)
        )
        # Every job dead, so both stores have one to list and retry.
        await session.execute(update(Job).values(status="dead", last_error="gone"))


async def build_two_stores(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> TwoStores:
    """The two stores, and staff: an agent of each and an owner of both."""
    first = await post_email(
        client, return_request("Return for order #1007", "<r-1@example.de>"), "example.de"
    )
    second = await post_email(
        client, return_request("Returning shoes, order #1007", "<r-2@example.de>"), "example.de"
    )
    await Worker(db=db, settings=settings, providers=providers).drain()
    beta = await _store(db, "beta", "Beta Boots")
    gamma = await _store(db, "gamma", "Gamma Gear")
    async with db.read(ALL_STORES) as session:
        one, two = (await session.get(Message, first)), (await session.get(Message, second))
        assert one is not None
        assert two is not None
        assert one.conversation_id != two.conversation_id
    alpha_rows, beta_rows = await _made_of(db, first), await _made_of(db, second)
    await _move_to_store(db, second, beta)
    async with db.write(ALL_STORES) as session:
        await create_staff(
            session, email=AGENT_A, password=PASSWORD, stores=["default"], role=StoreRole.AGENT
        )
        await create_staff(
            session, email=AGENT_B, password=PASSWORD, stores=["beta"], role=StoreRole.AGENT
        )
        # Slugs as the CLI passes them: repeated and comma-separated.
        await create_staff(session, email=OWNER, password=PASSWORD, stores=["default", "beta"])
    return TwoStores(
        alpha=Store_(DEFAULT_STORE_ID, "default", first, *alpha_rows),
        beta=Store_(beta, "beta", second, *beta_rows),
        gamma_id=gamma,
    )


async def bearer(db: Database, email: str, store: str | None = None) -> dict[str, str]:
    async with db.write(ALL_STORES) as session:
        token = await create_api_token(session, email=email, store=store)
    return {"Authorization": f"Bearer {token}"}


async def log_in(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await http.get("/admin/stores")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def ids(items: list[dict[str, object]], key: str = "id") -> set[object]:
    return {item[key] for item in items}
