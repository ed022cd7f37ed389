"""The summary figures that say whether the service helps: volume, automation, speed, cost.

Only reads, over a window of days; the queue and traces are in `app.admin.reporting`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.schemas import DayTokens, ResponseTimes, Summary
from app.db.models import Message, ModelTurn, Reply, utcnow
from app.db.statuses import MessageStatus, ReplyStatus
from app.replies.policy import Action

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
    messages = list(
        (await session.execute(select(Message).where(Message.received_at >= since))).scalars()
    )
    by_status = Counter(m.status for m in messages)
    by_intent = Counter(m.intent for m in messages if m.intent)
    replies = list(
        (
            await session.execute(
                select(Reply)
                .join(Message, Message.id == Reply.message_id)
                .where(Message.received_at >= since)
            )
        ).scalars()
    )
    received = {m.id: m.received_at for m in messages}
    intents = {m.id: m.intent for m in messages}
    sent = [r for r in replies if r.status is ReplyStatus.SENT and r.sent_at]
    first_sent: dict[int, datetime] = {}
    for reply in sent:
        assert reply.sent_at is not None
        if reply.message_id not in first_sent or reply.sent_at < first_sent[reply.message_id]:
            first_sent[reply.message_id] = reply.sent_at
    response_seconds = sorted(
        (at - received[pk]).total_seconds() for pk, at in first_sent.items() if pk in received
    )
    automated = {r.message_id for r in sent if r.is_automated}
    answered = {m.id for m in messages if m.status in ANSWERED}
    approvals: dict[str, list[int]] = defaultdict(list)
    for reply in replies:
        if reply.decision == Action.DRAFT and reply.decided_by and reply.edit_distance is not None:
            approvals[intents.get(reply.message_id) or "unknown"].append(reply.edit_distance)
    turns = (
        await session.execute(select(ModelTurn).where(ModelTurn.created_at >= since))
    ).scalars()
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: {"input": 0.0, "output": 0.0})
    for turn in turns:
        day = turn.created_at.date().isoformat()
        per_day[day]["input"] += turn.input_tokens
        per_day[day]["output"] += turn.output_tokens
    return Summary(
        days=days,
        emails=len(messages),
        by_status=dict(sorted(by_status.items())),
        by_intent=dict(sorted(by_intent.items())),
        automation_rate=len(automated & answered) / len(answered) if answered else None,
        answered=len(answered),
        answered_without_a_person=len(automated & answered),
        first_response_seconds=ResponseTimes(
            count=len(response_seconds),
            p50=_percentile(response_seconds, 50),
            p95=_percentile(response_seconds, 95),
        ),
        approved_as_is_rate={
            intent: sum(d == 0 for d in distances) / len(distances)
            for intent, distances in sorted(approvals.items())
        },
        tokens_per_day=[
            DayTokens(
                day=day,
                input_tokens=int(t["input"]),
                output_tokens=int(t["output"]),
                estimated_cost_usd=round(
                    t["input"] * prices.input_per_million / 1e6
                    + t["output"] * prices.output_per_million / 1e6,
                    4,
                ),
            )
            for day, t in sorted(per_day.items())
        ],
    )


def _percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return round(values[rank - 1], 3)
