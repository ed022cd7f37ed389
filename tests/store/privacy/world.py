"""Two stores holding the same customer, for the privacy tests.

The default store gets the customer's mail through the real webhook and the real worker (the
offline model and the demo shop), plus one email left unparsed; a second customer's rows and a
second store's copy of the first customer are inserted directly. `scan` reads every text, JSON
and bytes column of every table (from `Base.metadata`, so a new table is covered) for what
would recognise a customer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.base import utcnow
from app.db.engine import Database
from app.db.examples import EXAMPLES_FTS_TABLE, ReplyExample
from app.db.models import (
    AgentRun,
    AuditEntry,
    Base,
    Conversation,
    DeliveryEventRecord,
    Job,
    Message,
    ModelTurn,
    PrivacyRequest,
    ProposedAction,
    Reply,
    Store,
    Suppression,
    ToolCall,
)
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import (
    DeliveryState,
    JobStatus,
    MessageStatus,
    PrivacyTopic,
    ProposalStatus,
    ReplyStatus,
    StoreStatus,
)
from app.db.stores import DEFAULT_STORE_ID
from app.jobs.worker import Worker
from app.providers import Providers
from app.store.privacy.footprint import address_hash, column_kind
from tests.builders import make_eml
from tests.fakes import post_email


@dataclass(frozen=True)
class Person:
    """A customer and what would recognise them in any column."""

    name: str
    address: str
    phrase: str
    """Words only their emails contain."""

    @property
    def sender(self) -> str:
        return f"{self.name} <{self.address}>"

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.address.lower(), self.name.lower(), self.phrase.lower())


SARA = Person(
    name="Sara Ahmadi",
    address="sara.ahmadi@example.com",
    phrase="leave it behind the blue gate at Lindenweg 7",
)
REZA = Person(
    name="Reza Mohammadi",
    address="reza@example.ir",
    phrase="my cousin in Tabriz signs for parcels",
)
OTHER_STORE_DOMAIN = "second-shop.myshopify.com"


async def sara_through_the_pipeline(
    http: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    """Sara's mail in the default store: one email answered end to end, one not yet parsed."""
    first = make_eml(
        sender=SARA.sender,
        subject="Where is my order #1001?",
        body=f"Hi, where is my order #1001? Please {SARA.phrase}.\n\nThanks, Sara Ahmadi\n",
        message_id="<q-1001@mail.example.com>",
    )
    await post_email(http, first, "example.com")
    await Worker(db=db, settings=settings, providers=providers).drain()
    # Posted after the worker ran: only the raw delivery holds it.
    later = make_eml(
        sender=SARA.sender,
        subject="One more thing",
        body=f"And {SARA.phrase}, as before.\n",
        message_id="<q-later@mail.example.com>",
    )
    await post_email(http, later, "example.com")


async def add_second_store(db: Database, *, uninstalled_at: datetime | None = None) -> int:
    """A second store (uninstalled at `uninstalled_at`, if given) with credentials; its id."""
    async with db.write(ALL_STORES) as session:
        store = Store(
            slug="second",
            shop_domain=OTHER_STORE_DOMAIN,
            name="Second shop",
            support_email="help@second.test",
            support_addresses=["help@second.test"],
            credentials=b"sealed-credentials",
            policies_cache={"refund": "30 days"},
            status=StoreStatus.UNINSTALLED if uninstalled_at else StoreStatus.ACTIVE,
            installed_at=utcnow() - timedelta(days=30),
            uninstalled_at=uninstalled_at,
        )
        session.add(store)
        await session.flush()
        return store.id


