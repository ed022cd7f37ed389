"""The customer timeline on an email: their other conversations and their orders, newest first.

Conversations are the sender's other emails in the same store (one query; the latest email of
each conversation stands for it), listed for any sender, verified or not: staff need to see that
"lena@example.de" wrote before even when this email could not be verified. Orders come from the
customer card already loaded for the page, which holds orders only for a verified sender, and
are shown only for one: an unverified sender sees no one's orders here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Literal
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.customer_card import CustomerCard
from app.admin.filters import word_label
from app.db.models import Message

MAX_CONVERSATIONS = 20
# Enough of the sender's latest emails to find MAX_CONVERSATIONS conversations in practice.
MAX_EMAILS = 200


@dataclass(frozen=True, kw_only=True)
class TimelineEntry:
    """One conversation or one order."""

    kind: Literal["conversation", "order"]
    at: datetime
    title: str
    """The conversation's subject, or the order's number (#1001)."""
    status: str
    link: str | None = None
    """The conversation's latest email in the admin (orders have no page here)."""
    detail: str | None = None
    """An order's total; a conversation's number of emails."""


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """What the email page shows under the customer card."""

    address: str | None
    entries: list[TimelineEntry] = field(default_factory=list)
    all_emails_url: str | None = None
    """The inbox filtered to this sender's emails (every view)."""
    orders_shown: bool = False
    """Whether orders are part of it (a verified sender's only)."""


def all_emails_url(address: str) -> str:
    """The inbox's every-view, filtered to one sender."""
    return f"/admin?view=all&customer={quote(address, safe='')}"


def _as_time(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _conversations(
    session: AsyncSession, *, store_id: int, message_pk: int, address: str
) -> list[TimelineEntry]:
    current = select(Message.conversation_id).where(Message.id == message_pk).scalar_subquery()
    statement = (
        select(
            Message.id,
            Message.conversation_id,
            Message.subject,
            Message.status,
            Message.received_at,
        )
        .where(
            Message.store_id == store_id,
            func.lower(Message.from_address) == address.lower(),
            Message.id != message_pk,
            # The email's own conversation is on the page already.
            (Message.conversation_id.is_(None))
            | (current.is_(None))
            | (Message.conversation_id != current),
        )
        .order_by(Message.received_at.desc(), Message.id.desc())
        .limit(MAX_EMAILS)
    )
    latest: dict[object, TimelineEntry] = {}
    counts: dict[object, int] = {}
    for pk, conversation, subject, status, received in (await session.execute(statement)).all():
        key = conversation if conversation is not None else f"email-{pk}"
        counts[key] = counts.get(key, 0) + 1
        if key in latest:
            continue
        latest[key] = TimelineEntry(
            kind="conversation",
            at=_as_time(received),
            title=subject or "(no subject)",
            status=word_label(str(status)),
            link=f"/admin/messages/{pk}",
        )
    entries = [
        TimelineEntry(
            kind=e.kind,
            at=e.at,
            title=e.title,
            status=e.status,
            link=e.link,
            detail=f"{counts[key]} emails" if counts[key] > 1 else None,
        )
        for key, e in latest.items()
    ]
    return entries[:MAX_CONVERSATIONS]


async def load_timeline(
    session: AsyncSession, *, store_id: int, message_pk: int, card: CustomerCard
) -> Timeline:
    """The sender's other conversations in store `store_id` and (verified only) their orders.

    `card` is the email's customer card (`load_customer_card`): its address is the sender's,
    its orders the verified sender's recent ones. One query, on the store's own emails.
    """
    if not card.address:
        return Timeline(address=None)
    entries = await _conversations(
        session, store_id=store_id, message_pk=message_pk, address=card.address
    )
    if card.verified:
        entries += [
            TimelineEntry(
                kind="order",
                at=datetime.combine(order.placed_on, time.min, tzinfo=UTC),
                title=order.order_number,
                status=order.status_text,
                detail=str(order.total),
            )
            for order in card.orders
        ]
    # Newest first; on the same day an order (placed at midnight here) sorts after emails.
    entries.sort(key=lambda e: e.at, reverse=True)
    return Timeline(
        address=card.address,
        entries=entries,
        all_emails_url=all_emails_url(card.address),
        orders_shown=card.verified,
    )
