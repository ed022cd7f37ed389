"""The reports' SQL: every figure is an aggregate the database computes, on SQLite and PostgreSQL.

Nothing here loads emails or replies into Python: the largest answer is one row per day,
intent and status of the period (grouped counts), and the percentiles are the two rows
picked by rank. Every statement goes through the ORM's mapped classes, so the store scope of
the unit of work (`app.db.scope`) filters each table, subqueries included.

Who answered an email is a join with its sent replies grouped per email: with the planner's
statistics PostgreSQL hash-joins it (about 0.1 s for the whole report at 8,000 emails). On
tables bulk-loaded and never analysed (autovacuum analyses within a minute) it may pick a
nested loop that takes seconds; correlated EXISTS subqueries did no better there.

The two expressions the databases spell differently (the UTC day of a timestamp, the seconds
between two) are SQL constructs compiled per dialect below, so the queries themselves are one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Float, String, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement, Subquery

from app.admin.report_views import DayFigures, IntentFigures, Report, ResponseTimes, StatusVolume
from app.db.models import Message, ModelTurn, Reply, utcnow
from app.db.statuses import MessageStatus, ReplyStatus
from app.replies.policy import Action

PERCENTS = (50, 95)


class day_of(FunctionElement[str]):
    """The UTC calendar day of a timestamp, as `YYYY-MM-DD` text."""

    type = String()
    inherit_cache = True


@compiles(day_of)
def _day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    # SQLite stores UTC timestamps as ISO text (`app.db.base.UTCDateTime`).
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(day_of, "postgresql")
def _day_of_postgresql(element: day_of, compiler: Any, **kw: Any) -> str:
    # A timestamptz has no day of its own: the session's time zone would choose it.
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class seconds_between(FunctionElement[float]):
    """`later - earlier` in seconds (fractions kept)."""

    type = Float()
    inherit_cache = True


def _pair(element: seconds_between, compiler: Any, **kw: Any) -> tuple[str, str]:
    later, earlier = element.clauses
    return compiler.process(later, **kw), compiler.process(earlier, **kw)


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = _pair(element, compiler, **kw)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = _pair(element, compiler, **kw)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


@dataclass(frozen=True, kw_only=True)
class Window:
    """Emails received from `since` (included) to `until` (excluded; None: up to now)."""

    since: datetime
    until: datetime | None = None

    @classmethod
    def last_days(cls, days: int, today: date | None = None) -> Window:
        """The last `days` calendar days (UTC), today included."""
        today = today or utcnow().date()
        first = today - timedelta(days=days - 1)
        return cls(
            since=datetime.combine(first, time(), tzinfo=UTC),
            until=datetime.combine(today + timedelta(days=1), time(), tzinfo=UTC),
        )

    def days(self) -> list[date]:
        """Every calendar day of the window, oldest first."""
        first, last = self.since.date(), (self.until or utcnow()).date()
        return [first + timedelta(days=n) for n in range((last - first).days)]

    def condition(self) -> ColumnElement[bool]:
        """Which emails are the window's: by when they were received."""
        if self.until is None:
            return Message.received_at >= self.since
        return and_(Message.received_at >= self.since, Message.received_at < self.until)


def _answers() -> Subquery:
    """Per email with a sent reply: when the first went out, and who answered.

    `automatic` is 1 when a reply the service sent on its own went out (automated and decided
    `send` by the policy); `by_staff` is 1 when a reply staff approved went out.
    """
    automatic = and_(Reply.is_automated.is_(True), Reply.decision == Action.SEND.value)
    return (
        select(
            Reply.message_id.label("message_id"),
            func.min(Reply.sent_at).label("first_sent_at"),
            func.max(case((automatic, 1), else_=0)).label("automatic"),
            func.max(case((Reply.is_automated.is_(False), 1), else_=0)).label("by_staff"),
        )
        .where(Reply.status == ReplyStatus.SENT, Reply.sent_at.is_not(None))
        .group_by(Reply.message_id)
        .subquery("answers")
    )


