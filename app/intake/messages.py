"""Every SQL read and write about inbound email, conversations and the replies they got.

Functions take the caller's session and never commit: the unit of work belongs to the caller
(a webhook request, a job).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, union_all, update
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
    store_id: int | None = None
    """The store it is for, when intake knows (else the worker routes it by recipient)."""


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


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    """Where an email belongs, from the threads its In-Reply-To and References name."""

    conversation_id: int | None
    """The conversation it joins (its sender's own); None: it starts a new one."""
    replies_to_conversation_id: int | None = None
    """Another sender's conversation it named and did not join, for staff to see."""


async def match_thread(
    session: AsyncSession, referenced_ids: list[str], *, owners: frozenset[str]
) -> ThreadMatch:
    """Find the conversation an email may join: only one whose customer is among `owners`.

    `referenced_ids` come most relevant first (In-Reply-To, then References newest first).
    `owners` are the addresses allowed to join, lower-cased: the verified sender's address and
    our own, or none at all for an unverified sender. Anyone can copy a Message-ID into a
    header, so naming a conversation proves nothing; joining it would show the new text to the
    model as the customer's and the customer's text to the new sender.
    """
    if not referenced_ids:
        return ThreadMatch(conversation_id=None)
    inbound = select(Message.message_id, Message.conversation_id).where(
        Message.message_id.in_(referenced_ids), Message.conversation_id.is_not(None)
    )
    outbound = select(Reply.rfc_message_id, Reply.conversation_id).where(
        Reply.rfc_message_id.in_(referenced_ids), Reply.conversation_id.is_not(None)
    )
    found = union_all(inbound, outbound).subquery()
    statement = select(found.c.message_id, Conversation.id, Conversation.customer_email).join(
        Conversation, Conversation.id == found.c.conversation_id
    )
    rank = {ref: n for n, ref in enumerate(referenced_ids)}
    rows = [
        (rank.get(str(ref), len(rank)), int(pk), (customer or "").lower())
        for ref, pk, customer in await session.execute(statement)
    ]
    # The most relevant reference first; for a Message-ID reused in two threads, the newest.
    rows.sort(key=lambda row: (row[0], -row[1]))
    owned = [pk for _, pk, customer in rows if customer in owners]
    if owned:
        return ThreadMatch(conversation_id=owned[0])
    return ThreadMatch(
        conversation_id=None, replies_to_conversation_id=rows[0][1] if rows else None
    )


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
    """The clean text of the sender's own earlier emails in the conversation, oldest first.

    Only a verified sender gets history, and only of emails verified as theirs: a conversation
    threaded before it belonged to one customer may still hold another sender's text, which must
    never reach the model as this customer's words (nor this customer's words another sender).
    """
    if message.conversation_id is None or not message.sender_verified or not message.from_address:
        return []
    statement = (
        select(Message.clean_text)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.id < message.id,
            Message.sender_verified.is_(True),
            func.lower(Message.from_address) == message.from_address.lower(),
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
