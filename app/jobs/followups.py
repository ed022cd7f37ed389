"""Follow-ups: proactive emails after the sale, scheduled from the store's data and sent paced.

Two rules, each off until a store's slug is listed in its setting:
- a check-in FOLLOWUP_CHECKIN_DAYS after an order is delivered (`scan_store` reads recently
  delivered orders with the store's own Shopify client, at most every FOLLOWUP_SCAN_MINUTES);
- a review request after the customer rated a reply good (`schedule_review_in`).

A due follow-up (`send_due`) is rendered in the customer's language and checked by the same
verifier as replies, then sent unless something holds it: the store is not active or the rule
is off, the store is in shadow mode (the send policy's store-wide hold), the address is on the
suppression list or the unsubscribe list, or the customer had a proactive email within
FOLLOWUP_CAP_DAYS (each of these skips it, with the reason). During quiet hours in the store's
time zone it waits until they end. Like replies it is sent at most once: `sending` is committed
before the request goes out, so an attempt interrupted before its result was recorded stays
`sending` (visible in the table), never sent again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.aftersale import FollowUp
from app.db.engine import Database
from app.db.models import Reply
from app.db.scope import ALL_STORES
from app.db.statuses import FollowUpKind, FollowUpStatus
from app.db.stores import DEFAULT_STORE_ID, Store
from app.intake.ratings import Rated
from app.intake.unsubscribing import is_unsubscribed_in
from app.providers import policy_opening
from app.replies import deliveries
from app.replies.followups import FollowUpInputs, check_followup, render_followup
from app.replies.links import LinkMaker
from app.replies.next_product import SuggestionShop, choose_next_product
from app.replies.render import StoreIdentity
from app.replies.senders import MailSender, OutgoingEmail, SendDeferred, SendRejected, SendUncertain
from app.store.directory import StoreConfig
from app.store.models import Order, OrderStatus, PolicyKind
from app.store.protocol import Shop, ShopError
from app.store.suggestions import record_suggestion_in, redirect_link

logger = logging.getLogger(__name__)

BATCH = 50
MAX_ATTEMPTS = 5
TOO_LATE = timedelta(days=7)
"""A check-in this long overdue (the scan saw the delivery late) is not sent at all."""


class DeliveredOrders(Protocol):
    """A shop that can list recently delivered orders (Shopify and the demo store can)."""

    async def delivered_orders(self, *, since: datetime, limit: int) -> list[Order]: ...


def enabled(settings: Settings, slug: str, kind: FollowUpKind) -> bool:
    """Whether a store turned this rule on (every rule is off by default)."""
    stores = (
        settings.FOLLOWUP_CHECKIN_STORES
        if kind is FollowUpKind.CHECKIN
        else settings.FOLLOWUP_REVIEW_STORES
    )
    return slug.lower() in stores


def _exists_in(session: Session, store_id: int, kind: FollowUpKind, key: str) -> bool:
    statement = select(FollowUp.id).where(
        FollowUp.store_id == store_id, FollowUp.kind == kind, FollowUp.source_key == key
    )
    return session.execute(statement.limit(1)).scalar_one_or_none() is not None


def schedule_review_in(
    session: Session, rated: Rated, *, settings: Settings, now: datetime
) -> bool:
    """After a good rating, a review request, if the store turned the rule on."""
    store = session.get(Store, rated.store_id)
    reply = session.get(Reply, rated.reply_id)
    if store is None or reply is None or not enabled(settings, store.slug, FollowUpKind.REVIEW):
        return False
    key = f"reply:{reply.id}"
    if _exists_in(session, store.id, FollowUpKind.REVIEW, key):
        return False
    url = settings.STORE_URL if store.id == DEFAULT_STORE_ID else store.store_url
    session.add(
        FollowUp(
            store_id=store.id,
            kind=FollowUpKind.REVIEW,
            source_key=key,
            address=reply.to_address_key,
            language=reply.language or store.locale,
            reply_id=reply.id,
            detail={"review_url": url or ""},
            due_at=now,
        )
    )
    session.flush()
    return True


def _item(line: Any) -> str:
    variant = f" ({line.variant})" if line.variant else ""
    return f"{line.current_quantity} × {line.title}{variant}"


def delivered_at(order: Order) -> datetime | None:
    """When the last parcel of a delivered order arrived (None: not delivered)."""
    if order.status is not OrderStatus.DELIVERED or order.cancelled_at is not None:
        return None
    times = [s.delivered_at for s in order.shipments if s.delivered_at is not None]
    return max(times) if times else None


def schedule_checkins_in(
    session: Session,
    store: StoreConfig,
    orders: Sequence[Order],
    *,
    returns: str,
    settings: Settings,
    now: datetime,
    scheduled: list[tuple[int, Order]] | None = None,
) -> int:
    """A check-in for each delivered order that has none yet; return how many were added.

    `scheduled` (if given) receives each new follow-up's id with its order.
    """
    added = 0
    for order in orders:
        arrived = delivered_at(order)
        address = (order.customer_email or order.email or "").strip().lower()
        if arrived is None or not address:
            continue
        due = arrived + timedelta(days=settings.FOLLOWUP_CHECKIN_DAYS)
        if due < now - TOO_LATE or _exists_in(session, store.id, FollowUpKind.CHECKIN, order.id):
            continue
        items = [_item(line) for line in order.items if line.current_quantity > 0]
        followup = FollowUp(
            store_id=store.id,
            kind=FollowUpKind.CHECKIN,
            source_key=order.id,
            address=address,
            customer_name=order.customer_name,
            language=_language_in(session, store, address),
            detail={"order": order.name, "items": items, "returns": returns},
            due_at=due,
        )
        session.add(followup)
        added += 1
        if scheduled is not None:
            session.flush()
            scheduled.append((followup.id, order))
    session.flush()
    return added


def _language_in(session: Session, store: StoreConfig, address: str) -> str:
    """The language of the last reply the customer got from this store, else the store's."""
    statement = (
        select(Reply.language)
        .where(Reply.store_id == store.id, Reply.to_address_key == address)
        .order_by(Reply.id.desc())
        .limit(1)
    )
    return session.execute(statement).scalar_one_or_none() or store.locale


