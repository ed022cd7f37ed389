"""Carrying out due privacy requests, in every store, each once.

`process_due` lists the due requests of every store (`ALL_STORES`), then does each one's work
in a unit of work of its own store (`db.for_store`), so erasing one store's customer cannot
touch another store's rows. The request row is locked while its work runs (other workers skip
it), and the work, the outcome and the audit entry commit together: a crash leaves the request
pending with nothing half done, and a finished request is never picked up again.

A failure rolls the work back and records the error on the request (`failed`); it is tried
again after `RETRY_AFTER`. Errors are recorded by type only when they come from the database,
whose messages can carry the very data being erased.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import Database
from app.db.models import AuditEntry, PrivacyRequest
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyStatus, PrivacyTopic
from app.store.privacy.erase import ERASED_BY, redact_customer
from app.store.privacy.export import export_customer
from app.store.privacy.shop import NotYet, redact_shop

logger = logging.getLogger(__name__)

BATCH = 100
"""Requests looked at per call; the rest wait for the next one."""
RETRY_AFTER = timedelta(minutes=5)
"""How long a failed request waits before it is tried again."""
TARGET_TYPE = "privacy_request"


class Work(Protocol):
    """Carries out one topic's request in its store's unit of work: counts, or not yet."""

    def __call__(
        self, session: AsyncSession, request: PrivacyRequest, *, now: datetime
    ) -> Awaitable[dict[str, Any] | NotYet]: ...


WORK: dict[PrivacyTopic, Work] = {
    PrivacyTopic.DATA_REQUEST: export_customer,
    PrivacyTopic.CUSTOMER_REDACT: redact_customer,
    PrivacyTopic.SHOP_REDACT: redact_shop,
}
_OPEN = (PrivacyStatus.PENDING, PrivacyStatus.FAILED)


async def process_due(db: Database, *, now: datetime) -> int:
    """Carry out every due pending (or failed) request; return how many were completed."""
    async with db.read(ALL_STORES) as session:
        statement = (
            select(PrivacyRequest.id, PrivacyRequest.store_id)
            .where(PrivacyRequest.status.in_(_OPEN), PrivacyRequest.due_at <= now)
            .order_by(PrivacyRequest.due_at, PrivacyRequest.id)
            .limit(BATCH)
        )
        due = [(int(pk), int(store_id)) for pk, store_id in (await session.execute(statement))]
    completed = 0
    for pk, store_id in due:
        if await carry_out(db.for_store(store_id), pk, now=now):
            completed += 1
    return completed


async def carry_out(db: Database, pk: int, *, now: datetime) -> bool:
    """Carry out one request in its store's handle; True when it was completed now."""
    try:
        async with db.write() as session:
            statement = (
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.id == pk,
                    PrivacyRequest.status.in_(_OPEN),
                    PrivacyRequest.due_at <= now,
                )
                .with_for_update(skip_locked=True)
            )
            request = await session.scalar(statement)
            if request is None:
                # Done meanwhile, or another worker holds it.
                return False
            outcome = await WORK[request.topic](session, request, now=now)
            if isinstance(outcome, NotYet):
                request.last_error = outcome.reason
                request.due_at = outcome.retry_at
                return False
            request.status = PrivacyStatus.DONE
            request.summary = outcome
            request.completed_at = now
            request.last_error = None
            session.add(_audit(request, "done", outcome))
    except Exception as exc:
        # Any failure is recorded on the request and retried, never lost.
        logger.warning(
            "privacy request failed",
            extra={"privacy_request": pk, "error": type(exc).__name__},
        )
        await _record_failure(db, pk, exc, now=now)
        return False
    logger.info("privacy request carried out", extra={"privacy_request": pk})
    return True


async def _record_failure(db: Database, pk: int, exc: Exception, *, now: datetime) -> None:
    async with db.write() as session:
        request = await session.get(PrivacyRequest, pk)
        if request is None or request.status is PrivacyStatus.DONE:
            return
        first = request.status is not PrivacyStatus.FAILED
        request.status = PrivacyStatus.FAILED
        request.last_error = describe(exc)
        request.due_at = now + RETRY_AFTER
        if first:
            # One entry when it starts failing, not one per retry.
            session.add(_audit(request, "failed", {"error": type(exc).__name__}))


def describe(exc: Exception) -> str:
    """What a failed request records: never a database message (it can quote the data)."""
    if isinstance(exc, SQLAlchemyError):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"[:500]


def _audit(request: PrivacyRequest, outcome: str, detail: dict[str, Any]) -> AuditEntry:
    """The audit entry of a request: who (Shopify), which topic, the counts; nothing personal."""
    return AuditEntry(
        staff_email=ERASED_BY,
        action=f"privacy:{request.topic.value}:{outcome}",
        target_type=TARGET_TYPE,
        target_id=request.id,
        detail=detail,
    )
