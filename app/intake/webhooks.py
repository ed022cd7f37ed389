"""Every other inbound provider's webhook: `POST /webhooks/<provider>/inbound`.

The same promises as SendGrid's route (`app.intake.routes`): 2xx once the delivery is durably
stored (or was already), 401 before reading the body when the headers refuse it, 413 for an
oversized post the headers could not authenticate, 5xx only for our own trouble, and never 4xx
for an authentic delivery we cannot read (it is stored quarantined for staff). What differs per
provider, authentication and format, is its adapter's (`app.mail.providers`). A provider's other
events posted here (tracking, delivery notices, subscription confirmations) are acknowledged
with 200 and never stored as email. A request that carries several emails (a `Batch`) is stored
as one delivery per email, and acknowledged once every one of them is stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.db.errors import describe
from app.db.statuses import MessageStatus
from app.intake import messages
from app.intake.body import BodyTooLarge, read_body
from app.intake.routes import declared_length, quarantined, store_for
from app.intake.writer import Stored
from app.logs import log_context
from app.mail.adapter import (
    Batch,
    Delivery,
    HttpReply,
    InboundAdapter,
    InboundRequest,
    NotAnEmail,
    ReadError,
)
from app.mail.providers import adapter_for
from app.state import AppState, app_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/{provider}/inbound", summary="Receive an inbound email from a provider")
@router.post("/webhooks/{provider}/inbound/", include_in_schema=False)
async def receive_inbound(provider: str, request: Request) -> JSONResponse:
    """Store one provider's inbound delivery and acknowledge it."""
    adapter = adapter_for(provider)
    if adapter is None:
        return JSONResponse({"detail": f"no inbound provider {provider!r}"}, status_code=404)
    state = app_state(request)
    secrets = state.inbound_secrets
    now = time.time()
    if not adapter.check_headers(request.headers, secrets, now):
        return _unauthorized(adapter)
    limit = state.settings.INBOUND_MAX_BODY_BYTES
    refuse_over_limit = not adapter.headers_prove_sender(secrets)
    if refuse_over_limit and declared_length(request) > limit:
        return _too_large(adapter, limit)
    try:
        body = await read_body(
            request.stream(), limit=limit, digest=None, refuse_over_limit=refuse_over_limit
        )
    except BodyTooLarge:
        return _too_large(adapter, limit)
    with body:
        data = body.read()
        truncated, size = body.truncated, body.size
    content_type = request.headers.get("content-type") or ""
    inbound = InboundRequest(headers=request.headers, body=data, content_type=content_type)
    if not truncated and not await _body_ok(adapter, inbound, state, now):
        return _unauthorized(adapter)
    found = _read(adapter, inbound, state, truncated=truncated, size=size)
    if isinstance(found, NotAnEmail):
        return await _not_an_email(adapter, found, state)
    routed = []
    for new, recipients in found:
        if new.status is MessageStatus.RECEIVED:
            new = replace(new, store_id=await store_for(state, recipients))
        routed.append(new)
    return await _store(adapter, routed, state)


async def _body_ok(
    adapter: InboundAdapter, inbound: InboundRequest, state: AppState, now: float
) -> bool:
    http = state.providers.http_get or _no_http
    try:
        return await adapter.check_body(inbound, state.inbound_secrets, now, http)
    except OSError as exc:
        # A signing certificate that cannot be fetched proves nothing: refuse, the provider
        # retries.
        logger.warning("inbound %s signature not checked: %s", adapter.name, exc)
        return False


async def _no_http(url: str, headers: Mapping[str, str]) -> HttpReply:
    raise OSError(f"no HTTP client configured to fetch {url}")


Found = list[tuple[messages.NewDelivery, tuple[str, ...]]]
"""What to store, each with its envelope's recipients."""


