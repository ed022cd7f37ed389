"""The reports page's after-sale figures, over the same period as the rest of the page.

Resolution-based automation, satisfaction, follow-ups, suggested products and customers per
segment.
Each figure is one SQL aggregate owned by its feature (`app.jobs.resolution`,
`app.jobs.followups`, `app.store.suggestions`, `app.store.segment_cuts`); this only gathers them
for one store into a typed answer the page and the JSON API share.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from app.db.engine import Database
from app.jobs import followups, resolution
from app.store.segment_cuts import segment_table_in
from app.store.suggestions import suggestion_report_in


class Resolution(BaseModel):
    """Sent replies checked after the resolution delay (`RESOLUTION_CHECK_HOURS`)."""

    checked: int
    automated: int
    resolved_automated: int
    rate: float | None
    """Involvement × resolution: automated and not written about again, of those checked."""


class ProductShown(BaseModel):
    """A suggested product: how often it was shown, and its link followed."""

    title: str
    shown: int
    clicked: int
    clicks: int


class SegmentCount(BaseModel):
    """Customers in one LFRM segment."""

    segment: str
    label: str
    meaning: str
    customers: int
    share: float


class AfterSale(BaseModel):
    """What happened after replies were sent, in the period."""

    resolution: Resolution
    ratings: dict[str, int]
    """Ratings given through the satisfaction links: good and not_good."""
    followups_sent: dict[str, int]
    """Proactive emails sent, by kind (checkin, review)."""
    products: list[ProductShown]
    segments: list[SegmentCount]
    """Customers per segment now (segments describe today, not the period)."""


async def after_sale(
    db: Database, *, store_id: int, days: int, today: date | None = None
) -> AfterSale:
    """The after-sale figures of store `store_id` for the last `days` days (today included)."""
    last = today or datetime.now(UTC).date()
    since = datetime.combine(last - timedelta(days=days - 1), time(), tzinfo=UTC)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    async with db.read() as session:
        rate = await resolution.automation_rate(session, since=since, until=until)
        ratings = await resolution.satisfaction(session, since=since, until=until)
        sent = await followups.sent_count(session, since=since, until=until)
        products = await session.run_sync(lambda s: suggestion_report_in(s, store_id, since=since))
        segments = await session.run_sync(lambda s: segment_table_in(s, store_id))
    return AfterSale(
        resolution=Resolution(
            checked=rate.checked,
            automated=rate.automated,
            resolved_automated=rate.resolved_automated,
            rate=rate.rate,
        ),
        ratings=ratings,
        followups_sent=sent,
        products=[
            ProductShown(title=p.title, shown=p.shown, clicked=p.clicked, clicks=p.clicks)
            for p in products
        ],
        segments=[
            SegmentCount(
                segment=str(row.segment),
                label=row.label,
                meaning=row.meaning,
                customers=row.customers,
                share=row.share,
            )
            for row in segments
        ],
    )
