"""The worker recomputes each store's segments at most every SEGMENTS_REFRESH_HOURS.

The demo shop is the outside world; `now` is controlled, and the last run is read back from
`segment_cuts.computed_at`, so a new worker (a restart) keeps the schedule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.agent.offline import OfflineModel
from app.db.engine import Database
from app.db.models import CustomerSegment
from app.db.scope import ALL_STORES
from app.db.stores import DEFAULT_STORE_ID
from app.jobs.aftersale import AftersaleSweep
from app.jobs.segment_refresh import SegmentRefresh
from app.providers import Providers
from app.store.demo import DemoShop
from app.store.directory import StoreConfig, StoreDirectory
from app.store.models import CustomerPage
from app.store.protocol import ShopError
from app.store.segment_cuts import last_refreshed
from tests.aftersale.test_satisfaction import Recorder
from tests.conftest import SettingsFactory

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class CountingShop(DemoShop):
    """The demo store, counting the customer pages read (or failing, when told to)."""

    def __init__(self) -> None:
        super().__init__(now=NOW)
        self.pages = 0
        self.failing = False

    async def customers_page(self, *, first: int, after: str | None) -> CustomerPage:
        self.pages += 1
        if self.failing:
            raise ShopError("Shopify is not answering")
        return await super().customers_page(first=first, after=after)


def _refresh(
    db: Database, make_settings: SettingsFactory, shop: DemoShop, *, hours: int = 24
) -> SegmentRefresh:
    settings = make_settings()
    directory = StoreDirectory(db, settings)
    providers = Providers(shop=shop, llm=OfflineModel(), mail=Recorder())
    return SegmentRefresh(db=db, providers=providers, secrets=directory.secrets, hours=hours)


async def _segments(db: Database) -> int:
    async with db.read(ALL_STORES) as session:
        return (
            await session.execute(select(func.count()).select_from(CustomerSegment))
        ).scalar_one()


async def _stores(db: Database, make_settings: SettingsFactory) -> list[StoreConfig]:
    return await StoreDirectory(db, make_settings()).all()


async def test_runs_when_due_and_not_again_before_the_interval(
    db: Database, make_settings: SettingsFactory
) -> None:
    shop = CountingShop()
    refresh = _refresh(db, make_settings, shop)
    stores = await _stores(db, make_settings)

    assert await last_refreshed(db, DEFAULT_STORE_ID) is None
    assert await refresh.run(stores, NOW) == [DEFAULT_STORE_ID]
    assert await last_refreshed(db, DEFAULT_STORE_ID) == NOW
    assert await _segments(db) > 0
    pages = shop.pages

    assert await refresh.run(stores, NOW + timedelta(hours=23, minutes=59)) == []
    # A new worker reads the last run from the database.
    again = _refresh(db, make_settings, shop)
    assert await again.run(stores, NOW + timedelta(hours=1)) == []
    assert shop.pages == pages

    later = NOW + timedelta(hours=24)
    assert await again.run(stores, later) == [DEFAULT_STORE_ID]
    assert await last_refreshed(db, DEFAULT_STORE_ID) == later
    assert shop.pages > pages


async def test_the_interval_is_the_setting_and_zero_turns_it_off(
    db: Database, make_settings: SettingsFactory
) -> None:
    assert make_settings().SEGMENTS_REFRESH_HOURS == 24
    stores = await _stores(db, make_settings)
    off = _refresh(db, make_settings, CountingShop(), hours=0)
    assert await off.run(stores, NOW) == []
    assert await last_refreshed(db, DEFAULT_STORE_ID) is None

    hourly = _refresh(db, make_settings, CountingShop(), hours=2)
    assert await hourly.run(stores, NOW) == [DEFAULT_STORE_ID]
    assert await hourly.run(stores, NOW + timedelta(hours=1)) == []
    assert await hourly.run(stores, NOW + timedelta(hours=2)) == [DEFAULT_STORE_ID]


async def test_a_store_not_answering_is_retried_an_hour_later(
    db: Database, make_settings: SettingsFactory
) -> None:
    shop = CountingShop()
    shop.failing = True
    refresh = _refresh(db, make_settings, shop)
    stores = await _stores(db, make_settings)

    assert await refresh.run(stores, NOW) == []
    assert shop.pages == 1
    assert await refresh.run(stores, NOW + timedelta(minutes=59)) == []
    assert shop.pages == 1
    shop.failing = False
    assert await refresh.run(stores, NOW + timedelta(hours=1)) == [DEFAULT_STORE_ID]
    assert await last_refreshed(db, DEFAULT_STORE_ID) == NOW + timedelta(hours=1)


async def test_the_workers_sweep_refreshes_segments_without_follow_ups_configured(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    assert settings.public_url() is None  # No follow-ups: the sweep still reaches segments.
    sweep = AftersaleSweep(
        db=db,
        settings=settings,
        providers=Providers(shop=CountingShop(), llm=OfflineModel(), mail=Recorder()),
        stores=StoreDirectory(db, settings),
    )
    await sweep.run(NOW)
    assert await last_refreshed(db, DEFAULT_STORE_ID) == NOW
    await sweep.run(NOW + timedelta(hours=1))
    assert await last_refreshed(db, DEFAULT_STORE_ID) == NOW