@dataclass
class Volume:
    """Emails of one day, intent and status, and how many were answered, and how."""

    day: date
    intent: str | None
    status: MessageStatus
    emails: int
    automatic: int
    by_staff: int
    """Answered by staff and not automatically as well (an email counts once)."""


async def volumes(session: AsyncSession, window: Window) -> list[Volume]:
    """Counts of the window's emails grouped by day, intent and status: one query."""
    answers = _answers()
    day = day_of(Message.received_at)
    automatic = func.coalesce(answers.c.automatic, 0)
    staff_only = case((and_(answers.c.by_staff == 1, automatic == 0), 1), else_=0)
    statement = (
        select(
            day.label("day"),
            Message.intent,
            Message.status,
            func.count().label("emails"),
            func.sum(automatic).label("automatic"),
            func.sum(staff_only).label("by_staff"),
        )
        .select_from(Message)
        .outerjoin(answers, answers.c.message_id == Message.id)
        .where(window.condition())
        .group_by(day, Message.intent, Message.status)
    )
    return [
        Volume(
            day=date.fromisoformat(str(row.day)),
            intent=row.intent,
            status=MessageStatus(row.status),
            emails=int(row.emails),
            automatic=int(row.automatic or 0),
            by_staff=int(row.by_staff or 0),
        )
        for row in await session.execute(statement)
    ]


