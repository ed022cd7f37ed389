"""What became of the replies we sent: delivery events recorded, matched, and the suppression list.

An event is stored once (the provider's event id is unique), then matched to its reply by the
provider message id the send returned, or by our Message-ID header. An event can come before
its reply's send is recorded (the provider is fast, or our worker slow): it waits unmatched and
is matched by `match_sent_in` once the send is recorded. Matching is safe against both happening
at once: on PostgreSQL each side first takes a transaction lock on the ids involved, so one of
the two always sees the other's committed row. SQLite runs one writer at a time anyway.

A reply keeps the most final state it was told of (`app.mail.delivery.state_key`), so events
arriving out of order leave the same state as in order. A hard bounce or a spam report puts
the address on its store's suppression list; a lifted entry comes back only for an event that
happened after the lift.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db.delivery import address_keys
from app.db.models import DeliveryEventRecord, Reply, Suppression, utcnow
from app.db.statuses import DeliveryState
from app.mail.delivery import (
    DeliveryEvent,
    EventKind,
    message_key,
    same_message,
    sent_ids,
    state_key,
)

logger = logging.getLogger(__name__)

MAX_DESCRIPTION = 500


@dataclass(frozen=True, slots=True)
class Recorded:
    """What one batch of events did."""

    stored: int = 0
    duplicates: int = 0
    matched: int = 0
    suppressed: int = 0


@dataclass(frozen=True, slots=True)
class _Stored:
    """A stored event, as applying it needs it."""

    id: int
    kind: DeliveryState
    hard: bool
    recipient: str
    occurred_at: datetime
    reason: str


def record_events_in(session: Session, events: Sequence[DeliveryEvent]) -> Recorded:
    """Store each new event once, match it to its reply if known, and apply it (every store)."""
    _lock(
        session,
        (key for event in events for key in _keys(event.provider_message_id, event.rfc_message_id)),
    )
    stored = duplicates = matched = suppressed = 0
    for event in events:
        row = _insert(session, event)
        if row is None:
            duplicates += 1
            continue
        stored += 1
        reply = _reply_for(session, event.provider_message_id, event.rfc_message_id)
        if reply is not None:
            matched += 1
            suppressed += _apply(session, reply, [row])
    return Recorded(stored=stored, duplicates=duplicates, matched=matched, suppressed=suppressed)


def lock_message_in(session: Session, provider_id: str | None, rfc_id: str | None) -> None:
    """PostgreSQL: hold the transaction locks of one email's ids, always in the same order.

    Both sides take these before they touch the reply row, the event side and the send side
    (`app.replies.outbox.record_outcome_in`), so neither can wait on the other's row while
    holding a lock the other needs.
    """
    _lock(session, _keys(provider_id, rfc_id))


def match_sent_in(session: Session, reply: Reply) -> int:
    """Apply the events that came before this sent reply's ids were recorded; return how many.

    Runs in the unit of work that records the send (the reply's store): the waiting events
    belong to no store yet, so they are read and marked with Core statements on the connection,
    by the exact ids of this reply only. The caller took `lock_message_in` on those ids first.
    """
    table = _events()
    sent_id, rfc_id = reply.provider_message_id, reply.rfc_message_id
    wanted: list[ColumnElement[bool]] = []
    if sent_id:
        wanted.append(table.c.message_key == message_key(sent_id))
    if rfc_id:
        wanted.append(table.c.rfc_message_id == rfc_id)
    if not wanted:
        return 0
    statement = (
        select(
            table.c.id,
            table.c.kind,
            table.c.hard,
            table.c.recipient,
            table.c.occurred_at,
            table.c.reason,
            table.c.provider_message_id,
            table.c.rfc_message_id,
        )
        .where(table.c.reply_id.is_(None), or_(*wanted))
        .order_by(table.c.id)
    )
    waiting = [
        _Stored(*row[:6])
        for row in session.connection().execute(statement)
        # The key only narrows the search: the full id must name this very send.
        if (rfc_id and row.rfc_message_id == rfc_id)
        or (sent_id and row.provider_message_id and same_message(row.provider_message_id, sent_id))
    ]
    if not waiting:
        return 0
    _apply(session, reply, waiting)
    logger.info("delivery events matched late", extra={"reply_id": reply.id, "count": len(waiting)})
    return len(waiting)


def suppression_in(session: Session, store_id: int, address: str) -> Suppression | None:
    """The store's suppression of `address` in force, if any."""
    statement = select(Suppression).where(
        Suppression.store_id == store_id,
        Suppression.address.in_(address_keys(address)),
        Suppression.lifted_at.is_(None),
    )
    return session.execute(statement).scalar_one_or_none()


def describe(suppression: Suppression) -> str:
    """Why an address gets no automated mail, for a draft's reasons and the email page."""
    what = (
        "reported one of our replies as spam"
        if suppression.kind is DeliveryState.SPAM_REPORT
        else "bounced hard"
    )
    when = suppression.occurred_at.strftime("%Y-%m-%d %H:%M UTC")
    said = f": {suppression.reason}" if suppression.reason else ""
    return f"{suppression.address} {what} on {when}{said}"[:MAX_DESCRIPTION]


# --- inside -------------------------------------------------------------------------------------


def _events() -> Table:
    """The events table, for the Core statements on rows that have no store yet."""
    table = DeliveryEventRecord.__table__
    assert isinstance(table, Table)
    return table


def _keys(provider_id: str | None, rfc_id: str | None) -> list[str]:
    """The lock keys of one email: what both its send and its events are sure to carry."""
    return [key for key in (message_key(provider_id or ""), rfc_id) if key]


def _lock(session: Session, keys: Iterable[str]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        # SQLite runs one writer at a time: nothing can interleave.
        return
    numbers = sorted({_lock_number(key) for key in keys})
    if numbers:
        session.execute(select(*(func.pg_advisory_xact_lock(number) for number in numbers)))


def _lock_number(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _insert(session: Session, event: DeliveryEvent) -> _Stored | None:
    """The new event, or None when it was stored before (a redelivery)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    kind = DeliveryState(event.kind.value)
    statement = (
        insert(DeliveryEventRecord)
        .values(
            provider=event.provider,
            event_id=event.event_id,
            kind=kind,
            hard=event.hard,
            recipient=event.recipient,
            provider_message_id=event.provider_message_id,
            message_key=message_key(event.provider_message_id or "") or None,
            rfc_message_id=event.rfc_message_id,
            occurred_at=event.occurred_at,
            received_at=utcnow(),
            reason=event.reason,
            store_id=None,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(DeliveryEventRecord.id)
    )
    new_id = session.execute(statement).scalar_one_or_none()
    if new_id is None:
        return None
    return _Stored(new_id, kind, event.hard, event.recipient, event.occurred_at, event.reason)


def _reply_for(session: Session, provider_id: str | None, rfc_id: str | None) -> Reply | None:
    conditions: list[ColumnElement[bool]] = []
    if provider_id:
        conditions.append(Reply.provider_message_id.in_(sent_ids(provider_id)))
    if rfc_id:
        conditions.append(Reply.rfc_message_id == rfc_id)
    if not conditions:
        return None
    statement = select(Reply).where(or_(*conditions)).order_by(Reply.id).limit(1)
    return session.execute(statement.with_for_update()).scalar_one_or_none()


def _apply(session: Session, reply: Reply, events: Sequence[_Stored]) -> int:
    """Match events to the reply, keep its most final state, suppress; return the suppressions."""
    table = _events()
    session.connection().execute(
        update(table)
        .where(table.c.id.in_([event.id for event in events]))
        .values(reply_id=reply.id, store_id=reply.store_id, matched_at=utcnow())
    )
    suppressed = 0
    for event in events:
        if _outranks(event, reply):
            reply.delivery_state = event.kind
            reply.delivery_hard = event.hard
            reply.delivery_at = event.occurred_at
            reply.delivery_reason = event.reason
        kind = EventKind(event.kind.value)
        if kind is EventKind.SPAM_REPORT or (kind is EventKind.BOUNCED and event.hard):
            suppressed += _suppress(session, reply, event)
    return suppressed


def _outranks(event: _Stored, reply: Reply) -> bool:
    """Whether the event says something more final (or newer) than the reply's state."""
    if reply.delivery_state is None or reply.delivery_at is None:
        return True
    new = state_key(EventKind(event.kind.value), event.hard, event.occurred_at, event.reason)
    current = state_key(
        EventKind(reply.delivery_state.value),
        reply.delivery_hard,
        reply.delivery_at,
        reply.delivery_reason or "",
    )
    return new > current


def _suppress(session: Session, reply: Reply, event: _Stored) -> int:
    """Put the address on the store's list (or back on it after a lift older than the event)."""
    address = (event.recipient or reply.to_address_key).lower()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {
        "store_id": reply.store_id,
        "address": address,
        "kind": event.kind,
        "reason": event.reason,
        "delivery_event_id": event.id,
        "reply_id": reply.id,
        "occurred_at": event.occurred_at,
        "suppressed_at": utcnow(),
    }
    added = session.execute(
        insert(Suppression)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["store_id", "address"])
        .returning(Suppression.id)
    ).scalar_one_or_none()
    if added is not None:
        logger.warning(
            "address suppressed",
            extra={"store_id": reply.store_id, "reply_id": reply.id, "kind": event.kind.value},
        )
        return 1
    statement = select(Suppression).where(
        Suppression.store_id == reply.store_id, Suppression.address == address
    )
    existing = session.execute(statement.with_for_update()).scalar_one()
    if existing.lifted_at is None or event.occurred_at <= existing.lifted_at:
        # In force already, or staff lifted it after this happened: their decision stands.
        return 0
    for name, value in values.items():
        setattr(existing, name, value)
    existing.lifted_at = None
    existing.lifted_by = None
    return 1