async def scan_store(
    db: Database, store: StoreConfig, shop: Shop, *, settings: Settings, now: datetime
) -> int:
    """Read the store's recently delivered orders and schedule their check-ins."""
    if not store.active or not enabled(settings, store.slug, FollowUpKind.CHECKIN):
        return 0
    if not hasattr(shop, "delivered_orders"):
        return 0
    reader: DeliveredOrders = shop  # type: ignore[assignment]
    since = now - timedelta(days=settings.FOLLOWUP_CHECKIN_DAYS) - TOO_LATE
    orders = await reader.delivered_orders(since=since, limit=settings.FOLLOWUP_SCAN_ORDERS)
    returns = ""
    for policy in await shop.get_policies():
        if policy.kind is PolicyKind.REFUND:
            returns = policy_opening(policy.text)
    scheduled: list[tuple[int, Order]] = []
    added = await db.for_store(store.id).unit(
        lambda session: schedule_checkins_in(
            session, store, orders, returns=returns, settings=settings, now=now, scheduled=scheduled
        )
    )
    for followup_id, order in scheduled:
        await suggest_for_checkin(db, store, shop, followup_id, order, settings=settings, now=now)
    return added


async def suggest_for_checkin(
    db: Database,
    store: StoreConfig,
    shop: Shop,
    followup_id: int,
    order: Order,
    *,
    settings: Settings,
    now: datetime,
) -> None:
    """Add the right next product to a delivered order's check-in, when the store opts in.

    The product comes from the store's own data for the order's own customer (the order's
    address stands as verified: it is Shopify's); its title, price and link go into the
    follow-up's facts, which the verifier checks the rendered email against.
    """
    address = (order.customer_email or order.email or "").strip().lower()
    if not settings.NEXT_PRODUCT_ENABLED or not isinstance(shop, SuggestionShop) or not address:
        return
    try:
        facts = await choose_next_product(
            shop, intent="delivered_follow_up", verified_email=address, order=order
        )
    except ShopError:
        logger.warning("no product for a check-in: the store did not answer")
        return
    if facts is None:
        return
    chosen = facts

    def attach(session: Session) -> None:
        token = record_suggestion_in(
            session,
            store_id=store.id,
            product_id=chosen.product_id,
            product_title=chosen.title,
            url=chosen.url,
            now=now,
        )
        base = settings.NEXT_PRODUCT_LINK_BASE_URL
        link = redirect_link(base, token) if base else chosen.url
        followup = session.get(FollowUp, followup_id)
        if followup is not None:
            followup.detail = {
                **(followup.detail or {}),
                "product": {
                    "title": chosen.title,
                    "amount": str(chosen.price.amount),
                    "currency": chosen.price.currency,
                    "url": chosen.url,
                    "link": link,
                },
            }

    await db.for_store(store.id).unit(attach)


