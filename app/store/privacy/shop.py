"""`shop/redact`: erase a store's data once it has been uninstalled for 48 hours.

Every row of every store-scoped table that belongs to the store is deleted (raw deliveries,
conversations, replies, traces, jobs, audit entries...), children before parents, as are the
staff memberships of the store and, on SQLite, the full-text copy of its reply examples. Its
privacy requests stay as records of what was done, with their exports, payloads and customer
references cleared: only topics, statuses, dates and counts remain. The store row stays too,
without credentials or cached policies, with status `redacted`, so the shop is known to have
been erased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Base, PrivacyRequest, ReplyExample, Store, StoreMembership
from app.db.scope import scoped_tables
from app.db.statuses import StoreStatus
from app.store.privacy.erase import drop_from_examples_index
from app.store.privacy.footprint import table_of

SHOP_REDACT_DELAY = timedelta(hours=48)
"""How long after an uninstall a shop's data is kept (Shopify sends `shop/redact` then)."""
RECHECK_AFTER = timedelta(hours=1)
"""When a request for an installed store is looked at again."""


@dataclass(frozen=True, slots=True)
class NotYet:
    """A request that cannot be carried out yet: why, and when to look again."""

    reason: str
    retry_at: datetime


async def redact_shop(
    session: AsyncSession, request: PrivacyRequest, *, now: datetime
) -> dict[str, Any] | NotYet:
    """Erase the request's store if it is uninstalled and 48 h have passed; counts only."""
    store = await session.get(Store, request.store_id, with_for_update=True)
    if store is None:
        raise LookupError(f"store {request.store_id} does not exist")
    if store.status is StoreStatus.REDACTED:
        return {"deleted": {}, "already_redacted": True}
    if store.status is not StoreStatus.UNINSTALLED:
        return NotYet(
            f"the store is {store.status.value}, not uninstalled: its data is kept",
            now + RECHECK_AFTER,
        )
    # Without a recorded uninstall time, Shopify's request itself is the evidence: it is sent
    # 48 hours after the uninstall.
    uninstalled = store.uninstalled_at or request.received_at
    if now < uninstalled + SHOP_REDACT_DELAY:
        return NotYet("waiting until 48 hours after the uninstall", uninstalled + SHOP_REDACT_DELAY)
    deleted = await _delete_store_rows(session, store.id)
    await _keep_only_counts(session, store.id)
    store.credentials = None
    store.policies_cache = None
    store.scopes = ""
    store.status = StoreStatus.REDACTED
    store.redacted_at = now
    await session.flush()
    return {"deleted": deleted, "already_redacted": False}


async def _delete_store_rows(session: AsyncSession, store_id: int) -> dict[str, int]:
    """Delete the store's rows in every store table but the privacy requests; counts per table."""
    models = {table_of(model).name: model for model in scoped_tables() if issubclass(model, Base)}
    keep = table_of(PrivacyRequest).name
    deleted: dict[str, int] = {}
    examples = select(ReplyExample.id).where(ReplyExample.store_id == store_id)
    await drop_from_examples_index(session, list((await session.execute(examples)).scalars()))
    # Children first: reverse dependency order satisfies every foreign key between them.
    for table in reversed(Base.metadata.sorted_tables):
        model = models.get(table.name)
        if model is None or table.name == keep:
            continue
        result = await session.execute(
            delete(model)
            .where(table.c.store_id == store_id)
            .execution_options(synchronize_session=False)
        )
        deleted[table.name] = int(getattr(result, "rowcount", 0) or 0)
    result = await session.execute(
        delete(StoreMembership)
        .where(StoreMembership.store_id == store_id)
        .execution_options(synchronize_session=False)
    )
    deleted[table_of(StoreMembership).name] = int(getattr(result, "rowcount", 0) or 0)
    return deleted


async def _keep_only_counts(session: AsyncSession, store_id: int) -> None:
    """Strip the store's privacy requests to their topics, statuses, dates and counts."""
    await session.execute(
        update(PrivacyRequest)
        .where(PrivacyRequest.store_id == store_id)
        .values(export=None, request={}, shopify_customer_id=None, customer_email_hash=None)
        .execution_options(synchronize_session=False)
    )
