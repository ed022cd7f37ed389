"""Each store's settings as the pipeline and the admin use them, and mail routing by recipient.

The default store (`DEFAULT_STORE_ID`) takes its settings from the environment, exactly as a
single-store deployment always did; every other store's come from its `stores` row. Settings are
cached per process for `STORE_CACHE_SECONDS`, so a change made by the CLI or the admin reaches
every worker within that time (at once in the process that made it: `invalidate()`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db.engine import Database
from app.db.statuses import StoreStatus
from app.db.stores import DEFAULT_STORE_ID, Store
from app.store.secrets import SecretBox


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    """One store's settings (never its secrets: those stay sealed until used)."""

    id: int
    slug: str
    name: str
    status: StoreStatus
    shop_domain: str | None
    support_email: str
    support_addresses: frozenset[str]
    """Every address whose mail is this store's, lower case, the support address included."""
    store_url: str | None
    signature: str
    locale: str
    timezone: str
    branding: dict[str, Any] = field(default_factory=dict)
    auto_send_intents: frozenset[str] = frozenset()
    auto_send_min_confidence: float = 0.8
    shadow_mode: bool = False
    autonomy: dict[str, Any] = field(default_factory=dict)
    sealed_credentials: bytes | None = field(default=None, repr=False)
    from_environment: bool = False
    """The default store: its settings and Shopify credentials come from the environment."""

    @property
    def active(self) -> bool:
        """Whether its mail is handled at all (disabled and uninstalled stores get none)."""
        return self.status is StoreStatus.ACTIVE

    @property
    def store_hosts(self) -> frozenset[str]:
        """Hosts a reply may link to besides tracking pages: the store's own."""
        hosts = set()
        if self.store_url and "://" in self.store_url:
            hosts.add(self.store_url.split("://", 1)[1].split("/", 1)[0].lower())
        if self.shop_domain:
            hosts.add(self.shop_domain.lower())
        return frozenset(hosts)


def default_store_config(settings: Settings, row: Store | None = None) -> StoreConfig:
    """The default store: the environment's settings (its row adds only status and slug)."""
    addresses = {settings.SUPPORT_FROM_EMAIL.lower(), *settings.SUPPORT_ADDRESSES}
    return StoreConfig(
        id=DEFAULT_STORE_ID,
        slug=row.slug if row is not None else "default",
        name=settings.STORE_NAME,
        status=row.status if row is not None else StoreStatus.ACTIVE,
        shop_domain=(settings.SHOPIFY_SHOP_DOMAIN or "").strip().lower() or None,
        support_email=settings.SUPPORT_FROM_EMAIL,
        support_addresses=frozenset(addresses),
        store_url=settings.STORE_URL,
        signature=settings.REPLY_SIGNATURE,
        locale="en",
        timezone="UTC",
        auto_send_intents=frozenset(intent.value for intent in settings.AUTO_SEND_INTENTS),
        auto_send_min_confidence=settings.AUTO_SEND_MIN_CONFIDENCE,
        shadow_mode=settings.SHADOW_MODE,
        from_environment=True,
    )


def store_config(row: Store, settings: Settings) -> StoreConfig:
    """A store's settings from its row (the default store's from the environment)."""
    if row.id == DEFAULT_STORE_ID:
        return default_store_config(settings, row)
    return StoreConfig(
        id=row.id,
        slug=row.slug,
        name=row.name,
        status=row.status,
        shop_domain=row.shop_domain,
        support_email=row.support_email,
        support_addresses=frozenset(
            a.lower() for a in [row.support_email, *(row.support_addresses or [])] if a
        ),
        store_url=row.store_url,
        signature=row.signature,
        locale=row.locale,
        timezone=row.timezone,
        branding=dict(row.branding or {}),
        auto_send_intents=frozenset(row.auto_send_intents or []),
        auto_send_min_confidence=row.auto_send_min_confidence,
        shadow_mode=row.shadow_mode,
        autonomy=dict(row.autonomy or {}),
        sealed_credentials=row.credentials,
    )


class StoreDirectory:
    """Every store's settings, read from the database and cached for `STORE_CACHE_SECONDS`."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self.secrets = SecretBox.from_setting(settings.STORE_SECRET_KEYS)
        self._stores: dict[int, StoreConfig] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        """Read the stores again on next use (after this process changed one)."""
        self._loaded_at = float("-inf")

    async def all(self) -> list[StoreConfig]:
        """Every store, by id."""
        await self._refresh()
        return [self._stores[key] for key in sorted(self._stores)]

    async def get(self, store_id: int) -> StoreConfig | None:
        """One store's settings, or None if there is no such store."""
        await self._refresh()
        found = self._stores.get(store_id)
        if found is None:
            # A store added by another process since the last read.
            self.invalidate()
            await self._refresh()
            found = self._stores.get(store_id)
        return found

    async def by_shop_domain(self, shop_domain: str) -> StoreConfig | None:
        """The store installed on `name.myshopify.com`, if any."""
        wanted = shop_domain.strip().lower()
        for store in await self.all():
            if store.shop_domain == wanted:
                return store
        return None

    async def route(self, recipients: Iterable[str]) -> StoreConfig | None:
        """The store whose mail this is, from the addresses it was sent to.

        One store's address among the recipients decides. A deployment with only the default
        store keeps answering whatever reaches it, as a single-store deployment always did; with
        several stores, mail to none of their addresses has no store (it is quarantined).
        """
        stores = await self.all()
        wanted = [address.strip().lower() for address in recipients if address]
        for address in wanted:
            for store in stores:
                if address in store.support_addresses:
                    return store
        if len(stores) == 1 and stores[0].id == DEFAULT_STORE_ID:
            return stores[0]
        return None

    async def _refresh(self) -> None:
        ttl = self._settings.STORE_CACHE_SECONDS
        if time.monotonic() - self._loaded_at < ttl and self._stores:
            return
        async with self._lock:
            if time.monotonic() - self._loaded_at < ttl and self._stores:
                return
            async with self._db.read() as session:
                rows = (await session.execute(select(Store).order_by(Store.id))).scalars().all()
            stores = {row.id: store_config(row, self._settings) for row in rows}
            if DEFAULT_STORE_ID not in stores:
                stores[DEFAULT_STORE_ID] = default_store_config(self._settings)
            self._stores = stores
            self._loaded_at = time.monotonic()
