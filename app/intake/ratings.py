"""Satisfaction ratings of sent replies: recorded once, and a "not good" reopens the email.

The customer rates through the reply's signed link (`app.intake.feedback`); the token names the
reply, and the reply row holds the rating, so a second rating through the same link is refused
(single use). A "not good" puts the email back in the needs-action view (`needs_human`, with
the reason) unless staff still have it open, and counts against the intent's autonomy
(`count_against_autonomy_in`, the one place that does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.db.models import Message, Reply
from app.db.statuses import MessageStatus, Rating, ReplyStatus
from app.replies.autonomy import Rules, report_wrong_in

logger = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 2000
REOPEN_REASON = "the customer rated the reply not good"
OPEN = frozenset(
    {
        MessageStatus.RECEIVED,
        MessageStatus.QUARANTINED,
        MessageStatus.NEEDS_HUMAN,
        MessageStatus.READY,
        MessageStatus.PLANNED,
        MessageStatus.DRAFTED,
    }
)
"""Statuses in which an email still waits for the service or for staff: not reopened again."""


class AlreadyUsed(Exception):
    """The link was used already (the reply is rated, or the comment given)."""


@dataclass(frozen=True, kw_only=True)
class Rated:
    """What a rating did."""

    reply_id: int
    store_id: int
    rating: Rating
    reopened: bool
    language: str


def rate_in(
    session: Session, reply_id: int, rating: Rating, *, now: datetime, rules: Rules | None = None
) -> Rated:
    """Record the customer's rating of a sent reply. Raises LookupError, AlreadyUsed.

    With `rules` (the autonomy settings), a "not good" also counts against the intent's autonomy.
    """
    reply = session.get(Reply, reply_id, with_for_update=True)
    if reply is None or reply.status is not ReplyStatus.SENT:
        raise LookupError(f"no sent reply {reply_id}")
    if reply.rated_at is not None:
        raise AlreadyUsed("this reply was rated already")
    reply.rating = rating
    reply.rated_at = now
    reopened = False
    if rating is Rating.NOT_GOOD:
        message = session.get(Message, reply.message_id)
        if message is not None:
            reopened = reopen_in(message)
        if rules is not None:
            count_against_autonomy_in(session, reply, rules)
    logger.info("reply rated", extra={"reply_id": reply.id, "rating": rating.value})
    return Rated(
        reply_id=reply.id,
        store_id=reply.store_id,
        rating=rating,
        reopened=reopened,
        language=reply.language or "en",
    )


def reopen_in(message: Message) -> bool:
    """Put an answered or closed email back in the needs-action view; False if it is open."""
    if message.status in OPEN:
        return False
    message.status = MessageStatus.NEEDS_HUMAN
    message.status_reason = REOPEN_REASON
    message.closed_reason = None
    message.closed_by = None
    message.closed_at = None
    return True


def count_against_autonomy_in(session: Session, reply: Reply, rules: Rules) -> None:
    """A "not good" rating counts against the autonomy of the reply's intent: the single hook.

    A reply the service sent on its own that the customer says was not good drops its intent
    (in its language) from `auto` to `draft`, in this unit of work (`autonomy.report_wrong_in`).
    """
    if reply.is_automated:
        report_wrong_in(session, reply.id, rules)


def comment_in(session: Session, reply_id: int, comment: str) -> None:
    """Add the optional comment to a rating just given. Raises LookupError, AlreadyUsed."""
    reply = session.get(Reply, reply_id, with_for_update=True)
    if reply is None or reply.rated_at is None:
        raise LookupError(f"no rated reply {reply_id}")
    if reply.rating_comment is not None:
        raise AlreadyUsed("a comment was given already")
    reply.rating_comment = " ".join(comment.split())[:MAX_COMMENT_CHARS]
