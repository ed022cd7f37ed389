"""Read models for staff: the queue with filters, threads, one email's full trace, jobs, proposals.

Only reads. Everything returned is a response model from `app.admin.schemas`; raw request bytes
never leave the database through here. The summary figures are in `app.admin.figures`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import priority
from app.admin.filters import QueueFilter
from app.admin.reasons import first_line, plain_reasons
from app.admin.schemas import (
    ConversationPage,
    ConversationView,
    Identity,
    JobView,
    MessageDetail,
    MessageSummary,
    MessageTrace,
    ProposalView,
    QueuePage,
)
from app.db.models import (
    AgentRun,
    AuditEntry,
    Conversation,
    DeliveryEventRecord,
    Job,
    Message,
    ModelTurn,
    ProposedAction,
    Reply,
    Suppression,
    ToolCall,
)
from app.db.statuses import JobStatus, MessageStatus, ProposalStatus, ReplyStatus

MAX_PAGE = 100
FAILED_REPLY_STATUSES = (ReplyStatus.DEAD, ReplyStatus.UNKNOWN, ReplyStatus.FAILED)


@dataclass(frozen=True, kw_only=True)
class QueueQuery:
    """What staff asked to see."""

    status: QueueFilter | None = None
    intent: str | None = None
    verified: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    before_id: int | None = None
    """Keyset pagination: messages older (by id) than this one."""
    after_id: int | None = None
    """Keyset pagination the other way: messages newer (by id) than this one."""
    oldest_first: bool = False
    by_priority: bool = False
    """Oldest first within each sender's priority, highest first (`app.admin.priority`)."""
    customer: str | None = None
    """One customer's emails (their From address, any case)."""
    where: tuple[ColumnElement[bool], ...] = ()
    """More conditions (an inbox view's, `app.admin.views`)."""
    limit: int = 50


def _status_condition(status: QueueFilter) -> ColumnElement[bool]:
    if status is QueueFilter.FAILED:
        failed = select(Reply.message_id).where(Reply.status.in_(FAILED_REPLY_STATUSES))
        return Message.id.in_(failed)
    return Message.status.in_(status.statuses)


def _queue_query(wanted: QueueQuery) -> Select[Message]:
    statement = select(Message).where(*wanted.where)
    if wanted.customer:
        statement = statement.where(
            func.lower(Message.from_address) == wanted.customer.strip().lower()
        )
    if wanted.status:
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
    if wanted.by_priority:
        if wanted.after_id:
            statement = statement.where(priority.after(wanted.after_id))
        return statement.order_by(*priority.order())
    if wanted.after_id:
        statement = statement.where(Message.id > wanted.after_id)
    return statement.order_by(Message.id.asc() if wanted.oldest_first else Message.id.desc())


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_messages(session: AsyncSession, wanted: QueueQuery) -> QueuePage:
    """One page of the queue (newest first unless asked), each email's latest reply in brief."""
    limit = max(1, min(MAX_PAGE, wanted.limit))
    rows: list[Message] = list(
        (await session.execute(_queue_query(wanted).limit(limit + 1))).scalars()
    )
    page, more = rows[:limit], len(rows) > limit
    replies = await _latest_replies(session, [m.id for m in page])
    return QueuePage(
        items=[_summary_of(message, replies.get(message.id)) for message in page],
        next_before_id=page[-1].id if more and page and not wanted.oldest_first else None,
        next_after_id=page[-1].id if more and page and wanted.oldest_first else None,
    )


async def _latest_replies(session: AsyncSession, message_pks: list[int]) -> dict[int, Reply]:
    if not message_pks:
        return {}
    statement = select(Reply).where(Reply.message_id.in_(message_pks)).order_by(Reply.id)
    latest: dict[int, Reply] = {}
    for reply in (await session.execute(statement)).scalars():
        latest[reply.message_id] = reply
    return latest


# The queue's fields that are not the message's own columns: three from its plan, and its
# latest reply.
_FROM_PLAN = {"language", "confidence", "needs_human", "reply", "first_line", "reasons"}
_MESSAGE_COLUMNS = [name for name in MessageSummary.model_fields if name not in _FROM_PLAN]
# The detail's fields that are looked up elsewhere, not read from the message's own columns.
_DETAIL_LOOKUPS = {"replies_to_message_id"}
_DETAIL_COLUMNS = [
    name
    for name in MessageDetail.model_fields
    if name not in MessageSummary.model_fields and name not in _DETAIL_LOOKUPS
]


def _summary_fields(message: Message, reply: Reply | None) -> dict[str, Any]:
    plan = message.reply_plan or {}
    summary = {name: getattr(message, name) for name in _MESSAGE_COLUMNS}
    return {
        **summary,
        "language": plan.get("language"),
        "confidence": plan.get("confidence"),
        "needs_human": plan.get("needs_human"),
        "reply": reply,
        "first_line": first_line(message.clean_text or message.text),
        "reasons": plain_reasons(message, reply),
    }