async def add_rows(db: Database, store_id: int, person: Person, *, address: str = "") -> None:
    """One email of `person` in a store, with every kind of row the pipeline writes for it."""
    address = address or person.address
    eml = make_eml(
        sender=f"{person.name} <{address}>",
        subject=f"About {person.phrase}",
        body=f"Hello, {person.phrase}.\n{person.name}\n",
        message_id=f"<{store_id}-{address_hash(address)[:8]}@mail.test>",
    )
    async with db.write(StoreScope.of(store_id)) as session:
        conversation = Conversation(customer_email=address, subject=f"About {person.phrase}")
        session.add(conversation)
        await session.flush()
        message = Message(
            provider="sendgrid",
            payload_format="raw",
            content_type="message/rfc822",
            raw=eml,
            raw_size=len(eml),
            checksum=address_hash(f"{store_id}{address}"),
            message_id=f"<{store_id}-{address_hash(address)[:8]}@mail.test>",
            status=MessageStatus.DRAFTED,
            conversation_id=conversation.id,
            from_header=f"{person.name} <{address}>",
            from_name=person.name,
            from_address=address,
            subject=f"About {person.phrase}",
            recipients={"to": ["support@shop.test"], "cc": [], "reply_to": [address]},
            text=f"Hello, {person.phrase}.\n{person.name}\n",
            clean_text=f"Hello, {person.phrase}.",
            headers=[["From", f"{person.name} <{address}>"]],
            attachments=[{"filename": "photo.jpg", "content_type": "image/jpeg", "size": 10}],
            auth_results={"dkim": "pass", "envelope_from": address},
            reply_plan={"intent": "order_status", "paragraph": person.phrase, "confidence": 0.9},
            # Columns of codes that happen to name the customer are cleared too.
            identity_reason=f"dkim pass for {address}",
            guard_decisions=[{"code": "reply_cap", "verdict": "pass", "detail": person.name}],
            intent="order_status",
        )
        session.add(message)
        await session.flush()
        run = AgentRun(
            message_id=message.id,
            llm_kind="scripted",
            model="test",
            prompt_version="1",
            tools_hash="x",
            plan={"intent": "order_status", "paragraph": person.phrase},
        )
        session.add(run)
        reply = Reply(
            message_id=message.id,
            conversation_id=conversation.id,
            from_address="support@shop.test",
            to_address=address,
            subject=f"Re: About {person.phrase}",
            text_body=f"Dear {person.name}, about {person.phrase}.",
            html_body=f"<p>Dear {person.name}</p>",
            generated_text=f"Dear {person.name}",
            status=ReplyStatus.DRAFT,
            delivery_reason=f"550 {address} does not exist",
        )
        session.add(reply)
        await session.flush()
        await _add_delivery(session, reply, address)
        session.add_all(
            [
                ModelTurn(
                    agent_run_id=run.id,
                    message_id=message.id,
                    step=1,
                    llm_kind="scripted",
                    model="test",
                    prompt_version="1",
                    tools_hash="x",
                    request={"messages": [f"{person.name}: {person.phrase}"]},
                    response={"text": f"Dear {person.name}"},
                ),
                ToolCall(
                    message_id=message.id,
                    agent_run_id=run.id,
                    tool="find_order",
                    arguments={"customer_email": address},
                    outcome="ok",
                    summary=f"order of {person.name}",
                    result={"email": address, "name": person.name},
                    duration_ms=1.0,
                ),
                ProposedAction(
                    message_id=message.id,
                    agent_run_id=run.id,
                    tool="cancel_order",
                    arguments={"order": "#1001", "note": person.phrase},
                    order_id="gid://shopify/Order/1",
                    order_name="#1001",
                    reason=f"{person.name} asked",
                    status=ProposalStatus.PENDING,
                ),
                AuditEntry(
                    staff_email="agent@shop.test",
                    action="edit_draft",
                    target_type="message",
                    target_id=message.id,
                    message_id=message.id,
                    detail={"text": f"Dear {person.name}"},
                ),
                Job(
                    kind="process_inbound",
                    message_id=message.id,
                    status=JobStatus.DONE,
                    last_error=f"once failed for {address}",
                ),
            ]
        )


async def add_example(db: Database, store_id: int, person: Person) -> int:
    """A reply example of `person`'s reply in a store (and SQLite's full-text row); its id."""
    async with db.write(StoreScope.of(store_id)) as session:
        statement = select(Reply).where(Reply.to_address == person.address)
        reply = (await session.execute(statement)).scalars().first()
        assert reply is not None
        example = ReplyExample(
            reply_id=reply.id,
            message_id=reply.message_id,
            intent="order_status",
            language="en",
            customer_text=f"Please {person.phrase}",
            reply_text="Dear {customer_name}",
            terms=person.phrase.lower(),
        )
        session.add(example)
        await session.flush()
        if session.get_bind().dialect.name == "sqlite":
            await session.execute(
                text(f"INSERT INTO {EXAMPLES_FTS_TABLE} (rowid, terms) VALUES (:id, :terms)"),
                {"id": example.id, "terms": example.terms},
            )
        return example.id