async def response_times(session: AsyncSession, window: Window) -> ResponseTimes:
    """Seconds from receiving each email to its first sent reply: nearest-rank p50 and p95.

    The rank is computed in SQL (ROW_NUMBER and COUNT as window functions, which both
    databases have; SQLite has no percentile_cont) and only the ranked rows asked for come
    back: rank ceil(p * n / 100), in integers as (n * p + 99) // 100.
    """
    answers = _answers()
    seconds = seconds_between(answers.c.first_sent_at, Message.received_at)
    ranked = (
        select(
            seconds.label("seconds"),
            func.row_number().over(order_by=seconds).label("rank"),
            func.count().over().label("total"),
        )
        .select_from(Message)
        .join(answers, answers.c.message_id == Message.id)
        .where(window.condition())
        .subquery("ranked")
    )
    wanted = [(ranked.c.total * percent + 99) // 100 for percent in PERCENTS]
    statement = select(ranked.c.rank, ranked.c.total, ranked.c.seconds).where(
        or_(*(ranked.c.rank == rank for rank in wanted))
    )
    found = {
        int(row.rank): (int(row.total), float(row.seconds))
        for row in await session.execute(statement)
    }
    total = next(iter(found.values()))[0] if found else 0

    def pick(percent: int) -> float | None:
        if not total:
            return None
        return round(found[(total * percent + 99) // 100][1], 3)

    return ResponseTimes(count=total, p50=pick(50), p95=pick(95))


@dataclass
class Drafts:
    """Drafts of one intent staff decided."""

    decided: int = 0
    approved: int = 0
    as_is: int = 0
    rejected: int = 0
    mean_edit_distance: float | None = None

    @property
    def as_is_rate(self) -> float | None:
        return self.as_is / self.approved if self.approved else None


async def drafts(session: AsyncSession, window: Window) -> dict[str | None, Drafts]:
    """Per intent, the window's drafts staff decided: approved (as is or edited) or rejected."""
    approved = Reply.edit_distance.is_not(None)
    statement = (
        select(
            Message.intent,
            func.count().label("decided"),
            func.sum(case((approved, 1), else_=0)).label("approved"),
            func.sum(case((Reply.edit_distance == 0, 1), else_=0)).label("as_is"),
            func.sum(case((Reply.status == ReplyStatus.REJECTED, 1), else_=0)).label("rejected"),
            func.avg(Reply.edit_distance).label("mean_edit_distance"),
        )
        .join_from(Reply, Message, Reply.message_id == Message.id)
        .where(
            window.condition(),
            Reply.decision == Action.DRAFT.value,
            Reply.decided_by.is_not(None),
        )
        .group_by(Message.intent)
    )
    return {
        row.intent: Drafts(
            decided=int(row.decided),
            approved=int(row.approved or 0),
            as_is=int(row.as_is or 0),
            rejected=int(row.rejected or 0),
            mean_edit_distance=None
            if row.mean_edit_distance is None
            else round(float(row.mean_edit_distance), 3),
        )
        for row in await session.execute(statement)
    }


async def tokens_per_day(session: AsyncSession, since: datetime) -> dict[str, tuple[int, int]]:
    """Model tokens (input, output) per UTC day since `since`."""
    day = day_of(ModelTurn.created_at)
    statement = (
        select(
            day.label("day"),
            func.sum(ModelTurn.input_tokens).label("input"),
            func.sum(ModelTurn.output_tokens).label("output"),
        )
        .where(ModelTurn.created_at >= since)
        .group_by(day)
        .order_by(day)
    )
    return {
        str(row.day): (int(row.input or 0), int(row.output or 0))
        for row in await session.execute(statement)
    }


@dataclass
class _Tally:
    emails: int = 0
    automatic: int = 0
    by_staff: int = 0
    skipped: int = 0
    statuses: dict[MessageStatus, int] = field(default_factory=lambda: defaultdict(int))


async def report(session: AsyncSession, *, days: int, today: date | None = None) -> Report:
    """One store's figures over the last `days` days (the session's store scope decides which).

    Automation rate: of the emails received in the period that could be answered (all but the
    skipped robots: auto-replies, bounces, list mail, our own mail), the share that got a reply
    the service sent on its own, without a person: an automated reply the send policy decided
    to send, and that was sent. Drafts a person approved count as answered by staff, however
    little they changed.
    """
    window = Window.last_days(days, today)
    rows = await volumes(session, window)
    total = _Tally()
    per_day: dict[date, _Tally] = defaultdict(_Tally)
    per_intent: dict[str | None, _Tally] = defaultdict(_Tally)
    for row in rows:
        skipped = row.emails if row.status is MessageStatus.SKIPPED else 0
        for tally in (total, per_day[row.day], per_intent[row.intent]):
            tally.emails += row.emails
            tally.skipped += skipped
            tally.automatic += row.automatic
            tally.by_staff += row.by_staff
            tally.statuses[row.status] += row.emails
    decided = await drafts(session, window)
    counted = total.emails - total.skipped
    return Report(
        days=days,
        since=window.since,
        until=window.until or utcnow(),
        emails=total.emails,
        counted=counted,
        answered_automatically=total.automatic,
        answered_by_staff=total.by_staff,
        automation_rate=total.automatic / counted if counted else None,
        first_response_seconds=await response_times(session, window),
        intents=[
            _intent_figures(intent, per_intent.get(intent, _Tally()), decided.get(intent))
            for intent in sorted(
                per_intent.keys() | decided.keys(),
                key=lambda i: (i is None, -per_intent.get(i, _Tally()).emails, i or ""),
            )
        ],
        statuses=[
            StatusVolume(status=status, emails=count)
            for status, count in sorted(total.statuses.items(), key=lambda s: (-s[1], s[0]))
        ],
        daily=[
            DayFigures(
                day=day,
                received=per_day[day].emails - per_day[day].skipped,
                answered_automatically=per_day[day].automatic,
                answered_by_staff=per_day[day].by_staff,
            )
            for day in window.days()
        ],
    )


def _intent_figures(intent: str | None, tally: _Tally, decided: Drafts | None) -> IntentFigures:
    decided = decided or Drafts()
    return IntentFigures(
        intent=intent,
        emails=tally.emails,
        answered_automatically=tally.automatic,
        decided_drafts=decided.decided,
        approved=decided.approved,
        approved_as_is=decided.as_is,
        rejected=decided.rejected,
        approved_as_is_rate=decided.as_is_rate,
        mean_edit_distance=decided.mean_edit_distance,
    )
