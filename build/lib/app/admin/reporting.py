"""Read models for staff: the queue with filters, one email's full trace, and the summary figures.

Only reads. Everything returned is plain JSON-ready data; raw request bytes never leave the
database through here.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    AgentRun,
    AuditEntry,
    Conversation,
    Job,
    Message,
    ModelTurn,
    ProposedAction,
    Reply,
    ToolCall,
    utcnow,
)
from app.mail.models import MessageStatus
from app.replies.outbox import ReplyStatus

MAX_PAGE = 100
FAILED_REPLY_STATUSES = (ReplyStatus.DEAD, ReplyStatus.UNKNOWN, ReplyStatus.FAILED)

QUEUE_FILTERS: dict[str, str] = {
    "draft": "a draft waits for staff",
    "sent": "answered (a reply was sent or is being sent)",
    "skipped": "never answered (machines, spam)",
    "quarantined": "authentic but unreadable",
    "failed": "a reply that could not be delivered (dead, unknown, retrying)",
    "needs_human": "held for a person with no draft",
    "closed": "draft rejected by staff",
    "pending": "still being processed",
}


@dataclass(frozen=True, kw_only=True)
class QueueFilter:
    """What staff asked to see."""

    status: str | None = None
    intent: str | None = None
    verified: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    before_id: int | None = None
    """Keyset pagination: messages older (by id) than this one."""
    limit: int = 50


def _status_condition(status: str) -> Any:
    latest_failed = select(Reply.message_id).where(
        Reply.status.in_([s.value for s in FAILED_REPLY_STATUSES])
    )
    return {
        "draft": Message.status == MessageStatus.DRAFTED.value,
        "sent": Message.status == MessageStatus.ANSWERED.value,
        "skipped": Message.status == MessageStatus.SKIPPED.value,
        "quarantined": Message.status == MessageStatus.QUARANTINED.value,
        "failed": Message.id.in_(latest_failed),
        "needs_human": Message.status == MessageStatus.NEEDS_HUMAN.value,
        "closed": Message.status == MessageStatus.CLOSED.value,
        "pending": Message.status.in_(
            [
                MessageStatus.RECEIVED.value,
                MessageStatus.READY.value,
                MessageStatus.PLANNED.value,
            ]
        ),
    }[status]


def _queue_query(wanted: QueueFilter) -> Select[Message]:
    statement = select(Message)
    if wanted.status:
        if wanted.status not in QUEUE_FILTERS:
            raise ValueError(f"unknown status filter {wanted.status!r}")
        statement = statement.where(_status_condition(wanted.status))
    if wanted.intent:
        statement = statement.where(Message.intent == wanted.intent)
    if wanted.verified is not None:
        statement = statement.where(Message.sender_verified.is_(wanted.verified))
    if wanted.since:
        statement = statement.where(Message.received_at >= wanted.since)
    if wanted.until:
        statement = statement.where(Message.received_at < wanted.until)
    if wanted.text:
        needle = f"%{_escape_like(wanted.text.strip())}%"
        statement = statement.where(
            or_(
                Message.subject.ilike(needle, escape="\\"),
                Message.from_address.ilike(needle, escape="\\"),
                Message.from_name.ilike(needle, escape="\\"),
                Message.clean_text.ilike(needle, escape="\\"),
            )
        )
    if wanted.before_id:
        statement = statement.where(Message.id < wanted.before_id)
    return statement.order_by(Message.id.desc())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_messages(session: AsyncSession, wanted: QueueFilter) -> dict[str, Any]:
    """One page of the queue, newest first, with each email's latest reply in brief."""
    limit = max(1, min(MAX_PAGE, wanted.limit))
    rows: list[Message] = list(
        (await session.execute(_queue_query(wanted).limit(limit + 1))).scalars()
    )
    page, more = rows[:limit], len(rows) > limit
    replies = await _latest_replies(session, [m.id for m in page])
    return {
        "items": [_summary_of(message, replies.get(message.id)) for message in page],
        "next_before_id": page[-1].id if more and page else None,
    }