async def examples_index(db: Database) -> list[str]:
    """The words SQLite's full-text table holds (nothing on PostgreSQL, which has no table)."""
    if db.dialect != "sqlite":
        return []
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(text(f"SELECT terms FROM {EXAMPLES_FTS_TABLE}"))
        return [row[0] for row in rows.all()]


async def _add_delivery(session: AsyncSession, reply: Reply, address: str) -> None:
    """Two provider events about the reply, and the suppression the hard bounce made."""
    events = [
        DeliveryEventRecord(
            provider="sendgrid",
            event_id=f"{reply.id}-{kind}",
            kind=kind,
            hard=kind is DeliveryState.BOUNCED,
            recipient=address,
            provider_message_id=f"sg-{reply.id}",
            message_key=f"sg-{reply.id}",
            occurred_at=utcnow(),
            reason=f"550 {address}: no such user",
            reply_id=reply.id,
        )
        for kind in (DeliveryState.DEFERRED, DeliveryState.BOUNCED)
    ]
    session.add_all(events)
    await session.flush()
    session.add(
        Suppression(
            address=address.lower(),
            kind=DeliveryState.BOUNCED,
            reason=f"550 {address}: no such user",
            delivery_event_id=events[-1].id,
            reply_id=reply.id,
            occurred_at=utcnow(),
        )
    )


async def add_request(
    db: Database,
    store_id: int,
    topic: PrivacyTopic,
    person: Person | None = None,
    *,
    due_at: datetime | None = None,
) -> int:
    """A privacy request as the webhook stores it (no address or phone in the payload)."""
    payload: dict[str, Any] = {"shop_id": 954889, "shop_domain": "shop.myshopify.com"}
    if person is not None:
        payload["customer"] = {"id": 191167}
        if topic is PrivacyTopic.DATA_REQUEST:
            payload |= {"orders_requested": [299938], "data_request": {"id": 9999}}
        else:
            payload["orders_to_redact"] = [299938]
    async with db.write(StoreScope.of(store_id)) as session:
        request = PrivacyRequest(
            topic=topic,
            shopify_customer_id="191167" if person else None,
            customer_email_hash=address_hash(person.address) if person else None,
            request=payload,
            due_at=due_at or utcnow(),
        )
        session.add(request)
        await session.flush()
        return request.id


async def get_request(db: Database, pk: int) -> PrivacyRequest:
    async with db.read(ALL_STORES) as session:
        statement = select(PrivacyRequest).where(PrivacyRequest.id == pk)
        request = (await session.execute(statement)).scalar_one()
        await session.refresh(request, ["export"])
        return request


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


async def scan(
    db: Database, store_id: int | None, people: tuple[Person, ...] = ()
) -> dict[str, set[str]]:
    """Per needle found, the `table.column`s holding it, over every table of the schema.

    With a store id, a store table's rows of that store only (and every row of the tables that
    belong to no store); with None, every row.
    """
    needles = {needle for person in (SARA, REZA, *people) for needle in person.needles}
    found: dict[str, set[str]] = {needle: set() for needle in needles}
    async with db.read(ALL_STORES) as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if column_kind(c) is not None]
            if not columns:
                continue
            statement = select(*columns)
            if store_id is not None and "store_id" in table.c:
                statement = statement.where(table.c.store_id == store_id)
            for row in (await session.execute(statement)).all():
                for column, value in zip(columns, row, strict=True):
                    text = _text(value).lower()
                    for needle in needles:
                        if needle in text:
                            found[needle].add(f"{table.name}.{column.name}")
    return found


async def row_counts(db: Database) -> Counter[tuple[str, int | None]]:
    """Rows per (table, store) over every store table."""
    counts: Counter[tuple[str, int | None]] = Counter()
    async with db.read(ALL_STORES) as session:
        for table in Base.metadata.sorted_tables:
            if "store_id" not in table.c or not isinstance(table, Table):
                continue
            statement = select(table.c.store_id, func.count()).group_by(table.c.store_id)
            for store, count in (await session.execute(statement)).all():
                counts[(table.name, store)] = count
    return counts


def mentions(found: dict[str, set[str]], person: Person) -> set[str]:
    """Every column holding any of what recognises `person`."""
    return set().union(*(found[needle] for needle in person.needles))


DEFAULT = DEFAULT_STORE_ID
