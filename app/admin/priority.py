"""The needs-action view's order: the customers who matter most now first, then the oldest.

A customer's LFRM segment gives a priority (`app.store.segments.priority`: at risk and
champions highest); within one priority the longest-waiting email comes first. Paging and
approve-and-next walk the same order with a keyset on (priority, id), the priority of the
cursor's email read in the same statement.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import aliased

from app.db.models import Message
from app.store.segment_cuts import sender_priority


def priority() -> ColumnElement[int]:
    """The priority of each email's sender (1 when their segment is not known)."""
    return sender_priority(Message.store_id, Message.from_address)


def _priority_of(message_pk: int) -> ColumnElement[int]:
    other = aliased(Message)
    return (
        select(sender_priority(other.store_id, other.from_address))
        .where(other.id == message_pk)
        .scalar_subquery()
    )


def order() -> tuple[ColumnElement[int], ColumnElement[int]]:
    """Highest priority first, then oldest first."""
    return priority().desc(), Message.id.asc()


def after(message_pk: int) -> ColumnElement[bool]:
    """Emails after `message_pk` in that order."""
    mine, theirs = priority(), _priority_of(message_pk)
    return or_(mine < theirs, and_(mine == theirs, Message.id > message_pk))


def before(message_pk: int) -> ColumnElement[bool]:
    """Emails before `message_pk` in that order."""
    mine, theirs = priority(), _priority_of(message_pk)
    return or_(mine > theirs, and_(mine == theirs, Message.id < message_pk))
