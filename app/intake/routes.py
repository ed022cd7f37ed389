"""Inbound mail webhooks. The status code is a promise to the provider about retries.

- 2xx: the delivery is durably stored (or was already): never send it again.
- 401: not from our provider; nothing stored. Whatever the headers alone can refuse (Basic
  credentials, a missing or stale timestamp, a missing or malformed signature) is refused before
  the body is read.
- 413: over INBOUND_MAX_BODY_BYTES while not yet authenticated (only a signature is configured,
  and it can be checked only at the end of the body); nothing stored. With Basic credentials the
  sender is known from the headers, so an oversized post is kept truncated and quarantined.
- 5xx: our own trouble (database down): please retry, SendGrid does for three days. Never
  "this email is odd": a delivery the database refuses is stored quarantined and acknowledged
  (`app.intake.writer`), since its retry would be refused the same way.
- Never 4xx for an authentic delivery we cannot parse (SendGrid would drop the mail): it is
  stored as quarantined for staff and acknowledged.

Only authentication, a boundary-independent checksum and one (group) commit happen before the
acknowledgement; the full parse runs in the worker (DESIGN §5: parsing first cannot meet the
intake budget, and a parser bug must never turn into a retry loop that loses mail).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.db.errors import describe
from app.db.statuses import MessageStatus
from app.intake import messages
from app.intake.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER
from app.intake.body import BodyTooLarge, SpooledBody, read_body
from app.logs import log_context
from app.mail.formdata import FormDataError, parse_form_data
from app.mail.mime import content_checksum, synthetic_message_id
from app.mail.providers.sendgrid import PROVIDER, read_delivery
from app.state import AppState, app_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


def _unauthorized() -> JSONResponse:
    metrics.record_delivery(PROVIDER, "unauthorized")
    return JSONResponse(
        {"detail": "authentication required"},
        status_code=401,
        headers={"WWW-Authenticate": 'Basic realm="inbound"'},
    )


def _too_large(limit: int) -> JSONResponse:
    metrics.record_delivery(PROVIDER, "too_large")
    return JSONResponse({"detail": f"payload over {limit} bytes"}, status_code=413)


@router.post("/webhooks/sendgrid/inbound", summary="Receive a SendGrid Inbound Parse post")
@router.post("/webhooks/sendgrid/inbound/", include_in_schema=False)
async def receive_sendgrid_inbound(request: Request) -> JSONResponse:
    """Store one SendGrid Inbound Parse delivery (raw or parsed mode) and acknowledge it."""
    # Read directly rather than through Depends: dependency resolution is a measurable share
    # of this hot path's cost (bench/intake.py).
    state = app_state(request)
    auth = state.inbound_auth
    if not auth.basic_auth_ok(request.headers.get("authorization")):
        return _unauthorized()
    digest = None
    if auth.signature_required:
        digest = auth.begin_signature(request.headers.get(TIMESTAMP_HEADER))
        if digest is None or not auth.signature_well_formed(request.headers.get(SIGNATURE_HEADER)):
            return _unauthorized()
    limit = state.settings.INBOUND_MAX_BODY_BYTES
    # Only a sender the headers prove authentic may have an oversized post kept for staff.
    refuse_over_limit = auth.signature_required and not auth.headers_authenticate
    if refuse_over_limit and declared_length(request) > limit:
        return _too_large(limit)
    try:
        body = await read_body(
            request.stream(), limit=limit, digest=digest, refuse_over_limit=refuse_over_limit
        )
    except BodyTooLarge:
        return _too_large(limit)
    with body:
        if digest is not None and not auth.signature_ok(
            digest, request.headers.get(SIGNATURE_HEADER)
        ):
            return _unauthorized()
        new, recipients = _delivery_from(body, request.headers.get("content-type") or "", state)
    if new.status is MessageStatus.RECEIVED:
        new = replace(new, store_id=await store_for(state, recipients))
    try:
        stored = await state.intake.store(new)
    except (SQLAlchemyError, OSError) as exc:
        logger.error("inbound delivery not stored: %s", describe(exc))
        metrics.record_delivery(PROVIDER, "error")
        return JSONResponse({"detail": "temporarily unavailable, retry"}, status_code=503)
    if stored.message_pk is None:
        metrics.record_delivery(PROVIDER, "duplicate")
        return JSONResponse({"status": "duplicate"})
    with log_context(message_pk=stored.message_pk):
        quarantined = stored.status is MessageStatus.QUARANTINED
        metrics.record_delivery(PROVIDER, "quarantined" if quarantined else "stored")
        logger.debug("inbound delivery stored", extra={"status": stored.status.value})
        state.notify_worker()
    return JSONResponse({"status": stored.status.value, "id": stored.message_pk})


def declared_length(request: Request) -> int:
    """The Content-Length the client announced, or 0 when absent or unreadable."""
    value = (request.headers.get("content-length") or "").strip()
    # Twenty digits are more than any real length; longer strings are not worth converting.
    return int(value) if value.isdigit() and len(value) <= 20 else 0


async def store_for(state: AppState, recipients: tuple[str, ...]) -> int | None:
    """The store the envelope's recipients name, or None for the worker to route.

    The directory is cached, so this is a lookup, not a query. Should reading the stores fail,
    the delivery is still stored unrouted: the worker routes it from the parsed email.
    """
    try:
        store = await state.stores.route(recipients)
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("inbound delivery not routed at intake: %s", describe(exc))
        return None
    return store.id if store is not None else None


def _delivery_from(
    body: SpooledBody, content_type: str, state: AppState
) -> tuple[messages.NewDelivery, tuple[str, ...]]:
    """Decide what to store: a delivery for the worker, or a quarantined payload for staff.

    The envelope's recipients come with it: they say whose store's mail it is.
    """
    data = body.read()
    if body.truncated:
        return quarantined(
            data,
            content_type,
            f"payload of {body.size} bytes is over INBOUND_MAX_BODY_BYTES; the first "
            f"{len(data)} bytes are kept",
        ), ()
    try:
        form = parse_form_data(data, content_type, max_parts=state.settings.INBOUND_MAX_PARTS)
    except FormDataError as exc:
        return quarantined(data, content_type, f"unparseable payload: {exc}"), ()
    delivery = read_delivery(form)
    new = messages.NewDelivery(
        provider=PROVIDER,
        payload_format=delivery.payload_format,
        content_type=content_type,
        raw=data,
        checksum=delivery.checksum,
        message_id=delivery.message_id,
        has_synthetic_message_id=delivery.has_synthetic_message_id,
        status=MessageStatus.RECEIVED,
    )
    return new, delivery.recipients


def quarantined(
    data: bytes, content_type: str, reason: str, provider: str = PROVIDER
) -> messages.NewDelivery:
    """A delivery stored for staff only: authentic, but not something the worker can read."""
    checksum = content_checksum(data)
    return messages.NewDelivery(
        provider=provider,
        payload_format="unknown",
        content_type=content_type,
        raw=data,
        checksum=checksum,
        message_id=synthetic_message_id(checksum),
        has_synthetic_message_id=True,
        status=MessageStatus.QUARANTINED,
        status_reason=reason,
    )