def _read(
    adapter: InboundAdapter, inbound: InboundRequest, state: AppState, *, truncated: bool, size: int
) -> Found | NotAnEmail:
    """What to store: deliveries for the worker, a quarantined payload, or not an email."""
    if truncated:
        reason = (
            f"payload of {size} bytes is over INBOUND_MAX_BODY_BYTES; the first "
            f"{len(inbound.body)} bytes are kept"
        )
        return [(quarantined(inbound.body, inbound.content_type, reason, adapter.name), ())]
    try:
        found = adapter.read(inbound, max_parts=state.settings.INBOUND_MAX_PARTS)
    except ReadError as exc:
        reason = f"unreadable {adapter.name} payload: {exc}"
        return [(quarantined(inbound.body, inbound.content_type, reason, adapter.name), ())]
    if isinstance(found, NotAnEmail):
        return found
    deliveries = found.deliveries if isinstance(found, Batch) else (found,)
    if not deliveries:
        return NotAnEmail(kind="empty batch")
    return [(_new_delivery(adapter, inbound, one), one.recipients) for one in deliveries]


def _new_delivery(
    adapter: InboundAdapter, inbound: InboundRequest, found: Delivery
) -> messages.NewDelivery:
    return messages.NewDelivery(
        provider=adapter.name,
        payload_format=found.payload_format,
        content_type=inbound.content_type,
        raw=inbound.body if found.body is None else found.body,
        checksum=found.checksum,
        message_id=found.message_id,
        has_synthetic_message_id=found.has_synthetic_message_id,
        status=MessageStatus.RECEIVED,
    )


async def _not_an_email(
    adapter: InboundAdapter, event: NotAnEmail, state: AppState
) -> JSONResponse:
    """Acknowledge a provider event; confirm a subscription the adapter vetted."""
    if event.confirm_url is not None and state.providers.http_get is not None:
        try:
            reply = await state.providers.http_get(event.confirm_url, {})
        except OSError as exc:
            logger.warning("%s subscription not confirmed: %s", adapter.name, exc)
            return JSONResponse({"detail": "confirmation failed, retry"}, status_code=503)
        if reply.status >= 300:
            logger.warning("%s subscription confirmation answered %d", adapter.name, reply.status)
            return JSONResponse({"detail": "confirmation failed, retry"}, status_code=503)
        logger.info("%s subscription confirmed", adapter.name)
    metrics.record_delivery(adapter.name, "ignored")
    return JSONResponse({"status": "ignored", "event": event.kind})


async def _store(
    adapter: InboundAdapter, news: list[messages.NewDelivery], state: AppState
) -> JSONResponse:
    """Store every delivery; one answer for the request (a batch's lists each one's)."""
    results: list[dict[str, object]] = []
    for new in news:
        try:
            stored = await state.intake.store(new)
        except (SQLAlchemyError, OSError) as exc:
            # The provider retries the whole request: the ones already stored are duplicates.
            logger.error("inbound %s delivery not stored: %s", adapter.name, describe(exc))
            metrics.record_delivery(adapter.name, "error")
            return JSONResponse({"detail": "temporarily unavailable, retry"}, status_code=503)
        results.append(_stored(adapter, stored, state))
    if len(results) == 1:
        return JSONResponse(results[0])
    return JSONResponse({"status": "batch", "deliveries": results})


def _stored(adapter: InboundAdapter, stored: Stored, state: AppState) -> dict[str, object]:
    if stored.message_pk is None:
        metrics.record_delivery(adapter.name, "duplicate")
        return {"status": "duplicate"}
    with log_context(message_pk=stored.message_pk):
        is_quarantined = stored.status is MessageStatus.QUARANTINED
        metrics.record_delivery(adapter.name, "quarantined" if is_quarantined else "stored")
        logger.debug("inbound delivery stored", extra={"provider": adapter.name})
        state.notify_worker()
    return {"status": stored.status.value, "id": stored.message_pk}


def _unauthorized(adapter: InboundAdapter) -> JSONResponse:
    metrics.record_delivery(adapter.name, "unauthorized")
    return JSONResponse(
        {"detail": "authentication required"},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="inbound"'},
    )


def _too_large(adapter: InboundAdapter, limit: int) -> JSONResponse:
    metrics.record_delivery(adapter.name, "too_large")
    return JSONResponse({"detail": f"payload over {limit} bytes"}, status_code=413)
