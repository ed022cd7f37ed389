"""Each store's LFRM boundaries and its customers' segments, kept in the database.

Computed over the store's own customers (tables `segment_cuts`, `customer_segments`).

`refresh_segments` reads every customer a page at a time, pausing between pages so a large
store's reads never crowd out the support questions' reads, then replaces the store's rows in
one unit of work. The worker runs it every SEGMENTS_REFRESH_HOURS (`app.jobs.segment_refresh`),
the command line on demand;
until it has run, `DEFAULT_CUTS` score customers. The rule itself is `app.store.segments`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import CustomerSegment, SegmentCuts
from app.db.scope import StoreScope
from app.store.models import Customer
from app.store.protocol import ShopInsights
from app.store.segments import (
    DEFAULT_CUTS,
    RULES,
    Cuts,
    Placement,
    Segment,
    StoreCuts,
    label,
    lfrm_of,
    place,
    store_cuts,
)

PAGE_SIZE = 100
PAUSE_SECONDS = 0.5
MAX_CUSTOMERS = 50_000
_MEASURES = ("length", "frequency", "recency", "monetary")


async def refresh_segments(
    db: Database,
    store_id: int,
    shop: ShopInsights,
    *,
    now: datetime,
    page_size: int = PAGE_SIZE,
    pause_seconds: float = PAUSE_SECONDS,
    max_customers: int = MAX_CUSTOMERS,
) -> StoreCuts:
    """Compute the store's boundaries from all its customers and store them with each segment."""
    customers: list[Customer] = []
    after: str | None = None
    while len(customers) < max_customers:
        page = await shop.customers_page(first=page_size, after=after)
        customers += [c for c in page.customers if c.email]
        after = page.next_cursor
        if after is None:
            break
        await asyncio.sleep(pause_seconds)
    measures = [lfrm_of(c, now=now) for c in customers]
    cuts = store_cuts(measures)
    placed = {
        c.email.strip().lower(): place(m, cuts) for c, m in zip(customers, measures, strict=True)
    }
    await db.unit(lambda s: _replace_in(s, store_id, cuts, placed, now), StoreScope.of(store_id))
    return cuts


def _replace_in(
    session: Session,
    store_id: int,
    cuts: StoreCuts,
    placed: dict[str, Placement],
    now: datetime,
) -> None:
    stored = {name: [str(v) for v in getattr(cuts, name)] for name in _MEASURES}
    row = session.scalars(select(SegmentCuts).where(SegmentCuts.store_id == store_id)).first()
    if row is None:
        row = SegmentCuts(store_id=store_id, cuts=stored, customers=cuts.customers)
        session.add(row)
    row.cuts, row.customers, row.computed_at = stored, cuts.customers, now
    session.execute(delete(CustomerSegment).where(CustomerSegment.store_id == store_id))
    session.add_all(
        CustomerSegment(
            store_id=store_id,
            email=email,
            segment=p.segment.value,
            priority=p.priority,
            meaning=p.meaning[:200],
            computed_at=now,
        )
        for email, p in placed.items()
    )


def _cuts(values: Any) -> Cuts:
    a, b, c, d = (Decimal(str(v)) for v in values)
    return (a, b, c, d)


def cuts_in(session: Session, store_id: int) -> StoreCuts:
    """The store's boundaries (`DEFAULT_CUTS` until they have been computed): one row read."""
    row = session.scalars(select(SegmentCuts).where(SegmentCuts.store_id == store_id)).first()
    if row is None:
        return DEFAULT_CUTS
    return StoreCuts(
        length=_cuts(row.cuts["length"]),
        frequency=_cuts(row.cuts["frequency"]),
        recency=_cuts(row.cuts["recency"]),
        monetary=_cuts(row.cuts["monetary"]),
        customers=row.customers,
    )


async def last_refreshed(db: Database, store_id: int) -> datetime | None:
    """When the store's segments were last computed (None: never)."""
    statement = select(SegmentCuts.computed_at).where(SegmentCuts.store_id == store_id)
    return await db.unit(lambda s: s.scalars(statement).first(), StoreScope.of(store_id))


async def load_cuts(db: Database, store_id: int) -> StoreCuts:
    """`cuts_in` as its own unit of work."""
    return await db.unit(lambda s: cuts_in(s, store_id), StoreScope.of(store_id))


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """One line of the reports page's segments table."""

    segment: Segment
    label: str
    meaning: str
    customers: int
    share: float
    """The segment's fraction of the store's customers (0 when there are none)."""


def segment_table_in(session: Session, store_id: int) -> list[SegmentRow]:
    """Customers per segment, every segment in the rule's order (zeros included)."""
    counts = dict(
        session.execute(
            select(CustomerSegment.segment, func.count())
            .where(CustomerSegment.store_id == store_id)
            .group_by(CustomerSegment.segment)
        ).all()
    )
    total = sum(counts.values())
    meanings: dict[Segment, str] = {}
    for rule in RULES:
        meanings[rule.segment] = "; ".join(filter(None, [meanings.get(rule.segment), rule.meaning]))
    return [
        SegmentRow(
            segment=segment,
            label=label(segment),
            meaning=meanings[segment],
            customers=int(counts.get(segment.value, 0)),
            share=int(counts.get(segment.value, 0)) / total if total else 0.0,
        )
        for segment in dict.fromkeys(rule.segment for rule in RULES)
    ]


async def segment_table(db: Database, store_id: int) -> list[SegmentRow]:
    """`segment_table_in` as its own unit of work, for the reports page."""
    return await db.unit(lambda s: segment_table_in(s, store_id), StoreScope.of(store_id))


def sender_priority(store_id: Any, address: Any) -> ColumnElement[int]:
    """A SQL expression: the priority of the customer writing from `address` (1 if unknown).

    For the needs-action view's ordering, e.g.
    `select(Message).order_by(sender_priority(Message.store_id, Message.from_address).desc())`.
    """
    found = (
        select(CustomerSegment.priority)
        .where(CustomerSegment.store_id == store_id)
        .where(CustomerSegment.email == func.lower(address))
        .scalar_subquery()
    )
    return func.coalesce(found, 1)
