"""Delivery events of the replies we sent: `POST /webhooks/<provider>/events`.

What differs per provider, authentication and format, is its event source's
(`app.mail.events`); what happens to the events is `app.replies.deliveries`'. The promises:
401 before the body is read when the headers refuse it, or after it when its signature does;
413 for a body past `MAX_BODY_BYTES`; 400 for an authentic request that is not in the
provider's format (nothing is stored, the provider may retry); 200 once every event is durably
stored (or was already: a redelivered event is stored once); 503 for our own trouble, so the
provider retries. The provider's other events (opens, clicks) are acknowledged and dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.db.errors import describe
from app.db.scope import ALL_STORES
from app.intake.body import BodyTooLarge, read_body
from app.intake.routes import declared_length
from app.mail.adapter import HttpReply, InboundRequest
from app.mail.delivery import EventBatch, EventError, EventSecrets, EventSource
from app.mail.events import source_for
from app.replies import deliveries
from app.state import AppState, app_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

MAX_BODY_BYTES = 10 * 1024 * 1024
"""Far above any provider's batch of events (SendGrid's are the largest, well under this)."""


def event_secrets(state: AppState) -> EventSecrets:
    """Every event source's credentials: the inbound ones and SendGrid's event key."""
    return EventSecrets(
        inbound=state.inbound_secrets,
        sendgrid_public_key=state.settings.SENDGRID_EVENT_PUBLIC_KEY,
    )


@router.post("/webhooks/{provider}/events", summary="Receive delivery events from a provider")
@router.post("/webhooks/{provider}/events/", include_in_schema=False)
async def receive_events(provider: str, request: Request) -> JSONResponse:
    """Record a provider's delivery events about the replies we sent."""
    source = source_for(provider)
    if source is None:
        return JSONResponse({"detail": f"no event provider {provider!r}"}, status_code=404)
    state = app_state(request)
    secrets = event_secrets(state)
    now = time.time()
    if not source.check_headers(request.headers, secrets, now):
        return _unauthorized(source)
    if declared_length(request) > MAX_BODY_BYTES:
        return _too_large()
    try:
        body = await read_body(
            request.stream(), limit=MAX_BODY_BYTES, digest=None, refuse_over_limit=True
        )
    except BodyTooLarge:
        return _too_large()
    with body:
        data = body.read()
    inbound = InboundRequest(
        headers=request.headers, body=data, content_type=request.headers.get("content-type") or ""
    )
    if source.configured(secrets) and not await _body_ok(source, inbound, secrets, state, now):
        return _unauthorized(source)
    try:
        batch = source.parse(inbound)
    except EventError as exc:
        logger.warning("%s events unreadable: %s", source.name, exc)
        return JSONResponse({"detail": f"not {source.name}'s event format: {exc}"}, 400)
    if batch.confirm_url is not None:
        return await _confirm(source, batch, state)
    return await _record(source, batch, state)


async def _body_ok(
    source: EventSource, inbound: InboundRequest, secrets: EventSecrets, state: AppState, now: float
) -> bool:
    http = state.providers.http_get or _no_http
    try:
        return await source.check_body(inbound, secrets, now, http)
    except OSError as exc:
        # A signing certificate that cannot be fetched proves nothing: refuse, the provider
        # retries.
        logger.warning("%s events' signature not checked: %s", source.name, exc)
        return False


async def _no_http(url: str, headers: Mapping[str, str]) -> HttpReply:
    raise OSError(f"no HTTP client configured to fetch {url}")


async def _record(source: EventSource, batch: EventBatch, state: AppState) -> JSONResponse:
    events = batch.events
    try:
        recorded = await state.db.unit(
            lambda session: deliveries.record_events_in(session, events), ALL_STORES
        )
    except (SQLAlchemyError, OSError) as exc:
        logger.error("%s events not stored: %s", source.name, describe(exc))
        return JSONResponse({"detail": "temporarily unavailable, retry"}, status_code=503)
    logger.info(
        "delivery events",
        extra={
            "provider": source.name,
            "stored": recorded.stored,
            "duplicates": recorded.duplicates,
            "matched": recorded.matched,
            "suppressed": recorded.suppressed,
            "ignored": len(batch.ignored),
        },
    )
    return JSONResponse(
        {
            "stored": recorded.stored,
            "duplicates": recorded.duplicates,
            "matched": recorded.matched,
            "ignored": len(batch.ignored),
        }
    )


async def _confirm(source: EventSource, batch: EventBatch, state: AppState) -> JSONResponse:
    """Confirm a subscription the source vetted (Amazon SNS asks before it sends events)."""
    url = batch.confirm_url or ""
    http = state.providers.http_get
    try:
        reply = await (http or _no_http)(url, {})
    except OSError as exc:
        logger.warning("%s events subscription not confirmed: %s", source.name, exc)
        return JSONResponse({"detail": "confirmation failed, retry"}, status_code=503)
    if reply.status >= 300:
        logger.warning("%s events subscription confirmation answered %d", source.name, reply.status)
        return JSONResponse({"detail": "confirmation failed, retry"}, status_code=503)
    logger.info("%s events subscription confirmed", source.name)
    return JSONResponse({"status": "confirmed"})


def _unauthorized(source: EventSource) -> JSONResponse:
    logger.warning("%s events refused: not authenticated", source.name)
    return JSONResponse(
        {"detail": "authentication required"},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="events"'},
    )


def _too_large() -> JSONResponse:
    return JSONResponse({"detail": f"payload over {MAX_BODY_BYTES} bytes"}, status_code=413)
