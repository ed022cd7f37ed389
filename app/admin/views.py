"""The inbox's views: what needs a person (the default), mine, unassigned, answered, closed...

A view is a condition on the emails, counted for its tab, and an order: the views of work still
to do list the longest-waiting customer first; the others list the newest first. The queue's
filters (status, intent, sender, text, customer) narrow any view.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import priority, reporting
from app.admin.filters import word_label
from app.db.models import Message, Reply
from app.db.statuses import MessageStatus, ReplyStatus

HELD = (MessageStatus.DRAFTED, MessageStatus.NEEDS_HUMAN, MessageStatus.QUARANTINED)
"""Emails that wait for a person by their own status."""
FAILED_SENDS = (ReplyStatus.DEAD, ReplyStatus.UNKNOWN, ReplyStatus.FAILED)


class InboxView(StrEnum):
    """The inbox's tabs."""

    NEEDS_ACTION = "needs_action"
    MINE = "mine"
    UNASSIGNED = "unassigned"
    SENT = "sent"
    CLOSED = "closed"
    SKIPPED = "skipped"
    ALL = "all"

    @property
    def label(self) -> str:
        """The tab's name: the words of the statuses it shows."""
        return _LABELS.get(self, word_label(self.value))

    @property
    def meaning(self) -> str:
        """What the view shows (the tab's tooltip, the API's description)."""
        return _MEANINGS[self]

    @property
    def by_priority(self) -> bool:
        """Whether the view puts the customers who matter most first (`app.admin.priority`)."""
        return self is InboxView.NEEDS_ACTION

    @property
    def oldest_first(self) -> bool:
        """Work still to do is listed by how long the customer has waited."""
        return self in (InboxView.NEEDS_ACTION, InboxView.MINE, InboxView.UNASSIGNED)


_LABELS = {InboxView.SENT: "answered"}
_MEANINGS = {
    InboxView.NEEDS_ACTION: "drafted, needs human, quarantined, or a reply that failed to send",
    InboxView.MINE: "needs action and assigned to you",
    InboxView.UNASSIGNED: "needs action and assigned to nobody",
    InboxView.SENT: "answered (a reply was sent or is being sent)",
    InboxView.CLOSED: "closed by staff without a reply",
    InboxView.SKIPPED: "never answered: robots, bounces, newsletters",
    InboxView.ALL: "every email",
}
VIEW_HELP = "; ".join(f"{v.value}: {v.meaning}" for v in InboxView)


def needs_action() -> ColumnElement[bool]:
    """Held for a person, or answered by a reply that did not (or may not) go out."""
    failed = select(Reply.message_id).where(Reply.status.in_(FAILED_SENDS))
    return Message.status.in_(HELD) | and_(
        Message.status == MessageStatus.ANSWERED, Message.id.in_(failed)
    )


def condition(view: InboxView, staff_id: int) -> ColumnElement[bool]:
    """The emails a view shows to staff member `staff_id`."""
    if view is InboxView.NEEDS_ACTION:
        return needs_action()
    if view is InboxView.MINE:
        return needs_action() & (Message.assigned_to_id == staff_id)
    if view is InboxView.UNASSIGNED:
        return needs_action() & Message.assigned_to_id.is_(None)
    if view is InboxView.SENT:
        return Message.status == MessageStatus.ANSWERED
    if view is InboxView.CLOSED:
        return Message.status == MessageStatus.CLOSED
    if view is InboxView.SKIPPED:
        return Message.status == MessageStatus.SKIPPED
    return true()


async def counts(session: AsyncSession, staff_id: int) -> dict[str, int]:
    """How many emails each view shows (one aggregate query per view)."""
    return {
        view.value: await reporting.count_where(session, condition(view, staff_id))
        for view in InboxView
    }


async def neighbour(
    session: AsyncSession,
    view: InboxView,
    staff_id: int,
    message_pk: int,
    *,
    backwards: bool = False,
) -> int | None:
    """The email after `message_pk` in the view's order (approve-and-next), else its first.

    `backwards`: the one before it instead (none before the first).
    """
    wanted = condition(view, staff_id) & (Message.id != message_pk)
    if view.by_priority:
        following = priority.before(message_pk) if backwards else priority.after(message_pk)
        ranked = priority.order()
        if backwards:
            ranked = (priority.priority().asc(), Message.id.desc())
        for extra in (following, true()) if not backwards else (following,):
            statement = select(Message.id).where(wanted, extra).order_by(*ranked).limit(1)
            found = (await session.execute(statement)).scalar_one_or_none()
            if found is not None:
                return int(found)
        return None
    later = view.oldest_first != backwards
    following = Message.id > message_pk if later else Message.id < message_pk
    order = Message.id.asc() if later else Message.id.desc()
    for extra in (following, true()) if not backwards else (following,):
        statement = select(Message.id).where(wanted, extra).order_by(order).limit(1)
        found = (await session.execute(statement)).scalar_one_or_none()
        if found is not None:
            return int(found)
    return None
