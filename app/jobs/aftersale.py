"""The worker's after-sale sweep: resolution checks, follow-up scans and sends, segments.

It runs beside the claim loop every AFTERSALE_EVERY_SECONDS (like the privacy requests): each
pass schedules and decides resolution checks, reads each store's recently delivered orders at
most every FOLLOWUP_SCAN_MINUTES (the Shopify client paces its own calls), and sends the
follow-ups that are due, then recomputes the segments of stores whose segments are
SEGMENTS_REFRESH_HOURS old (`segment_refresh`). Each part fails on its own: a store that is not
answering is logged and tried at the next scan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.config import Settings
from app.db.engine import Database
from app.db.scope import ALL_STORES
from app.jobs import followups, resolution
from app.jobs.segment_refresh import SegmentRefresh
from app.providers import NoShop, Providers
from app.replies.links import LinkMaker
from app.store.directory import StoreConfig, StoreDirectory
from app.store.protocol import ShopError

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class AftersaleSweep:
    """One worker's sweep, remembering when it last scanned each store."""

    db: Database
    settings: Settings
    providers: Providers
    stores: StoreDirectory
    scanned: dict[int, datetime] = field(default_factory=dict)
    segments: SegmentRefresh = field(init=False)

    def __post_init__(self) -> None:
        self.segments = SegmentRefresh(
            db=self.db,
            providers=self.providers,
            secrets=self.stores.secrets,
            hours=self.settings.SEGMENTS_REFRESH_HOURS,
        )

    async def run(self, now: datetime) -> None:
        """One pass: resolution checks, scans that are due, due follow-ups, due segments."""
        hours = self.settings.RESOLUTION_CHECK_HOURS
        await self.db.unit(
            lambda session: resolution.schedule_checks_in(session, hours=hours, now=now),
            ALL_STORES,
        )
        await self.db.unit(lambda session: resolution.decide_due_in(session, now=now), ALL_STORES)
        configs = {store.id: store for store in await self.stores.all()}
        await self._followups(configs, now)
        await self.segments.run(configs.values(), now)

    async def _followups(self, configs: dict[int, StoreConfig], now: datetime) -> None:
        secret, origin = self.settings.link_secret(), self.settings.public_url()
        if secret is None or origin is None:
            return  # A follow-up cannot be sent without its unsubscribe link.
        every = timedelta(minutes=self.settings.FOLLOWUP_SCAN_MINUTES)
        for store in configs.values():
            last = self.scanned.get(store.id)
            if last is not None and now - last < every:
                continue
            self.scanned[store.id] = now
            try:
                shop = await self.providers.shop_for(store, self.stores.secrets)
                await followups.scan_store(self.db, store, shop, settings=self.settings, now=now)
            except (NoShop, ShopError) as exc:
                logger.warning(
                    "follow-up scan failed", extra={"store_id": store.id, "error": str(exc)}
                )
        await followups.send_due(
            self.db,
            configs,
            self.providers.mail,
            links=LinkMaker(origin=origin, secret=secret),
            settings=self.settings,
            now=now,
        )
