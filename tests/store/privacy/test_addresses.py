"""Tables that name a customer by address alone: follow-ups, unsubscribes, resolution checks,
suppressions and segments.

Mina never wrote: the store holds only a check-in follow-up she unsubscribed from and her
segment. Sara wrote and was answered; her reply has a resolution check, a review request and a
reply example. A data request exports all of it; a redact leaves no row mentioning either
address, keeps her unsubscribe and suppression as hashes the senders still honour, deletes
her segment and her reply example, and leaves Reza's rows as they were.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db.base import utcnow
from app.db.delivery import address_hash
from app.db.engine import Database
from app.db.examples import ReplyExample
from app.db.models import (
    Base,
    CustomerSegment,
    FollowUp,
    Reply,
    ResolutionCheck,
    Suppression,
    Unsubscribe,
)
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import FollowUpKind, FollowUpStatus, PrivacyTopic
from app.intake.unsubscribing import is_unsubscribed_in
from app.replies.deliveries import suppression_in
from app.store.privacy import erase
from app.store.privacy.footprint import CUSTOMER_ADDRESSES, column_kind
from app.store.privacy.runner import process_due
from tests.store.privacy.world import (
    DEFAULT,
    REZA,
    SARA,
    Person,
    add_example,
    add_request,
    add_rows,
    examples_index,
    get_request,
    mentions,
    scan,
)

MINA = Person(name="Mina Karimi", address="Mina.Karimi@example.org", phrase="Mina Karimi")
# Text columns named for an address or email that hold someone other than a customer.
NOT_A_CUSTOMER = frozenset(
    {
        ("audit_log", "staff_email"),
        ("replies", "from_address"),
        ("privacy_requests", "customer_email_hash"),
    }
)


async def _after_sale_rows(db: Database, person: Person, *, n: int) -> None:
    """What the after-sale work and the segment refresh write for `person` (n: unique keys)."""
    key = person.address.lower()
    now = utcnow()
    async with db.write(StoreScope.of(DEFAULT)) as session:
        followup = FollowUp(
            kind=FollowUpKind.CHECKIN,
            source_key=f"gid://shopify/Order/{n}",
            status=FollowUpStatus.SENT,
            address=key,
            customer_name=person.name,
            detail={"order": f"#{n}", "items": ["Blue mug"], "name": person.name},
            due_at=now,
            subject=f"{person.name}, did order #{n} arrive well?",
            text_body=f"Hello {person.name}",
            sent_at=now,
        )
        session.add(followup)
        await session.flush()
        session.add_all(
            [
                FollowUp(
                    kind=FollowUpKind.CHECKIN,
                    source_key=f"gid://shopify/Order/{n + 1}",
                    address=key,
                    customer_name=person.name,
                    due_at=now + timedelta(days=3),
                ),
                Unsubscribe(address=key, followup_id=followup.id, one_click=True),
                CustomerSegment(
                    email=key,
                    segment="champions",
                    priority=1,
                    meaning="Buys often",
                    computed_at=now,
                ),
            ]
        )


async def _sara_after_her_reply(db: Database) -> None:
    """Sara's reply gets a resolution check and a review request (beside the suppression
    `add_rows` made)."""
    now = utcnow()
    async with db.write(StoreScope.of(DEFAULT)) as session:
        reply = (
            await session.execute(select(Reply).where(Reply.to_address == SARA.address))
        ).scalar_one()
        session.add_all(
            [
                ResolutionCheck(
                    reply_id=reply.id,
                    conversation_id=reply.conversation_id,
                    address=SARA.address,
                    automated=True,
                    sent_at=now,
                    due_at=now,
                ),
                FollowUp(
                    kind=FollowUpKind.REVIEW,
                    source_key=str(reply.id),
                    address=SARA.address,
                    reply_id=reply.id,
                    due_at=now,
                ),
            ]
        )


@pytest.fixture
async def world(db: Database) -> None:
    await add_rows(db, DEFAULT, SARA)
    await add_rows(db, DEFAULT, REZA)
    await _sara_after_her_reply(db)
    await add_example(db, DEFAULT, SARA)
    await add_example(db, DEFAULT, REZA)
    await _after_sale_rows(db, SARA, n=1)
    await _after_sale_rows(db, REZA, n=3)
    await _after_sale_rows(db, MINA, n=5)


async def _count(db: Database, model: type[Base]) -> int:
    async with db.read(ALL_STORES) as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_the_export_holds_the_rows_found_by_address_alone(db: Database, world: None) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, MINA)
    assert await process_due(db, now=utcnow()) == 1
    request = await get_request(db, pk)
    assert request.export is not None
    document = json.loads(request.export)
    data = document["data"]

    assert document["customer"]["addresses"] == [MINA.address.lower()]
    assert set(data) == {"followups", "unsubscribes", "customer_segments"}
    assert len(data["followups"]) == 2
    assert data["unsubscribes"][0]["address"] == MINA.address.lower()
    assert data["customer_segments"][0]["segment"] == "champions"
    assert SARA.address not in request.export.decode()
    assert REZA.address not in request.export.decode()


async def test_the_export_holds_her_after_sale_rows_beside_her_mail(
    db: Database, world: None
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    await process_due(db, now=utcnow())
    request = await get_request(db, pk)
    assert request.export is not None
    data = json.loads(request.export)["data"]
    assert len(data["followups"]) == 3
    assert data["resolution_checks"][0]["address"] == SARA.address
    assert [s["address"] for s in data["suppressions"]] == [SARA.address]
    assert len(data["unsubscribes"]) == 1
    assert len(data["customer_segments"]) == 1
    assert len(data["reply_examples"]) == 1
    assert list(data) == sorted(data, key=[t.name for t in Base.metadata.sorted_tables].index)


@pytest.mark.parametrize("person", [SARA, MINA], ids=["sara", "mina"])
async def test_redact_leaves_no_row_naming_the_address(
    db: Database, world: None, person: Person
) -> None:
    reza = mentions(await scan(db, DEFAULT), REZA)
    segments, examples = await _count(db, CustomerSegment), await _count(db, ReplyExample)
    followups, unsubscribes = await _count(db, FollowUp), await _count(db, Unsubscribe)

    pk = await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, person)
    assert await process_due(db, now=utcnow()) == 1

    key = person.address.lower()
    async with db.read(ALL_STORES) as session:
        for declared in CUSTOMER_ADDRESSES:
            column = declared.attribute()
            values = list((await session.execute(select(column))).scalars())
            assert key not in {(v or "").lower() for v in values}, declared.key
        [mine] = (
            await session.execute(
                select(Unsubscribe).where(Unsubscribe.address == address_hash(key))
            )
        ).scalars()
        assert mine.one_click is True
        waiting = (
            await session.execute(
                select(FollowUp).where(FollowUp.status == FollowUpStatus.SCHEDULED)
            )
        ).scalars()
        addresses = {f.address for f in waiting}
        assert key not in addresses
        assert REZA.address.lower() in addresses
    after = await scan(db, DEFAULT, (MINA,))
    assert mentions(after, person) == set()
    # Reza's rows are as they were; her segment and reply example are gone, the rest stay.
    assert mentions(after, REZA) == reza
    assert await _count(db, CustomerSegment) == segments - 1
    assert await _count(db, ReplyExample) == examples - (person is SARA)
    assert (await _count(db, FollowUp), await _count(db, Unsubscribe)) == (followups, unsubscribes)
    summary = (await get_request(db, pk)).summary
    assert summary is not None
    assert summary["deleted"]["customer_segments"] == 1
    assert summary["stopped"] >= 1
    index = await examples_index(db)
    sqlite = db.dialect == "sqlite"
    assert (SARA.phrase.lower() in index) is (sqlite and person is not SARA)
    assert (REZA.phrase.lower() in index) is sqlite


async def test_an_erased_customer_stays_unsubscribed_and_suppressed(
    db: Database, world: None
) -> None:
    await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    await process_due(db, now=utcnow())

    def check(session: object) -> tuple[bool, Suppression | None, bool]:
        from sqlalchemy.orm import Session

        assert isinstance(session, Session)
        return (
            is_unsubscribed_in(session, DEFAULT, SARA.address.upper()),
            suppression_in(session, DEFAULT, SARA.address),
            is_unsubscribed_in(session, DEFAULT, "someone.else@example.com"),
        )

    unsubscribed, suppressed, other = await db.unit(check, StoreScope.of(DEFAULT))
    assert unsubscribed
    assert suppressed is not None
    assert suppressed.address == address_hash(SARA.address)
    assert not other


def test_every_column_holding_a_customers_address_is_declared() -> None:
    declared = {d.key for d in CUSTOMER_ADDRESSES} | erase.ADDRESS_COLUMNS
    for table in Base.metadata.sorted_tables:
        if "store_id" not in table.c:
            continue
        for column in table.columns:
            named = "email" in column.name or "address" in column.name
            if named and column_kind(column) == "text":
                assert (table.name, column.name) in declared | NOT_A_CUSTOMER, (
                    f"{table.name}.{column.name}: declare it in CUSTOMER_ADDRESSES"
                )
