"""Resolution: did a sent reply settle the customer's question, and the automation rate from it.

Every sent reply gets a check (`schedule_checks_in`, run by the worker's after-sale sweep), due
RESOLUTION_CHECK_HOURS after it was sent. When due (`decide_due_in`), the reply counts as
resolved if the customer did not write again in that time: no email from them in that
conversation, nor from their address to this store (an auto-reply of theirs is not writing
again). A resolved *automated* reply is a conversation resolved without a person.

`automation_rate` is the reports page's figure: involvement (the share of checked replies the
service sent on its own) × resolution (the share of those that were resolved) — so it equals
the share of checked replies resolved without a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.aftersale import ResolutionCheck
from app.db.models import Message, Reply
from app.db.statuses import MessageStatus, Rating, ReplyStatus

BATCH = 500
"""Checks scheduled or decided per sweep (a backlog is worked off over a few sweeps)."""


def schedule_checks_in(session: Session, *, hours: int, now: datetime) -> int:
    """A check for every sent reply that has none yet; return how many were added."""
    statement = (
        select(Reply)
        .where(
            Reply.status == ReplyStatus.SENT,
            Reply.sent_at.is_not(None),
            ~exists().where(ResolutionCheck.reply_id == Reply.id),
        )
        .order_by(Reply.id)
        .limit(BATCH)
    )
    added = 0
    for reply in session.execute(statement).scalars():
        sent_at = reply.sent_at or now
        session.add(
            ResolutionCheck(
                store_id=reply.store_id,
                reply_id=reply.id,
                conversation_id=reply.conversation_id,
                address=reply.to_address_key,
                automated=reply.is_automated,
                sent_at=sent_at,
                due_at=sent_at + timedelta(hours=hours),
            )
        )
        added += 1
    session.flush()
    return added


def decide_due_in(session: Session, *, now: datetime) -> int:
    """Decide every check that is due; return how many were decided."""
    statement = (
        select(ResolutionCheck)
        .where(ResolutionCheck.checked_at.is_(None), ResolutionCheck.due_at <= now)
        .order_by(ResolutionCheck.due_at)
        .limit(BATCH)
    )
    checks = list(session.execute(statement).scalars())
    for check in checks:
        again = wrote_again_in(session, check)
        check.wrote_again_id = again
        check.resolved = again is None
        check.checked_at = now
    return len(checks)


def wrote_again_in(session: Session, check: ResolutionCheck) -> int | None:
    """The customer's first email to this store after the reply and before the check was due."""
    same_customer = [func.lower(Message.from_address) == check.address]
    if check.conversation_id is not None:
        same_customer.append(Message.conversation_id == check.conversation_id)
    statement = (
        select(Message.id)
        .where(
            Message.store_id == check.store_id,
            or_(*same_customer),
            Message.received_at > check.sent_at,
            Message.received_at <= check.due_at,
            # Their out-of-office or a bounce is not the customer writing again.
            Message.status != MessageStatus.SKIPPED,
        )
        .order_by(Message.received_at)
        .limit(1)
    )
    return session.execute(statement).scalar_one_or_none()


@dataclass(frozen=True, kw_only=True)
class AutomationRate:
    """Resolution-based automation over the replies checked in a period."""

    checked: int
    """Sent replies whose check was decided."""
    automated: int
    """Of those, sent by the service on its own."""
    resolved_automated: int
    """Of those, resolved: the customer did not write again (resolved without a person)."""

    @property
    def involvement(self) -> float | None:
        return self.automated / self.checked if self.checked else None

    @property
    def resolution(self) -> float | None:
        return self.resolved_automated / self.automated if self.automated else None

    @property
    def rate(self) -> float | None:
        """Involvement × resolution: the share of checked replies resolved without a person."""
        return self.resolved_automated / self.checked if self.checked else None


async def automation_rate(
    session: AsyncSession, *, since: datetime, until: datetime
) -> AutomationRate:
    """The automation rate of replies sent in [since, until) (the session's store scope applies)."""
    decided = ResolutionCheck.checked_at.is_not(None)
    automated = ResolutionCheck.automated.is_(True)
    statement = select(
        func.count(ResolutionCheck.id),
        func.count(ResolutionCheck.id).filter(automated),
        func.count(ResolutionCheck.id).filter(automated, ResolutionCheck.resolved.is_(True)),
    ).where(decided, ResolutionCheck.sent_at >= since, ResolutionCheck.sent_at < until)
    checked, automated_count, resolved = (await session.execute(statement)).one()
    return AutomationRate(
        checked=int(checked), automated=int(automated_count), resolved_automated=int(resolved)
    )


async def satisfaction(
    session: AsyncSession, *, since: datetime, until: datetime
) -> dict[str, int]:
    """Ratings given in [since, until), by answer (for the reports page; the scope applies)."""
    statement = (
        select(Reply.rating, func.count(Reply.id))
        .where(Reply.rating.is_not(None), Reply.rated_at >= since, Reply.rated_at < until)
        .group_by(Reply.rating)
    )
    counts = {rating.value: 0 for rating in Rating}
    for rating, count in (await session.execute(statement)).all():
        counts[str(rating)] = int(count)
    return counts