def quiet_until(store: StoreConfig, settings: Settings, now: datetime) -> datetime | None:
    """When the store's quiet hours end, if `now` falls in them (None: not quiet)."""
    start, end = settings.FOLLOWUP_QUIET_START_HOUR, settings.FOLLOWUP_QUIET_END_HOUR
    if start == end:
        return None
    try:
        zone = ZoneInfo(store.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    hour = local.hour
    quiet = (start <= hour or hour < end) if start > end else (start <= hour < end)
    if not quiet:
        return None
    day = local.date() if hour < end else local.date() + timedelta(days=1)
    return datetime.combine(day, time(end), tzinfo=zone)


def _capped_in(session: Session, followup: FollowUp, days: int, now: datetime) -> bool:
    if days <= 0:
        return False
    statement = select(FollowUp.id).where(
        FollowUp.store_id == followup.store_id,
        FollowUp.address == followup.address,
        FollowUp.id != followup.id,
        FollowUp.status.in_((FollowUpStatus.SENT, FollowUpStatus.SENDING, FollowUpStatus.UNKNOWN)),
        FollowUp.sent_at >= now - timedelta(days=days),
    )
    return session.execute(statement.limit(1)).scalar_one_or_none() is not None


def hold_reason_in(
    session: Session,
    followup: FollowUp,
    store: StoreConfig | None,
    *,
    settings: Settings,
    now: datetime,
) -> str | None:
    """Why a due follow-up is skipped for good (None: it may go out)."""
    if store is None or not store.active:
        return "the store is not active"
    if not enabled(settings, store.slug, followup.kind):
        return f"the {followup.kind.value} rule is off for this store"
    if store.shadow_mode:
        return "send policy: shadow mode"
    if is_unsubscribed_in(session, followup.store_id, followup.address):
        return "unsubscribed"
    suppression = deliveries.suppression_in(session, followup.store_id, followup.address)
    if suppression is not None:
        return f"suppression list: {deliveries.describe(suppression)}"
    if _capped_in(session, followup, settings.FOLLOWUP_CAP_DAYS, now):
        days = settings.FOLLOWUP_CAP_DAYS
        return f"capped: a proactive email went to this customer in the last {days} days"
    return None


async def sent_count(session: AsyncSession, *, since: datetime, until: datetime) -> dict[str, int]:
    """Follow-ups sent in [since, until), by kind (for the reports page; the scope applies)."""
    statement = (
        select(FollowUp.kind, func.count(FollowUp.id))
        .where(
            FollowUp.status == FollowUpStatus.SENT,
            FollowUp.sent_at >= since,
            FollowUp.sent_at < until,
        )
        .group_by(FollowUp.kind)
    )
    counts = {kind.value: 0 for kind in FollowUpKind}
    for kind, count in (await session.execute(statement)).all():
        counts[FollowUpKind(kind).value] = int(count)
    return counts


async def send_due(
    db: Database,
    stores: dict[int, StoreConfig],
    mail: MailSender,
    *,
    links: LinkMaker,
    settings: Settings,
    now: datetime,
) -> int:
    """Send (or skip, or hold) every due follow-up; return how many were sent."""
    statement = (
        select(FollowUp.id)
        .where(FollowUp.status == FollowUpStatus.SCHEDULED, FollowUp.due_at <= now)
        .order_by(FollowUp.due_at)
        .limit(BATCH)
    )
    due = await db.unit(lambda session: list(session.execute(statement).scalars()), ALL_STORES)
    sent = 0
    for followup_id in due:

        def begin(session: Session, pk: int = followup_id) -> OutgoingEmail | None:
            return _begin_in(session, pk, stores, links=links, settings=settings, now=now)

        email = await db.unit(begin, ALL_STORES)
        if email is not None:
            sent += await _send(db, followup_id, mail, email, now=now)
    return sent


def _begin_in(
    session: Session,
    followup_id: int,
    stores: dict[int, StoreConfig],
    *,
    links: LinkMaker,
    settings: Settings,
    now: datetime,
) -> OutgoingEmail | None:
    """Decide one due follow-up; mark it `sending` and return its email, or None."""
    followup = session.get(FollowUp, followup_id, with_for_update=True)
    if followup is None or followup.status is not FollowUpStatus.SCHEDULED:
        return None
    store = stores.get(followup.store_id)
    reason = hold_reason_in(session, followup, store, settings=settings, now=now)
    if reason is not None or store is None:
        followup.status, followup.reason = FollowUpStatus.SKIPPED, reason
        return None
    wait = quiet_until(store, settings, now)
    if wait is not None:
        followup.due_at, followup.reason = wait, "held: quiet hours in the store's time zone"
        return None
    identity = StoreIdentity(
        name=store.name,
        support_email=store.support_email,
        url=store.store_url,
        signature=store.signature,
    )
    inputs = FollowUpInputs(
        kind=followup.kind,
        language=followup.language,
        customer_name=followup.customer_name,
        detail=dict(followup.detail or {}),
        unsubscribe_url=links.unsubscribe(followup.id),
    )
    rendered = render_followup(inputs, store=identity)
    problems = check_followup(
        rendered,
        inputs,
        recipient=followup.address,
        store_hosts=store.store_hosts,
        own_addresses=store.support_addresses,
    )
    if problems:
        followup.status, followup.reason = (
            FollowUpStatus.SKIPPED,
            f"verifier: {'; '.join(problems)}",
        )
        return None
    domain = store.support_email.rpartition("@")[2] or "localhost"
    followup.subject, followup.text_body, followup.html_body = (
        rendered.subject,
        rendered.text,
        rendered.html,
    )
    followup.rfc_message_id = f"<followup.{uuid.uuid4().hex}@{domain}>"
    followup.status = FollowUpStatus.SENDING
    followup.attempts += 1
    return OutgoingEmail(
        from_address=store.support_email,
        from_name=store.name,
        to_address=followup.address,
        to_name=None,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        message_id=followup.rfc_message_id,
        in_reply_to=None,
        references=(),
        custom_args={"followup_id": str(followup.id)},
        list_unsubscribe=inputs.unsubscribe_url,
        language=rendered.language,
    )


async def _send(
    db: Database, followup_id: int, mail: MailSender, email: OutgoingEmail, *, now: datetime
) -> int:
    status, error, provider_id = FollowUpStatus.SENT, None, None
    retry_at: datetime | None = None
    try:
        provider_id = (await mail.send(email)).provider_message_id
    except SendRejected as exc:
        status, error = FollowUpStatus.DEAD, str(exc)
    except SendUncertain as exc:
        status, error = FollowUpStatus.UNKNOWN, str(exc)
    except SendDeferred as exc:
        status, error = FollowUpStatus.SCHEDULED, str(exc)
        retry_at = now + timedelta(minutes=5)

    def record(session: Session) -> None:
        followup = session.get(FollowUp, followup_id)
        if followup is None:
            return
        final = status
        if final is FollowUpStatus.SCHEDULED and followup.attempts >= MAX_ATTEMPTS:
            final = FollowUpStatus.DEAD
        followup.status, followup.reason = final, error
        followup.provider_message_id = provider_id
        if final is FollowUpStatus.SENT:
            followup.sent_at = now
        if retry_at is not None:
            followup.due_at = retry_at

    await db.unit(record, ALL_STORES)
    logger.info("follow-up delivery", extra={"followup_id": followup_id, "status": status.value})
    return 1 if status is FollowUpStatus.SENT else 0
