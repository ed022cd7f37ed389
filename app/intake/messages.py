"""Every SQL read and write about inbound email, conversations and the replies they got.

Functions take the caller's session and never commit: the unit of work belongs to the caller
(a webhook request, a job).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from app.db.models import Conversation, Message, Reply, utcnow
from app.db.statuses import MessageStatus
from app.mail.guards import GuardDecision
from app.mail.identity import IdentityDecision
from app.mail.models import InboundEmail
from app.replies.outbox import OUTGOING

MAX_SUBJECT_CHARS = 998


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A delivery as the webhook stores it, before any parsing of the email."""

    provider: str
    payload_format: str
    content_type: str
    raw: bytes
    checksum: str
    message_id: str
    has_synthetic_message_id: bool
    status: MessageStatus
    status_reason: str | None = None


async def get_message(
    session: AsyncSession, message_pk: int, *, with_raw: bool = False
) -> Message | None:
    """Return one stored message by primary key; its raw body only `with_raw`."""
    options = [undefer(Message.raw)] if with_raw else []
    message = await session.get(Message, message_pk, options=options)
    if message is not None and with_raw and "raw" in inspect(message).unloaded:
        # Already in this session without it: the option applies only to a fresh load.
        await session.refresh(message, ["raw"])
    return message


async def has_other_content_for_message_id(
    session: AsyncSession, *, message_pk: int, message_id: str, checksum: str
) -> bool:
    """Whether another stored email has this Message-ID but different content."""
    statement = select(func.count(Message.id)).where(
        Message.message_id == message_id,
        Message.checksum != checksum,
        Message.id != message_pk,
    )
    return bool((await session.execute(statement)).scalar_one())


async def find_conversation(session: AsyncSession, referenced_ids: list[str]) -> int | None:
    """Return the conversation an email answers, from its In-Reply-To and References ids."""
    if not referenced_ids:
        return None
    inbound = select(Message.conversation_id).where(
        Message.message_id.in_(referenced_ids), Message.conversation_id.is_not(None)
    )
    outbound = select(Reply.conversation_id).where(
        Reply.rfc_message_id.in_(referenced_ids), Reply.conversation_id.is_not(None)
    )
    for statement in (outbound, inbound):
        found = (await session.execute(statement.limit(1))).scalar_one_or_none()
        if found is not None:
            return int(found)
    return None


async def start_conversation(
    session: AsyncSession, *, customer_email: str | None, subject: str
) -> int:
    """Create a conversation and return its id."""
    conversation = Conversation(customer_email=customer_email, subject=subject[:MAX_SUBJECT_CHARS])
    session.add(conversation)
    await session.flush()
    return conversation.id


async def touch_conversation(session: AsyncSession, conversation_id: int, at: datetime) -> None:
    """Record that a conversation just got a message."""
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=at)
    )


async def count_automated_replies_to(
    session: AsyncSession, address: str, *, since: datetime
) -> int:
    """Count automated replies created for `address` since a moment (sent or on their way)."""
    statement = select(func.count(Reply.id)).where(
        func.lower(Reply.to_address) == address.lower(),
        Reply.is_automated.is_(True),
        Reply.created_at >= since,
        Reply.status.in_(sorted(OUTGOING)),
    )
    return int((await session.execute(statement)).scalar_one())


async def count_automated_replies_in(session: AsyncSession, conversation_id: int) -> int:
    """Count automated replies in one conversation."""
    statement = select(func.count(Reply.id)).where(
        Reply.conversation_id == conversation_id,
        Reply.is_automated.is_(True),
        Reply.status.in_(sorted(OUTGOING)),
    )
    return int((await session.execute(statement)).scalar_one())


def reply_cap_window_start(hours: int) -> datetime:
    """Return the start of the per-sender cap window."""
    return utcnow() - timedelta(hours=hours)


def store_normalised(message: Message, email: InboundEmail) -> None:
    """Copy a normalised email onto its stored row."""
    message.from_header = email.from_header
    message.from_name = email.from_.name if email.from_ else None
    message.from_address = email.from_.address if email.from_ else None
    message.envelope_from = email.envelope_from
    message.subject = email.subject[:MAX_SUBJECT_CHARS]
    message.sent_date = email.date
    message.in_reply_to = list(email.in_reply_to)
    message.references = list(email.references)
    message.recipients = {
        "to": [m.address for m in email.to],
        "cc": [m.address for m in email.cc],
        "reply_to": [m.address for m in email.reply_to],
        "envelope_to": list(email.envelope_to),
    }
    message.text = email.text
    message.html = email.html
    message.clean_text = email.clean_text
    message.headers = [list(pair) for pair in email.headers]
    message.attachments = [a.model_dump() for a in email.attachments]
    message.auth_results = email.auth.model_dump()
    message.spam_score = email.auth.spam_score
    message.defects = list(email.defects)


def store_decisions(
    message: Message,
    *,
    guards: list[GuardDecision],
    identity: IdentityDecision,
    status: MessageStatus,
    reason: str | None,
) -> None:
    """Record the guard and identity decisions and the resulting status on a message."""
    message.guard_decisions = [decision.as_record() for decision in guards]
    message.sender_verified = identity.verified
    message.identity_reason = identity.reason
    message.status = status
    message.status_reason = reason
    message.processed_at = utcnow()


def quarantine(message: Message, reason: str) -> None:
    """Mark a message as authentic but unusable, keeping the reason for staff."""
    message.status = MessageStatus.QUARANTINED
    message.status_reason = reason
    message.processed_at = utcnow()


async def get_messages(session: AsyncSession, message_pks: list[int]) -> dict[int, Message]:
    """Return stored messages by primary key."""
    if not message_pks:
        return {}
    result = await session.execute(select(Message).where(Message.id.in_(message_pks)))
    return {message.id: message for message in result.scalars()}


async def thread_history(session: AsyncSession, message: Message, *, limit: int = 3) -> list[str]:
    """The clean text of the conversation's earlier inbound emails, oldest first."""
    if message.conversation_id is None:
        return []
    statement = (
        select(Message.clean_text)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.id < message.id,
            Message.clean_text.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    texts = [text for text in (await session.execute(statement)).scalars() if text]
    return list(reversed(texts))


class StepClock:
    """Times consecutive pipeline steps for the message's `steps` record."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self._mark = time.perf_counter()

    def lap(self, step: str, outcome: str) -> None:
        """Close the step that just ran, with what it decided."""
        now = time.perf_counter()
        self.steps.append(
            {"step": step, "ms": round((now - self._mark) * 1000, 2), "outcome": outcome}
        )
        self._mark = now

    def store(self, message: Message) -> None:
        """Append the timed steps to the message (a new list, so the JSON column updates)."""
        message.steps = [*(message.steps or []), *self.steps]
        self.steps = []
