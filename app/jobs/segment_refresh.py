"""The worker's segment refresh: each store's LFRM segments, recomputed when they are due.

Part of the after-sale sweep (`app.jobs.aftersale`). A store is due when its segments were
never computed or were computed SEGMENTS_REFRESH_HOURS ago or more; the time is
`segment_cuts.computed_at`, so a restarted worker (or a second one) does not repeat a refresh.
A store whose shop cannot be read is logged and tried again no sooner than `RETRY_AFTER`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.db.engine import Database
from app.providers import NoShop, Providers
from app.store.directory import StoreConfig
from app.store.protocol import ShopError, ShopInsights
from app.store.secrets import SecretBox
from app.store.segment_cuts import last_refreshed, refresh_segments

logger = logging.getLogger(__name__)

RETRY_AFTER = timedelta(hours=1)
"""How long a store whose refresh failed waits (at most the interval itself)."""


@dataclass(kw_only=True)
class SegmentRefresh:
    """One worker's refresh schedule, remembering failed attempts (successes are in the DB)."""

    db: Database
    providers: Providers
    secrets: SecretBox
    hours: int
    failed: dict[int, datetime] = field(default_factory=dict)

    async def run(self, stores: Iterable[StoreConfig], now: datetime) -> list[int]:
        """Refresh every store that is due; the ids of those refreshed."""
        if self.hours <= 0:
            return []
        every = timedelta(hours=self.hours)
        done: list[int] = []
        for store in stores:
            last = await last_refreshed(self.db, store.id)
            if last is not None and now - last < every:
                continue
            failed = self.failed.get(store.id)
            if failed is not None and now - failed < min(every, RETRY_AFTER):
                continue
            try:
                shop = await self.providers.shop_for(store, self.secrets)
                if not isinstance(shop, ShopInsights):
                    raise NoShop(f"store {store.slug}: its shop cannot list customers")
                cuts = await refresh_segments(self.db, store.id, shop, now=now)
            except (NoShop, ShopError) as exc:
                self.failed[store.id] = now
                logger.warning(
                    "segment refresh failed", extra={"store_id": store.id, "error": str(exc)}
                )
                continue
            self.failed.pop(store.id, None)
            done.append(store.id)
            logger.info(
                "segments refreshed", extra={"store_id": store.id, "customers": cuts.customers}
            )
        return done