def _summary_of(message: Message, reply: Reply | None) -> MessageSummary:
    return MessageSummary.model_validate(_summary_fields(message, reply))


async def list_conversations(
    session: AsyncSession, *, text: str | None, before_id: int | None, limit: int
) -> ConversationPage:
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
    return ConversationPage(
        items=[
            ConversationView.model_validate(
                {
                    "id": c.id,
                    "customer_email": c.customer_email,
                    "subject": c.subject,
                    "created_at": c.created_at,
                    "last_message_at": c.last_message_at,
                    "messages": members.get(c.id, []),
                }
            )
            for c in page
        ],
        next_before_id=page[-1].id if more and page else None,
    )


async def message_trace(session: AsyncSession, message_pk: int) -> MessageTrace | None:
    """Everything about one email: what came in, every decision, model turn, tool call and reply."""
    message = await session.get(Message, message_pk)
    if message is None:
        return None

    async def rows(model: Any) -> list[Any]:
        statement = select(model).where(model.message_id == message_pk).order_by(model.id)
        return list((await session.execute(statement)).scalars())

    replies = await rows(Reply)
    addresses = {a.lower() for a in (message.from_address, *(r.to_address for r in replies)) if a}
    detail = {name: getattr(message, name) for name in _DETAIL_COLUMNS}
    detail["replies_to_message_id"] = await _first_message_of(
        session, message.replies_to_conversation_id
    )
    return MessageTrace.model_validate(
        {
            "message": {**_summary_fields(message, replies[-1] if replies else None), **detail},
            "guards": message.guard_decisions,
            "identity": Identity(verified=message.sender_verified, reason=message.identity_reason),
            "steps": message.steps,
            "plan": message.reply_plan,
            "agent_runs": await rows(AgentRun),
            "model_turns": await rows(ModelTurn),
            "tool_calls": await rows(ToolCall),
            "replies": replies,
            "proposals": await rows(ProposedAction),
            "jobs": await rows(Job),
            "audit": await rows(AuditEntry),
            "delivery_events": await _delivery_events(session, [r.id for r in replies]),
            "suppression": await _suppression(session, addresses),
        }
    )


async def _delivery_events(
    session: AsyncSession, reply_pks: list[int]
) -> list[DeliveryEventRecord]:
    if not reply_pks:
        return []
    statement = (
        select(DeliveryEventRecord)
        .where(DeliveryEventRecord.reply_id.in_(reply_pks))
        .order_by(DeliveryEventRecord.id)
    )
    return list((await session.execute(statement)).scalars())


async def _suppression(session: AsyncSession, addresses: set[str]) -> Suppression | None:
    """The suppression in force of the email's sender (or its replies' recipient), if any."""
    if not addresses:
        return None
    statement = select(Suppression).where(
        Suppression.address.in_(sorted(addresses)), Suppression.lifted_at.is_(None)
    )
    return (await session.execute(statement.limit(1))).scalar_one_or_none()


async def _first_message_of(session: AsyncSession, conversation_id: int | None) -> int | None:
    if conversation_id is None:
        return None
    statement = select(func.min(Message.id)).where(Message.conversation_id == conversation_id)
    return (await session.execute(statement)).scalar_one_or_none()


async def list_jobs(session: AsyncSession, *, status: JobStatus | None) -> list[JobView]:
    """Background jobs, newest first (dead-lettered ones are what staff look for)."""
    statement = select(Job).order_by(Job.id.desc()).limit(MAX_PAGE)
    if status:
        statement = statement.where(Job.status == status)
    return [JobView.model_validate(job) for job in (await session.execute(statement)).scalars()]


async def list_proposals(
    session: AsyncSession, *, status: ProposalStatus | None
) -> list[ProposalView]:
    """Proposed store changes, newest first (pending ones by default in the page)."""
    statement = select(ProposedAction).order_by(ProposedAction.id.desc()).limit(MAX_PAGE)
    if status:
        statement = statement.where(ProposedAction.status == status)
    return [ProposalView.model_validate(p) for p in (await session.execute(statement)).scalars()]


async def count_where(session: AsyncSession, condition: ColumnElement[bool]) -> int:
    """How many emails meet `condition` (an inbox view's count)."""
    statement = select(func.count(Message.id)).where(condition)
    return int((await session.execute(statement)).scalar_one())


async def count_by_status(session: AsyncSession) -> dict[MessageStatus, int]:
    """How many emails are in each status (for the page's filter badges)."""
    statement = select(Message.status, func.count(Message.id)).group_by(Message.status)
    return {status: int(n) for status, n in (await session.execute(statement)).all()}
