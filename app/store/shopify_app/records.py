"""What an install and Shopify's webhooks write: the store row, privacy requests, the audit.

The stores table is deployment-wide (a store is not a row *of* a store), so installs write it
under `ALL_STORES`; everything that belongs to one store (its privacy requests and audit
entries) is written through `db.for_store(store.id)`, which stamps and checks the store id.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import AuditEntry
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyTopic, StoreStatus
from app.db.stores import PrivacyRequest, ShopifyWebhook, Store

AUDIT_ACTOR = "shopify"
"""Who the audit log names for what Shopify did (installs, uninstalls, privacy requests)."""
SHOP_REDACT_DELAY = timedelta(hours=48)
"""Shopify sends `shop/redact` 48 hours after an uninstall; it is never carried out sooner."""
PERSONAL_KEYS = frozenset({"email", "phone"})
"""Payload keys left out of the stored privacy request: only the hash names the customer."""


@dataclass(frozen=True, slots=True)
class Installed:
    """The store an install created or re-activated."""

    store_id: int
    slug: str
    reinstall: bool


def slug_for(shop: str) -> str:
    """A URL-safe short name from `name.myshopify.com` (`name`)."""
    base = re.sub(r"[^a-z0-9-]+", "-", shop.split(".", 1)[0].lower()).strip("-")
    return (base or "store")[:56]


async def _free_slug(session: AsyncSession, wanted: str) -> str:
    taken = set(
        (await session.execute(select(Store.slug).where(Store.slug.startswith(wanted))))
        .scalars()
        .all()
    )
    if wanted not in taken:
        return wanted
    number = 2
    while f"{wanted}-{number}" in taken:
        number += 1
    return f"{wanted}-{number}"


async def save_install(
    db: Database,
    *,
    shop: str,
    name: str | None,
    scopes: frozenset[str],
    sealed_credentials: bytes,
) -> Installed:
    """Create the store for `shop`, or re-activate it (its history is kept), with its new token."""
    now = utcnow()
    async with db.write(ALL_STORES) as session:
        store = (
            await session.execute(select(Store).where(Store.shop_domain == shop).with_for_update())
        ).scalar_one_or_none()
        reinstall = store is not None
        if store is None:
            store = Store(
                slug=await _free_slug(session, slug_for(shop)),
                shop_domain=shop,
                name=name or shop.split(".", 1)[0],
                # Replies need a From address staff choose: until then the store's mail routes
                # nowhere (it is quarantined), which is the safe start.
                support_email="",
                support_addresses=[],
                store_url=f"https://{shop}",
            )
            session.add(store)
        elif name:
            store.name = name
        store.status = StoreStatus.ACTIVE
        store.installed_at = now
        store.uninstalled_at = None
        store.scopes = ",".join(sorted(scopes))
        store.credentials = sealed_credentials
        await session.flush()
        session.add(
            AuditEntry(
                store_id=store.id,
                staff_email=AUDIT_ACTOR,
                action="store.reinstalled" if reinstall else "store.installed",
                target_type="store",
                target_id=store.id,
                detail={"shop_domain": shop, "scopes": sorted(scopes)},
            )
        )
        return Installed(store_id=store.id, slug=store.slug, reinstall=reinstall)


async def find_store(db: Database, shop: str) -> Store | None:
    """The store installed on `shop`, whatever its status."""
    async with db.read(ALL_STORES) as session:
        return (
            await session.execute(select(Store).where(Store.shop_domain == shop))
        ).scalar_one_or_none()


async def seen(session: AsyncSession, webhook_id: str) -> bool:
    """Whether this webhook delivery was handled already (a retry or a replay)."""
    found = await session.execute(
        select(ShopifyWebhook.id).where(ShopifyWebhook.webhook_id == webhook_id)
    )
    return found.first() is not None


def record_delivery(session: AsyncSession, *, webhook_id: str, topic: str, shop: str) -> None:
    """Remember a handled delivery; its unique id makes a concurrent duplicate fail the commit."""
    session.add(ShopifyWebhook(webhook_id=webhook_id, topic=topic[:64], shop_domain=shop))


async def uninstall(session: AsyncSession, *, store_id: int, triggered_at: datetime | None) -> str:
    """Stop the store: status `uninstalled`, token wiped, history kept. Returns what happened.

    A delivery triggered before the store's latest install is stale (Shopify retries with the
    original payload for hours): acting on it would uninstall the reinstalled store.
    """
    store = await session.get(Store, store_id, with_for_update=True)
    if store is None:
        return "unknown store"
    if triggered_at is not None and store.installed_at is not None:
        if triggered_at < store.installed_at:
            return "stale: the store was installed again after this uninstall"
    if store.status in (StoreStatus.UNINSTALLED, StoreStatus.REDACTED):
        return f"already {store.status.value}"
    store.status = StoreStatus.UNINSTALLED
    store.uninstalled_at = utcnow()
    store.credentials = None
    store.scopes = ""
    session.add(
        AuditEntry(
            store_id=store.id,
            staff_email=AUDIT_ACTOR,
            action="store.uninstalled",
            target_type="store",
            target_id=store.id,
            detail={"shop_domain": store.shop_domain},
        )
    )
    return "uninstalled"


def email_hash(address: str) -> str:
    """How a privacy request names the customer: SHA-256 of the lower-cased address."""
    return hashlib.sha256(address.strip().lower().encode("utf-8")).hexdigest()


def without_personal_data(value: Any) -> Any:
    """The payload with every `email` and `phone` left out, at any depth."""
    if isinstance(value, dict):
        return {
            key: without_personal_data(item)
            for key, item in value.items()
            if key not in PERSONAL_KEYS
        }
    if isinstance(value, list):
        return [without_personal_data(item) for item in value]
    return value


async def add_privacy_request(
    session: AsyncSession,
    *,
    store: Store,
    topic: PrivacyTopic,
    webhook_id: str,
    payload: dict[str, Any],
) -> PrivacyRequest:
    """Record one privacy webhook for the privacy worker (`app.privacy`) to carry out.

    It is due now, except `shop/redact`: never sooner than 48 hours after the uninstall.
    """
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    assert isinstance(customer, dict)
    address = customer.get("email")
    customer_id = customer.get("id")
    now = utcnow()
    due_at = now
    if topic is PrivacyTopic.SHOP_REDACT and store.uninstalled_at is not None:
        due_at = max(now, store.uninstalled_at + SHOP_REDACT_DELAY)
    request = PrivacyRequest(
        store_id=store.id,
        topic=topic,
        webhook_id=webhook_id,
        shopify_customer_id=str(customer_id)[:64] if customer_id is not None else None,
        customer_email_hash=email_hash(address) if isinstance(address, str) and address else None,
        request=without_personal_data(payload),
        received_at=now,
        due_at=due_at,
    )
    session.add(request)
    await session.flush()
    session.add(
        AuditEntry(
            store_id=store.id,
            staff_email=AUDIT_ACTOR,
            action="privacy.requested",
            target_type="privacy_request",
            target_id=request.id,
            detail={"topic": topic.value, "due_at": due_at.isoformat()},
        )
    )
    return request
