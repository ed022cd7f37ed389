"""Every SQL read and write about inbound email, conversations and the replies they got.

Functions take the caller's session and never commit: the unit of work belongs to the caller
(a webhook request, a job). The pipeline's statements take a synchronous `Session`, so that its
unit of work runs in one hop (`Database.unit`); an `AsyncSession` caller runs them through
`session.run_sync`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, func, inspect, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, undefer

from app import metrics
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


def has_other_content_for_message_id(
    session: Session, *, message_pk: int, message_id: str, checksum: str
) -> bool:
    """Whether another stored email has this Message-ID but different content."""
    statement = select(func.count(Message.id)).where(
        Message.message_id == message_id,
        Message.checksum != checksum,
        Message.id != message_pk,
    )
    return bool(session.execute(statement).scalar_one())


def earlier_copy(session: Session, *, message_pk: int, message_id: str, sender: str) -> int | None:
    """An email stored before this one with its Message-ID from the same sender, or None.

    The same email reaches us twice when it comes both by a webhook and from the connected
    mailbox (different bytes, so intake's dedupe keeps both): the earlier copy is the one
    answered. Requiring the same verified-or-not sender address keeps a stranger reusing a
    Message-ID from silencing a customer's email.
    """
    statement = (
        select(Message.id)
        .where(
            Message.message_id == message_id,
            Message.id < message_pk,
            Message.from_address == sender,
        )
        .limit(1)
    )
    found = session.execute(statement).scalar_one_or_none()
    return int(found) if found is not None else None


@dataclass(frozen=True, slots=True)
class ThreadMatch:
    """Where an email belongs, from the threads its In-Reply-To and References name."""

    conversation_id: int | None
    """The conversation it joins (its sender's own); None: it starts a new one."""
    replies_to_conversation_id: int | None = None
    """Another sender's conversation it named and did not join, for staff to see."""


def match_thread(
    session: Session, referenced_ids: list[str], *, owners: frozenset[str]
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
        for ref, pk, customer in session.execute(statement)
    ]
    # The most relevant reference first; for a Message-ID reused in two threads, the newest.
    rows.sort(key=lambda row: (row[0], -row[1]))
    owned = [pk for _, pk, customer in rows if customer in owners]
    if owned:
        return ThreadMatch(conversation_id=owned[0])
    return ThreadMatch(
        conversation_id=None, replies_to_conversation_id=rows[0][1] if rows else None
    )


def start_conversation(session: Session, *, customer_email: str | None, subject: str) -> int:
    """Create a conversation and return its id."""
    conversation = Conversation(customer_email=customer_email, subject=subject[:MAX_SUBJECT_CHARS])
    session.add(conversation)
    session.flush()
    return conversation.id


def touch_conversation(session: Session, conversation_id: int, at: datetime) -> None:
    """Record that a conversation just got a message."""
    session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(last_message_at=at)
    )


def count_automated_replies_to(session: Session, address: str, *, since: datetime) -> int:
    """Count automated replies created for `address` since a moment (sent or on their way)."""
    return int(session.execute(reply_cap_query(address, since=since)).scalar_one())


def reply_cap_query(address: str, *, since: datetime) -> Select[Any]:
    """The per-sender cap's count, on the lower-cased recipient its index is on."""
    return select(func.count(Reply.id)).where(
        Reply.to_address_key == address.lower(),
        Reply.is_automated.is_(True),
        Reply.created_at >= since,
        Reply.status.in_(sorted(OUTGOING)),
    )


def count_automated_replies_in(session: Session, conversation_id: int) -> int:
    """Count automated replies in one conversation."""
    statement = select(func.count(Reply.id)).where(
        Reply.conversation_id == conversation_id,
        Reply.is_automated.is_(True),
        Reply.status.in_(sorted(OUTGOING)),
    )
    return int(session.execute(statement).scalar_one())


def reply_cap_window_start(hours: int) -> datetime:
    """Return the start of the per-sender cap window."""
    return utcnow() - timedelta(hours=hours)


def normalised_values(email: InboundEmail) -> dict[str, Any]:
    """A normalised email as the stored row's column values."""
    return {
        "from_header": email.from_header,
        "from_name": email.from_.name if email.from_ else None,
        "from_address": email.from_.address if email.from_ else None,
        "envelope_from": email.envelope_from,
        "subject": email.subject[:MAX_SUBJECT_CHARS],
        "sent_date": email.date,
        "in_reply_to": list(email.in_reply_to),
        "references": list(email.references),
        "recipients": {
            "to": [m.address for m in email.to],
            "cc": [m.address for m in email.cc],
            "reply_to": [m.address for m in email.reply_to],
            "envelope_to": list(email.envelope_to),
        },
        "text": email.text,
        "html": email.html,
        "clean_text": email.clean_text,
        "headers": [list(pair) for pair in email.headers],
        "attachments": [a.model_dump() for a in email.attachments],
        "auth_results": email.auth.model_dump(),
        "spam_score": email.auth.spam_score,
        "defects": list(email.defects),
    }


def store_normalised(message: Message, email: InboundEmail) -> None:
    """Copy a normalised email onto its stored row."""
    for column, value in normalised_values(email).items():
        setattr(message, column, value)


def decision_values(
    *,
    guards: list[GuardDecision],
    identity: IdentityDecision,
    status: MessageStatus,
    reason: str | None,
) -> dict[str, Any]:
    """The guard and identity decisions and the resulting status, as column values."""
    return {
        "guard_decisions": [decision.as_record() for decision in guards],
        "sender_verified": identity.verified,
        "identity_reason": identity.reason,
        "status": status,
        "status_reason": reason,
        "processed_at": utcnow(),
    }


def update_if(
    session: Session, message_pk: int, status: MessageStatus, values: dict[str, Any]
) -> bool:
    """Write `values` on a message still in `status`, in one statement; False if it was not.

    The status in the WHERE clause is what makes a retried or concurrent job harmless: only
    one unit of work moves an email out of `received` (or files a re-run's plan).
    """
    statement = (
        update(Message)
        .where(Message.id == message_pk, Message.status == status)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


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


class HistoryOf(Protocol):
    """What `thread_history` needs to know of an email (a stored `Message` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def conversation_id(self) -> int | None: ...
    @property
    def sender_verified(self) -> bool | None: ...
    @property
    def from_address(self) -> str | None: ...


def thread_history(session: Session, message: HistoryOf, *, limit: int = 3) -> list[str]:
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
    texts = [text for text in session.execute(statement).scalars() if text]
    return list(reversed(texts))


class StepClock:
    """Times the pipeline's steps for the message's `steps` record, database time apart.

    `lap` closes a step of the pipeline's own work (parsing, the agent, rendering ...);
    `start`/`lap` around a unit of work would charge the database to a step, so the units are
    timed with `database` instead and recorded as one `database` entry (time and transactions).
    """

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.db_ms = 0.0
        self.transactions = 0
        self._mark = time.perf_counter()

    def start(self) -> None:
        """Begin timing a step here (what happened since the last lap is not charged to it)."""
        self._mark = time.perf_counter()

    def lap(self, step: str, outcome: str) -> float:
        """Close the step that just ran, with what it decided; return its seconds."""
        now = time.perf_counter()
        seconds = now - self._mark
        self.steps.append({"step": step, "ms": round(seconds * 1000, 2), "outcome": outcome})
        self._mark = now
        metrics.observe_step(step, seconds)
        return seconds

    def database(self, seconds: float) -> None:
        """Add one unit of work's time to the database entry."""
        self.db_ms += seconds * 1000
        self.transactions += 1
        metrics.observe_db(seconds)
        self._mark = time.perf_counter()

    def record(self) -> list[dict[str, Any]]:
        """The steps so far and the database entry, as stored on the message."""
        database = {
            "step": "database",
            "ms": round(self.db_ms, 2),
            "outcome": f"{self.transactions} transaction(s)",
        }
        return [*self.steps, database]
