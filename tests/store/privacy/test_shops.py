"""`shop/redact`: a store's data is erased 48 hours after its uninstall, and only its data."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import PrivacyRequest, StaffUser, Store, StoreMembership
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyStatus, PrivacyTopic, StoreRole, StoreStatus
from app.store.privacy.runner import process_due
from tests.store.privacy.world import (
    DEFAULT,
    REZA,
    SARA,
    add_example,
    add_request,
    add_rows,
    add_second_store,
    examples_index,
    get_request,
    mentions,
    row_counts,
    scan,
)


async def store_row(db: Database, store_id: int) -> Store:
    async with db.read(ALL_STORES) as session:
        store = await session.get(Store, store_id)
        assert store is not None
        return store


async def test_a_store_uninstalled_48_hours_ago_is_erased_and_no_other(db: Database) -> None:
    now = utcnow() + timedelta(minutes=1)  # Past every due time set below.
    second = await add_second_store(db, uninstalled_at=now - timedelta(hours=49))
    await add_rows(db, second, SARA)
    await add_rows(db, second, REZA)
    await add_rows(db, DEFAULT, SARA)
    await add_example(db, second, REZA)
    await add_example(db, DEFAULT, SARA)
    async with db.write(ALL_STORES) as session:
        owner = StaffUser(email="owner@second.test", password_hash="-")
        session.add(owner)
        await session.flush()
        session.add(StoreMembership(staff_id=owner.id, store_id=second, role=StoreRole.OWNER))
    export = await add_request(db, second, PrivacyTopic.DATA_REQUEST, SARA)
    assert await process_due(db, now=now) == 1
    default_before = await scan(db, DEFAULT)
    counts = await row_counts(db)

    pk = await add_request(db, second, PrivacyTopic.SHOP_REDACT)
    assert await process_due(db, now=now) == 1

    left = await row_counts(db)
    # Of the second store: the privacy requests (records) and the shop/redact audit entry.
    assert {table for (table, store) in left if store == second} == {
        "privacy_requests",
        "audit_log",
    }
    assert left[("audit_log", second)] == 1
    assert {key: n for key, n in left.items() if key[1] != second} == {
        key: n for key, n in counts.items() if key[1] != second
    }
    assert mentions(await scan(db, second), SARA) == set()
    assert mentions(await scan(db, second), REZA) == set()
    # SQLite's full-text copy of the store's reply examples goes with them; the other store's stays.
    index = await examples_index(db)
    assert REZA.phrase.lower() not in index
    assert (SARA.phrase.lower() in index) is (db.dialect == "sqlite")
    assert await scan(db, DEFAULT) == default_before
    store = await store_row(db, second)
    assert store.status is StoreStatus.REDACTED
    assert store.redacted_at == now
    assert store.credentials is None
    assert store.policies_cache is None
    async with db.read(ALL_STORES) as session:
        members = (await session.execute(select(StoreMembership))).scalars().all()
        requests = (
            await session.execute(select(PrivacyRequest).where(PrivacyRequest.store_id == second))
        ).scalars()
        stripped = [(r.request, r.customer_email_hash, r.shopify_customer_id) for r in requests]
    assert members == []
    assert stripped == [({}, None, None), ({}, None, None)]
    assert (await get_request(db, export)).export is None
    request = await get_request(db, pk)
    assert request.status is PrivacyStatus.DONE
    assert request.summary is not None
    assert request.summary["deleted"]["messages"] == 2
    assert request.summary["deleted"]["store_memberships"] == 1

    # A repeated shop/redact finds the store already erased.
    again = await add_request(db, second, PrivacyTopic.SHOP_REDACT)
    assert await process_due(db, now=now) == 1
    assert (await get_request(db, again)).summary == {"deleted": {}, "already_redacted": True}


async def test_a_store_uninstalled_less_than_48_hours_ago_waits(db: Database) -> None:
    now = utcnow() + timedelta(minutes=1)  # Past every due time set below.
    uninstalled = now - timedelta(hours=47)
    second = await add_second_store(db, uninstalled_at=uninstalled)
    await add_rows(db, second, SARA)
    counts = await row_counts(db)
    pk = await add_request(db, second, PrivacyTopic.SHOP_REDACT)

    assert await process_due(db, now=now) == 0
    request = await get_request(db, pk)
    assert request.status is PrivacyStatus.PENDING
    assert request.last_error == "waiting until 48 hours after the uninstall"
    assert request.due_at == uninstalled + timedelta(hours=48)
    counts[("privacy_requests", second)] += 1
    assert await row_counts(db) == counts
    assert (await store_row(db, second)).credentials == b"sealed-credentials"

    # Due at last: carried out.
    assert await process_due(db, now=uninstalled + timedelta(hours=48)) == 1
    assert (await store_row(db, second)).status is StoreStatus.REDACTED


async def test_an_installed_store_is_never_erased(db: Database) -> None:
    now = utcnow() + timedelta(minutes=1)  # Past every due time set below.
    second = await add_second_store(db)
    await add_rows(db, second, SARA)
    pk = await add_request(db, second, PrivacyTopic.SHOP_REDACT)

    assert await process_due(db, now=now) == 0
    request = await get_request(db, pk)
    assert request.status is PrivacyStatus.PENDING
    assert request.last_error == "the store is active, not uninstalled: its data is kept"
    assert request.due_at > now
    assert mentions(await scan(db, second), SARA)
    assert (await store_row(db, second)).status is StoreStatus.ACTIVE
