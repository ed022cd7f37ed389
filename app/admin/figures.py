"""The summary figures that say whether the service helps: volume, automation, speed, cost.

Only reads, over a window of days; the queue and traces are in `app.admin.reporting`. The
figures are SQL aggregates from `app.admin.report_queries` (the reports page's queries): no
email or reply row is loaded into Python, however many the window holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import report_queries
from app.admin.report_views import DayTokens, Summary
from app.db.models import utcnow
from app.db.statuses import MessageStatus

ANSWERED = (MessageStatus.ANSWERED, MessageStatus.DRAFTED, MessageStatus.CLOSED)
"""Emails that got an answer, from the service or from staff (rejecting a draft closes it)."""


@dataclass(frozen=True, kw_only=True)
class Prices:
    """USD per million tokens, for the cost estimate."""

    input_per_million: float
    output_per_million: float


async def summary(session: AsyncSession, *, days: int, prices: Prices) -> Summary:
    """The figures that say whether the service helps: volume, automation, speed, edits, cost."""
    since = utcnow() - timedelta(days=days)
    window = report_queries.Window(since=since)
    by_status: Counter[MessageStatus] = Counter()
    by_intent: Counter[str] = Counter()
    answered = without_a_person = 0
    for row in await report_queries.volumes(session, window):
        by_status[row.status] += row.emails
        if row.intent:
            by_intent[row.intent] += row.emails
        if row.status in ANSWERED:
            answered += row.emails
            without_a_person += row.automatic
    drafts = await report_queries.drafts(session, window)
    tokens = await report_queries.tokens_per_day(session, since)
    return Summary(
        days=days,
        emails=sum(by_status.values()),
        by_status=dict(sorted(by_status.items())),
        by_intent=dict(sorted(by_intent.items())),
        automation_rate=without_a_person / answered if answered else None,
        answered=answered,
        answered_without_a_person=without_a_person,
        first_response_seconds=await report_queries.response_times(session, window),
        approved_as_is_rate={
            intent or "unknown": rate
            for intent, decided in sorted(drafts.items(), key=lambda d: d[0] or "unknown")
            if (rate := decided.as_is_rate) is not None
        },
        tokens_per_day=[
            DayTokens(
                day=day,
                input_tokens=spent_in,
                output_tokens=spent_out,
                estimated_cost_usd=round(
                    spent_in * prices.input_per_million / 1e6
                    + spent_out * prices.output_per_million / 1e6,
                    4,
                ),
            )
            for day, (spent_in, spent_out) in sorted(tokens.items())
        ],
    )