async def _latest_replies(session: AsyncSession, message_pks: list[int]) -> dict[int, Reply]:
    if not message_pks:
        return {}
    statement = select(Reply).where(Reply.message_id.in_(message_pks)).order_by(Reply.id)
    latest: dict[int, Reply] = {}
    for reply in (await session.execute(statement)).scalars():
        latest[reply.message_id] = reply
    return latest


def _summary_of(message: Message, reply: Reply | None) -> dict[str, Any]:
    plan = message.reply_plan or {}
    return {
        "id": message.id,
        "received_at": message.received_at.isoformat(),
        "status": message.status,
        "status_reason": message.status_reason,
        "from_name": message.from_name,
        "from_address": message.from_address,
        "sender_verified": message.sender_verified,
        "subject": message.subject,
        "intent": message.intent,
        "language": plan.get("language"),
        "confidence": plan.get("confidence"),
        "needs_human": plan.get("needs_human"),
        "conversation_id": message.conversation_id,
        "reply": _reply_brief(reply) if reply else None,
    }


def _reply_brief(reply: Reply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "status": reply.status,
        "decision": reply.decision,
        "decision_reasons": reply.decision_reasons or [],
        "language": reply.language,
    }


async def list_conversations(
    session: AsyncSession, *, text: str | None, before_id: int | None, limit: int
) -> dict[str, Any]:
    """Threads, most recently active first, each with its emails' ids and statuses."""
    limit = max(1, min(MAX_PAGE, limit))
    statement = select(Conversation).order_by(Conversation.id.desc())
    if text:
        needle = f"%{_escape_like(text.strip())}%"
        statement = statement.where(
            or_(
                Conversation.customer_email.ilike(needle, escape="\\"),
                Conversation.subject.ilike(needle, escape="\\"),
            )
        )
    if before_id:
        statement = statement.where(Conversation.id < before_id)
    rows: list[Conversation] = list((await session.execute(statement.limit(limit + 1))).scalars())
    page, more = rows[:limit], len(rows) > limit
    members: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if page:
        listed = select(Message.id, Message.conversation_id, Message.status).where(
            Message.conversation_id.in_([c.id for c in page])
        )
        for pk, conversation_id, status in await session.execute(listed.order_by(Message.id)):
            if conversation_id is not None:
                members[conversation_id].append({"id": pk, "status": status})
    return {
        "items": [
            {
                "id": c.id,
                "customer_email": c.customer_email,
                "subject": c.subject,
                "created_at": _iso(c.created_at),
                "last_message_at": _iso(c.last_message_at),
                "messages": members.get(c.id, []),
            }
            for c in page
        ],
        "next_before_id": page[-1].id if more and page else None,
    }


