"""The store's LFRM boundaries and its customers' segments, computed over all its customers a
page at a time and kept in the database (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import CustomerSegment, Store
from app.db.scope import ALL_STORES, StoreScope
from app.db.stores import DEFAULT_STORE_ID
from app.store.models import Basket, Customer, CustomerPage, Money, Product
from app.store.segment_cuts import (
    load_cuts,
    refresh_segments,
    segment_table,
    sender_priority,
)
from app.store.segments import DEFAULT_CUTS, Segment, priority

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def customer(k: int, *, orders: int | None = None) -> Customer:
    """Customer k of 20: k days since the last order, k orders, 10*k spent, first order k days
    before the last (so every measure's fifths hold four customers each)."""
    count = k if orders is None else orders
    return Customer(
        id=f"gid://shopify/Customer/{k}",
        name=f"Customer {k}",
        email=f"Customer{k}@Example.com",
        orders_count=count,
        amount_spent=Money(amount=Decimal(10 * k if count else 0), currency="EUR"),
        created_at=NOW - timedelta(days=3 * k + 5),
        first_order_at=NOW - timedelta(days=2 * k) if count else None,
        last_order_at=NOW - timedelta(days=k) if count else None,
    )


class PagedStore:
    """The outside world's customers, served a page at a time; it records each page asked."""

    def __init__(self, customers: list[Customer]) -> None:
        self.customers = customers
        self.pages: list[str | None] = []

    async def customers_page(self, *, first: int, after: str | None) -> CustomerPage:
        self.pages.append(after)
        start = int(after or 0)
        end = start + first
        return CustomerPage(
            customers=tuple(self.customers[start:end]),
            next_cursor=str(end) if end < len(self.customers) else None,
        )

    async def recent_baskets(self, *, first: int) -> list[Basket]:
        return []

    async def catalogue(self, *, first: int) -> list[Product]:
        return []


async def test_cut_points_and_segments_are_stored_per_store(db: Database) -> None:
    store = PagedStore([customer(k) for k in range(1, 21)] + [customer(99, orders=0)])
    assert await load_cuts(db, DEFAULT_STORE_ID) == DEFAULT_CUTS  # not computed yet
    cuts = await refresh_segments(
        db, DEFAULT_STORE_ID, store, now=NOW, page_size=8, pause_seconds=0
    )
    assert store.pages == [None, "8", "16"]  # every customer, a page at a time
    assert cuts.customers == 20
    assert cuts.recency == tuple(Decimal(v) for v in (4, 8, 12, 16))
    assert cuts.frequency == tuple(Decimal(v) for v in (4, 8, 12, 16))
    assert cuts.monetary == tuple(Decimal(v) for v in (40, 80, 120, 160))
    assert await load_cuts(db, DEFAULT_STORE_ID) == cuts  # read back from one row

    async with db.read(StoreScope.of(DEFAULT_STORE_ID)) as session:
        rows = {r.email: r for r in (await session.scalars(select(CustomerSegment))).all()}
    assert len(rows) == 21
    # Customer 1 ordered a day ago, once: new. Customer 20 ordered most and spent most, but
    # longest ago: lost. Customers 13-16 ordered often and much, in the second-oldest fifth.
    assert rows["customer1@example.com"].segment == Segment.NEW.value
    assert rows["customer99@example.com"].segment == Segment.NEW.value
    assert rows["customer99@example.com"].meaning == "new: no order yet"
    assert rows["customer20@example.com"].segment == Segment.LOST.value
    assert rows["customer14@example.com"].segment == Segment.AT_RISK.value
    assert rows["customer14@example.com"].priority == priority(Segment.AT_RISK)
    assert rows["customer10@example.com"].segment == Segment.NEEDS_ATTENTION.value

    table = {row.segment: row for row in await segment_table(db, DEFAULT_STORE_ID)}
    assert list(table)[0] is Segment.NEW
    assert sum(row.customers for row in table.values()) == 21
    assert table[Segment.AT_RISK].customers == 4  # customers 13-16
    assert table[Segment.LOST].customers == 4  # customers 17-20
    assert table[Segment.CHAMPIONS].customers == 0
    assert abs(sum(row.share for row in table.values()) - 1) < 1e-9


async def test_a_refresh_replaces_the_stores_rows_and_leaves_other_stores_alone(
    db: Database,
) -> None:
    async with db.write(ALL_STORES) as session:
        other = Store(slug="other", name="Other", support_email="support@other.test")
        session.add(other)
        await session.flush()
        other_id = other.id
    await refresh_segments(db, other_id, PagedStore([customer(3)]), now=NOW, pause_seconds=0)
    await refresh_segments(
        db, DEFAULT_STORE_ID, PagedStore([customer(1), customer(2)]), now=NOW, pause_seconds=0
    )
    await refresh_segments(
        db, DEFAULT_STORE_ID, PagedStore([customer(5)]), now=NOW, pause_seconds=0
    )
    mine = await segment_table(db, DEFAULT_STORE_ID)
    theirs = await segment_table(db, other_id)
    assert sum(r.customers for r in mine) == 1
    assert sum(r.customers for r in theirs) == 1


async def test_sender_priority_orders_in_sql(db: Database) -> None:
    await refresh_segments(
        db,
        DEFAULT_STORE_ID,
        PagedStore([customer(k) for k in range(1, 21)]),
        now=NOW,
        pause_seconds=0,
    )
    async with db.read(StoreScope.of(DEFAULT_STORE_ID)) as session:
        found = {}
        for address in ("Customer14@example.com", "customer20@example.com", "nobody@x.test"):
            found[address] = await session.scalar(
                select(sender_priority(DEFAULT_STORE_ID, address))
            )
    assert found == {
        "Customer14@example.com": priority(Segment.AT_RISK),
        "customer20@example.com": priority(Segment.LOST),
        "nobody@x.test": 1,
    }
