"""`POST /webhooks/shopify`: every webhook Shopify sends the app, on one route.

The raw body (at most `MAX_BODY_BYTES`) must carry `X-Shopify-Hmac-Sha256`, the base64
HMAC-SHA256 of exactly those bytes with `SHOPIFY_CLIENT_SECRET`, or the answer is 401 and
nothing is read further. The topic comes from `X-Shopify-Topic`, the shop from
`X-Shopify-Shop-Domain`. Each delivery's `X-Shopify-Webhook-Id` is recorded in the same
transaction as its effect, so a retry or a replay is answered 200 without doing anything again.

- `app/uninstalled`: the store stops (status `uninstalled`, token wiped, history kept). A
  delivery triggered (`X-Shopify-Triggered-At`) before the store's latest install is stale and
  ignored: Shopify retries with the original payload for hours, and a late one must not
  uninstall a store that was installed again.
- `customers/data_request`, `customers/redact`, `shop/redact`: a privacy request is recorded in
  that store for the privacy worker; the customer is named by Shopify's id and a SHA-256 of the
  address, never the address. These are never refused as stale: a late privacy request still
  has to be carried out.

Everything else authentic (an unknown topic, a shop that is not ours) is answered 200 and
logged, so Shopify does not retry what we will never act on.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import Headers

from app.db.statuses import PrivacyTopic
from app.db.stores import Store
from app.state import AppState, get_state
from app.store.shopify_app import records, signing
from app.store.shopify_app.install import WEBHOOK_PATH

logger = logging.getLogger(__name__)
router = APIRouter(tags=["shopify app"], include_in_schema=False)

MAX_BODY_BYTES = 1024 * 1024
"""Shopify's webhook bodies are a few kilobytes; anything past this is not Shopify's."""
UNINSTALLED = "app/uninstalled"
PRIVACY_TOPICS = {topic.value: topic for topic in PrivacyTopic}


class BodyTooLarge(Exception):
    """The request body passed `MAX_BODY_BYTES`."""


async def read_body(request: Request) -> bytes:
    """The raw body, refused as soon as it passes `MAX_BODY_BYTES` (never held whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def triggered_at(value: str | None) -> datetime | None:
    """`X-Shopify-Triggered-At` (ISO 8601, nanoseconds and `Z` allowed), or None."""
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Python reads at most microseconds: cut longer fractions of a second to six digits.
    head, dot, rest = text.partition(".")
    if dot:
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def answer(outcome: str, status: int = 200) -> JSONResponse:
    """What Shopify gets back: only the outcome, nothing from the payload."""
    return JSONResponse({"status": outcome}, status_code=status)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One authentic delivery, as its headers and body describe it."""

    topic: str
    shop: str | None
    webhook_id: str
    triggered_at: datetime | None
    payload: dict[str, Any] | None

    @classmethod
    def read(cls, headers: Headers, body: bytes) -> Delivery:
        """The delivery's topic, shop, id, trigger time and (if it is a JSON object) payload."""
        topic = (headers.get("x-shopify-topic") or "").strip().lower()
        # Shopify always sends the delivery id; without one, the content names the delivery.
        webhook_id = (headers.get("x-shopify-webhook-id") or "").strip()[:128] or (
            "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
        )
        try:
            payload: Any = json.loads(body)
        except ValueError:
            payload = None
        return cls(
            topic=topic,
            shop=signing.shop_domain(headers.get("x-shopify-shop-domain")),
            webhook_id=webhook_id,
            triggered_at=triggered_at(headers.get("x-shopify-triggered-at")),
            payload=payload if isinstance(payload, dict) else None,
        )

    def unusable(self) -> str | None:
        """Why nothing can be done with this delivery, or None."""
        if self.shop is None:
            return "no shop domain"
        if self.topic != UNINSTALLED and self.topic not in PRIVACY_TOPICS:
            return "topic not handled"
        if self.payload is None:
            # Authentic but unreadable: a retry carries the same bytes, so none is asked for.
            return "body is not a JSON object"
        named = self.payload.get("shop_domain")
        if isinstance(named, str) and signing.shop_domain(named) != self.shop:
            return "payload names another shop"
        return None


@router.post(WEBHOOK_PATH)
async def shopify_webhook(
    request: Request, state: Annotated[AppState, Depends(get_state)]
) -> JSONResponse:
    """Verify one webhook from Shopify and record what it asks for."""
    secret = state.settings.SHOPIFY_CLIENT_SECRET
    if secret is None:
        return JSONResponse(
            {"detail": "this deployment is not set up as a Shopify app: set SHOPIFY_CLIENT_SECRET"},
            status_code=404,
        )
    try:
        body = await read_body(request)
    except BodyTooLarge:
        return answer("too large", 413)
    signature = request.headers.get("x-shopify-hmac-sha256")
    if not signing.body_is_authentic(body, signature, secret.get_secret_value()):
        logger.warning("shopify webhook refused: hmac")
        return answer("unauthorized", 401)
    delivery = Delivery.read(request.headers, body)
    context: dict[str, Any] = {
        "topic": delivery.topic,
        "shop": delivery.shop,
        "webhook_id": delivery.webhook_id,
    }
    reason = delivery.unusable()
    store = (
        None
        if reason or delivery.shop is None
        else await records.find_store(state.db, delivery.shop)
    )
    if store is None:
        reason = reason or "no store for this shop"
        logger.warning("shopify webhook ignored", extra={**context, "reason": reason})
        return answer("ignored")
    context["store_id"] = store.id
    try:
        outcome = await apply(state, store, delivery)
    except IntegrityError:
        # The same delivery committed concurrently (its webhook id is unique): already done.
        outcome = "duplicate"
    if outcome == "uninstalled":
        state.stores.invalidate()
    logger.info("shopify webhook handled", extra={**context, "outcome": outcome})
    return answer(outcome)


async def apply(state: AppState, store: Store, delivery: Delivery) -> str:
    """Do what the delivery asks, once: its id is recorded in the same transaction."""
    # `unusable()` answered None, so both are there.
    assert delivery.shop is not None
    assert delivery.payload is not None
    async with state.db.for_store(store.id).write() as session:
        if await records.seen(session, delivery.webhook_id):
            return "duplicate"
        records.record_delivery(
            session, webhook_id=delivery.webhook_id, topic=delivery.topic, shop=delivery.shop
        )
        if delivery.topic == UNINSTALLED:
            return await records.uninstall(
                session, store_id=store.id, triggered_at=delivery.triggered_at
            )
        # Read again in this transaction: an uninstall may have landed since (shop/redact's
        # due time counts from it).
        current = await session.get(Store, store.id, populate_existing=True)
        await records.add_privacy_request(
            session,
            store=current or store,
            topic=PRIVACY_TOPICS[delivery.topic],
            webhook_id=delivery.webhook_id,
            payload=delivery.payload,
        )
        return "recorded"