async def message_trace(session: AsyncSession, message_pk: int) -> dict[str, Any] | None:
    """Everything about one email: what came in, every decision, model turn, tool call and reply."""
    message = await session.get(Message, message_pk)
    if message is None:
        return None
    runs = await _rows(session, select(AgentRun).where(AgentRun.message_id == message_pk))
    turns = await _rows(session, select(ModelTurn).where(ModelTurn.message_id == message_pk))
    calls = await _rows(session, select(ToolCall).where(ToolCall.message_id == message_pk))
    replies = await _rows(session, select(Reply).where(Reply.message_id == message_pk))
    proposals = await _rows(
        session, select(ProposedAction).where(ProposedAction.message_id == message_pk)
    )
    jobs = await _rows(session, select(Job).where(Job.message_id == message_pk))
    audits = await _rows(session, select(AuditEntry).where(AuditEntry.message_id == message_pk))
    return {
        "message": {
            **_summary_of(message, replies[-1] if replies else None),
            "message_id": message.message_id,
            "message_id_reused": message.message_id_reused,
            "provider": message.provider,
            "payload_format": message.payload_format,
            "raw_size": message.raw_size,
            "processed_at": _iso(message.processed_at),
            "from_header": message.from_header,
            "envelope_from": message.envelope_from,
            "recipients": message.recipients,
            "in_reply_to": message.in_reply_to,
            "references": message.references,
            "headers": message.headers,
            "text": message.text,
            "clean_text": message.clean_text,
            "attachments": message.attachments,
            "auth_results": message.auth_results,
            "spam_score": message.spam_score,
            "defects": message.defects,
        },
        "guards": message.guard_decisions or [],
        "identity": {"verified": message.sender_verified, "reason": message.identity_reason},
        "steps": message.steps or [],
        "plan": message.reply_plan,
        "agent_runs": [
            {
                "id": run.id,
                "status": run.status,
                "llm_kind": run.llm_kind,
                "model": run.model,
                "prompt_version": run.prompt_version,
                "tools_hash": run.tools_hash,
                "steps": run.steps,
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "intent": run.intent,
                "confidence": run.confidence,
                "needs_human": run.needs_human,
                "handover_reason": run.handover_reason,
                "started_at": _iso(run.started_at),
                "finished_at": _iso(run.finished_at),
            }
            for run in runs
        ],
        "model_turns": [
            {
                "id": turn.id,
                "agent_run_id": turn.agent_run_id,
                "step": turn.step,
                "llm_kind": turn.llm_kind,
                "model": turn.model,
                "prompt_version": turn.prompt_version,
                "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens,
                "latency_ms": turn.latency_ms,
                "finish_reason": turn.finish_reason,
                "error": turn.error,
                "request": turn.request,
                "response": turn.response,
            }
            for turn in turns
        ],
        "tool_calls": [
            {
                "id": call.id,
                "agent_run_id": call.agent_run_id,
                "call_id": call.call_id,
                "tool": call.tool,
                "arguments": call.arguments,
                "raw_arguments": call.raw_arguments,
                "outcome": call.outcome,
                "summary": call.summary,
                "result": call.result,
                "duration_ms": call.duration_ms,
            }
            for call in calls
        ],
        "replies": [
            {
                **_reply_brief(reply),
                "to_address": reply.to_address,
                "from_address": reply.from_address,
                "subject": reply.subject,
                "text": reply.text_body,
                "html": reply.html_body,
                "generated_text": reply.generated_text,
                "template": reply.template,
                "verification": reply.verification or [],
                "rfc_message_id": reply.rfc_message_id,
                "in_reply_to": reply.in_reply_to,
                "references": reply.references,
                "is_automated": reply.is_automated,
                "attempts": reply.attempts,
                "last_error": reply.last_error,
                "provider_message_id": reply.provider_message_id,
                "created_at": _iso(reply.created_at),
                "sent_at": _iso(reply.sent_at),
                "decided_by": reply.decided_by,
                "decided_at": _iso(reply.decided_at),
                "edit_distance": reply.edit_distance,
                "reject_reason": reply.reject_reason,
            }
            for reply in replies
        ],
        "proposals": [proposal_view(p) for p in proposals],
        "jobs": [
            {
                "id": job.id,
                "kind": job.kind,
                "status": job.status,
                "attempts": job.attempts,
                "last_error": job.last_error,
                "reply_id": job.reply_id,
            }
            for job in jobs
        ],
        "audit": [
            {
                "at": _iso(entry.created_at),
                "staff": entry.staff_email,
                "action": entry.action,
                "target_type": entry.target_type,
                "target_id": entry.target_id,
                "detail": entry.detail,
            }
            for entry in audits
        ],
    }


async def list_jobs(session: AsyncSession, *, status: str | None) -> list[dict[str, Any]]:
    """Background jobs, newest first (dead-lettered ones are what staff look for)."""
    statement = select(Job).order_by(Job.id.desc()).limit(MAX_PAGE)
    if status:
        statement = statement.where(Job.status == status)
    return [
        {
            "id": job.id,
            "kind": job.kind,
            "status": job.status,
            "attempts": job.attempts,
            "last_error": job.last_error,
            "message_id": job.message_id,
            "reply_id": job.reply_id,
            "run_after": _iso(job.run_after),
            "created_at": _iso(job.created_at),
            "finished_at": _iso(job.finished_at),
        }
        for job in (await session.execute(statement)).scalars()
    ]


def proposal_view(proposal: ProposedAction) -> dict[str, Any]:
    """A proposed store change as staff see it."""
    return {
        "id": proposal.id,
        "message_id": proposal.message_id,
        "tool": proposal.tool,
        "order_name": proposal.order_name,
        "arguments": proposal.arguments,
        "reason": proposal.reason,
        "status": proposal.status,
        "result": proposal.result,
        "created_at": _iso(proposal.created_at),
        "decided_by": proposal.decided_by,
        "decided_at": _iso(proposal.decided_at),
    }


async def list_proposals(session: AsyncSession, *, status: str | None) -> list[dict[str, Any]]:
    """Proposed store changes, newest first (pending ones by default in the page)."""
    statement = select(ProposedAction).order_by(ProposedAction.id.desc()).limit(MAX_PAGE)
    if status:
        statement = statement.where(ProposedAction.status == status)
    return [proposal_view(p) for p in (await session.execute(statement)).scalars()]


@dataclass(frozen=True, kw_only=True)
class Prices:
    """USD per million tokens, for the cost estimate."""

    input_per_million: float
    output_per_million: float


async def summary(session: AsyncSession, *, days: int, prices: Prices) -> dict[str, Any]:
    """The figures that say whether the service helps: volume, automation, speed, edits, cost."""
    since = utcnow() - timedelta(days=days)
    messages = await _rows(session, select(Message).where(Message.received_at >= since))
    by_status = Counter(m.status for m in messages)
    by_intent = Counter(m.intent for m in messages if m.intent)
    replies = await _rows(
        session,
        select(Reply)
        .join(Message, Message.id == Reply.message_id)
        .where(Message.received_at >= since),
    )
    received = {m.id: m.received_at for m in messages}
    intents = {m.id: m.intent for m in messages}
    sent = [r for r in replies if r.status == ReplyStatus.SENT.value and r.sent_at]
    first_sent: dict[int, datetime] = {}
    for reply in sent:
        assert reply.sent_at is not None
        if reply.message_id not in first_sent or reply.sent_at < first_sent[reply.message_id]:
            first_sent[reply.message_id] = reply.sent_at
    response_seconds = sorted(
        (at - received[pk]).total_seconds() for pk, at in first_sent.items() if pk in received
    )
    automated = {r.message_id for r in sent if r.is_automated}
    answered = {
        m.id
        for m in messages
        if m.status
        in (MessageStatus.ANSWERED.value, MessageStatus.DRAFTED.value, MessageStatus.CLOSED.value)
    }
    approvals: dict[str, list[int]] = defaultdict(list)
    for reply in replies:
        if reply.decision == "draft" and reply.decided_by and reply.edit_distance is not None:
            approvals[intents.get(reply.message_id) or "unknown"].append(reply.edit_distance)
    turns = await _rows(session, select(ModelTurn).where(ModelTurn.created_at >= since))
    per_day: dict[str, dict[str, float]] = defaultdict(lambda: {"input": 0.0, "output": 0.0})
    for turn in turns:
        day = turn.created_at.date().isoformat()
        per_day[day]["input"] += turn.input_tokens
        per_day[day]["output"] += turn.output_tokens
    return {
        "days": days,
        "emails": len(messages),
        "by_status": dict(sorted(by_status.items())),
        "by_intent": dict(sorted(by_intent.items())),
        "automation_rate": len(automated & answered) / len(answered) if answered else None,
        "answered": len(answered),
        "answered_without_a_person": len(automated & answered),
        "first_response_seconds": {
            "count": len(response_seconds),
            "p50": _percentile(response_seconds, 50),
            "p95": _percentile(response_seconds, 95),
        },
        "approved_as_is_rate": {
            intent: sum(d == 0 for d in distances) / len(distances)
            for intent, distances in sorted(approvals.items())
        },
        "tokens_per_day": [
            {
                "day": day,
                "input_tokens": int(t["input"]),
                "output_tokens": int(t["output"]),
                "estimated_cost_usd": round(
                    t["input"] * prices.input_per_million / 1e6
                    + t["output"] * prices.output_per_million / 1e6,
                    4,
                ),
            }
            for day, t in sorted(per_day.items())
        ],
    }


def _percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(1, math.ceil(percent / 100 * len(values)))
    return round(values[rank - 1], 3)


async def _rows(session: AsyncSession, statement: Select[Any]) -> list[Any]:
    return list((await session.execute(statement)).scalars())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """How many emails are in each status (for the page's filter badges)."""
    statement = select(Message.status, func.count(Message.id)).group_by(Message.status)
    return {status: int(n) for status, n in (await session.execute(statement)).all()}
