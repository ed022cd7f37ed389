"""The outbox: reply rows and their delivery, at most once.

A reply row moves:

    draft ──(staff approve)──> queued ──> sending ──> sent
                                  ^          │
                                  └─ failed <┤  (429, 5xx, no connection: retried with backoff)
                                             ├─> dead     (refused for good, or out of attempts)
                                             └─> unknown  (may have been accepted: never resent)

`sending` is committed *before* the request goes out. A worker that dies after SendGrid's 202 but
before recording it leaves the row in `sending`; whoever picks the job up next marks it
`unknown` for staff instead of sending again. Customer mail is therefore delivered at most once:
a lost reply is visible and recoverable by a person, a duplicate is not.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app import metrics
from app.db.engine import Database
from app.db.models import Message, Reply, utcnow
from app.db.statuses import MessageStatus, ReplyStatus, StoreStatus
from app.db.stores import Store
from app.jobs.queue import RetryLater
from app.replies import deliveries
from app.replies.policy import SUPPRESSED, Action
from app.replies.render import RenderedReply
from app.replies.senders import (
    MailSender,
    OutgoingEmail,
    SendDeferred,
    SendRejected,
    SendUncertain,
)

logger = logging.getLogger(__name__)

MAX_REFERENCES = 20
RETRY_BASE_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0


OUTGOING = frozenset(
    {
        ReplyStatus.QUEUED,
        ReplyStatus.SENDING,
        ReplyStatus.FAILED,
        ReplyStatus.SENT,
        ReplyStatus.UNKNOWN,
    }
)
"""Statuses of replies that went, or will go, out (what the reply caps count)."""


@dataclass(frozen=True, kw_only=True)
class ReplyFrom:
    """Who replies come from."""

    address: str
    name: str


def new_message_id(from_address: str) -> str:
    """A fresh Message-ID in our own domain, so the customer's answer threads back to us."""
    domain = from_address.rpartition("@")[2] or "localhost"
    return f"<reply.{uuid.uuid4().hex}@{domain}>"


class Answered(Protocol):
    """What threading an answer needs of the email it answers (a stored `Message` has it)."""

    @property
    def message_id(self) -> str: ...
    @property
    def in_reply_to(self) -> list[str] | None: ...
    @property
    def references(self) -> list[str] | None: ...
    @property
    def has_synthetic_message_id(self) -> bool: ...
    @property
    def replies_to_conversation_id(self) -> int | None: ...


def threading_for(message: Answered) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To and References for an answer to `message` (RFC 5322 §3.6.4).

    References is the customer's References (or, lacking it, their single In-Reply-To) followed
    by their Message-ID: no duplicates, at most `MAX_REFERENCES`, keeping the thread's first id.
    An email that named another sender's conversation is answered on its own Message-ID only:
    our reply never threads into, nor repeats the ids of, a conversation that is not theirs.
    """
    if message.replies_to_conversation_id is not None:
        if message.has_synthetic_message_id:
            return None, ()
        return message.message_id, (message.message_id,)
    earlier = [str(ref) for ref in message.references or []]
    if not earlier and len(message.in_reply_to or []) == 1:
        earlier = [str(ref) for ref in message.in_reply_to or []]
    if message.has_synthetic_message_id:
        # The customer's email had no Message-ID (ours is made up and means nothing to them):
        # keep the thread it belongs to, if it named one.
        return None, _bounded(earlier)
    chain = [ref for ref in earlier if ref != message.message_id]
    return message.message_id, _bounded([*chain, message.message_id])


def _bounded(references: list[str]) -> tuple[str, ...]:
    """Drop repeats (first occurrence wins); beyond the cap keep the root and the newest."""
    unique = list(dict.fromkeys(references))
    if len(unique) <= MAX_REFERENCES:
        return tuple(unique)
    return (unique[0], *unique[-(MAX_REFERENCES - 1) :])


@dataclass(frozen=True, kw_only=True)
class NewReply:
    """The reply the pipeline files for one email, from what it holds in memory."""

    message_pk: int
    conversation_id: int | None
    to_address: str
    answered: Answered
    rendered: RenderedReply
    decision: str
    reasons: list[str]
    problems: list[str]
    idempotency_key: str
    sender: ReplyFrom
    send_now: bool
    """Auto-approved: filed `sending` (attempt 1 starts now), sent inline by the same job."""


@dataclass(frozen=True, kw_only=True)
class FiledReply:
    """A reply row the pipeline wrote, and the email to send now if it is `sending`."""

    id: int
    message_pk: int
    status: ReplyStatus
    email: OutgoingEmail | None


def file_reply_in(session: Session, new: NewReply) -> FiledReply:
    """Write the reply row in the caller's unit of work: a draft, or `sending` to send now.

    A reply filed `sending` is committed before the request goes out, exactly as a queued one
    is marked before its send: if the worker dies in between, the next attempt finds it
    `sending` and marks it `unknown` instead of sending it again.
    """
    in_reply_to, references = threading_for(new.answered)
    status = ReplyStatus.SENDING if new.send_now else ReplyStatus.DRAFT
    reply = Reply(
        message_id=new.message_pk,
        conversation_id=new.conversation_id,
        idempotency_key=new.idempotency_key,
        from_address=new.sender.address,
        # Always the From address (verified, or the draft says it is not): never Reply-To,
        # never an address from the body.
        to_address=new.to_address,
        subject=new.rendered.subject,
        text_body=new.rendered.text,
        html_body=new.rendered.html,
        generated_text=new.rendered.text,
        language=new.rendered.language,
        template=new.rendered.template,
        rfc_message_id=new_message_id(new.sender.address),
        in_reply_to=in_reply_to,
        references=list(references),
        is_automated=new.send_now,
        status=status,
        attempts=1 if new.send_now else 0,
        sending_started_at=utcnow() if new.send_now else None,
        decision=new.decision,
        decision_reasons=new.reasons,
        verification=new.problems,
    )
    session.add(reply)
    session.flush()
    email = outgoing(reply, sender=new.sender) if new.send_now else None
    return FiledReply(id=reply.id, message_pk=new.message_pk, status=status, email=email)


def store_active_in(session: Session, store_id: int) -> bool:
    """Whether a store may still send (read in the unit of work that decides to send)."""
    store = session.get(Store, store_id)
    return store is None or store.status is StoreStatus.ACTIVE


async def find_by_key(session: AsyncSession, key: str) -> Reply | None:
    """The reply made for this purpose already, if any (a retried step finds its own row)."""
    statement = select(Reply).where(Reply.idempotency_key == key)
    return (await session.execute(statement)).scalar_one_or_none()


async def replies_for(session: AsyncSession, message_pk: int) -> list[Reply]:
    """Every reply to one inbound message, oldest first."""
    statement = select(Reply).where(Reply.message_id == message_pk).order_by(Reply.id)
    return list((await session.execute(statement)).scalars())


def outgoing(reply: Reply, *, sender: ReplyFrom) -> OutgoingEmail:
    """The email a reply row describes."""
    return OutgoingEmail(
        from_address=reply.from_address or sender.address,
        from_name=sender.name,
        to_address=reply.to_address,
        to_name=None,
        subject=reply.subject or "",
        text=reply.text_body or "",
        html=reply.html_body or "",
        message_id=reply.rfc_message_id or new_message_id(sender.address),
        in_reply_to=reply.in_reply_to,
        references=tuple(str(ref) for ref in reply.references or []),
        custom_args={"reply_id": str(reply.id), "message_id": str(reply.message_id)},
        language=reply.language or "",
    )


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One send attempt's result, before it is recorded."""

    outcome: ReplyStatus
    error: str | None = None
    retry: RetryLater | None = None
    provider_id: str | None = None
    elapsed_ms: float = 0.0


async def deliver(
    reply_pk: int,
    *,
    db: Database,
    mail: MailSender,
    sender: ReplyFrom,
    max_attempts: int,
    last_chance: bool = False,
) -> ReplyStatus:
    """Send one queued reply, at most once. Raises `RetryLater` for a retryable failure.

    `last_chance`: the job running this will not be retried again (its own attempts are used
    up), so a retryable failure must end the reply as `dead` rather than strand it as `failed`.
    """
    begun = await db.unit(lambda session: begin_send_in(session, reply_pk, sender=sender))
    if isinstance(begun, ReplyStatus):
        return begun
    email, attempts = begun
    result = await attempt_send(
        mail, email, attempts=attempts, max_attempts=max_attempts, last_chance=last_chance
    )
    try:
        outcome, error, retry = await db.unit(
            lambda session: record_outcome_in(session, reply_pk, result)
        )
    except BaseException:
        log_unrecorded(reply_pk, result)
        raise
    log_delivery(reply_pk, outcome, attempts, error)
    if retry is not None:
        raise retry
    return outcome


def begin_send_in(
    session: Session, reply_pk: int, *, sender: ReplyFrom
) -> tuple[OutgoingEmail, int] | ReplyStatus:
    """Mark a queued reply `sending` (committed before the request goes out).

    Returns the email and the attempt's number, or the status that means it is not sent now:
    `unknown` for a row an earlier attempt left `sending`, `dead` for a store no longer active,
    or whatever status it already had.
    """
    reply = session.get(Reply, reply_pk)
    if reply is None:
        raise LookupError(f"reply {reply_pk} does not exist")
    status = reply.status
    if status is ReplyStatus.SENDING:
        return interrupted_in(session, reply)
    if status not in (ReplyStatus.QUEUED, ReplyStatus.FAILED):
        return ReplyStatus(status)
    if reply.is_automated and (held := _held_for_suppression_in(session, reply)) is not None:
        return held
    store = session.get(Store, reply.store_id)
    if store is not None and store.status is not StoreStatus.ACTIVE:
        # An uninstalled or disabled store's mail is no longer handled: what it queued
        # before stays visible to staff, but is never sent.
        reply.status = ReplyStatus.DEAD
        reply.last_error = f"not sent: the store is {store.status.value}"
        _record_step(session, reply, "send", 0.0, ReplyStatus.DEAD.value)
        logger.warning(
            "reply not sent: store not active",
            extra={"reply_id": reply_pk, "store_id": store.id, "status": store.status.value},
        )
        return ReplyStatus.DEAD
    email = outgoing(reply, sender=sender)
    reply.rfc_message_id = email.message_id
    reply.status = ReplyStatus.SENDING
    reply.attempts += 1
    reply.sending_started_at = utcnow()
    return email, reply.attempts


def _held_for_suppression_in(session: Session, reply: Reply) -> ReplyStatus | None:
    """An automated reply to an address on the suppression list (since it was queued) waits."""
    suppression = deliveries.suppression_in(session, reply.store_id, reply.to_address)
    if suppression is None:
        return None
    reason = f"{SUPPRESSED}: {deliveries.describe(suppression)}"
    reply.status = ReplyStatus.DRAFT
    reply.is_automated = False
    reply.decision = Action.DRAFT.value
    reply.decision_reasons = [*(reply.decision_reasons or []), reason]
    message = session.get(Message, reply.message_id)
    if message is not None:
        message.status = MessageStatus.DRAFTED
        message.status_reason = reason
    _record_step(session, reply, "send", 0.0, ReplyStatus.DRAFT.value)
    logger.warning("automated reply held: address suppressed", extra={"reply_id": reply.id})
    return ReplyStatus.DRAFT


def interrupted_in(session: Session, reply: Reply) -> ReplyStatus:
    """End a reply an earlier attempt left `sending`: `unknown`, for staff, never resent."""
    reply.status = ReplyStatus.UNKNOWN
    reply.last_error = (
        "an earlier send attempt stopped before its result was recorded; SendGrid may "
        "have accepted it. Check the recipient's thread or SendGrid's activity before "
        "sending again."
    )
    _record_step(session, reply, "send", 0.0, ReplyStatus.UNKNOWN.value)
    logger.error("reply outcome unknown; not resending", extra={"reply_id": reply.id})
    return ReplyStatus.UNKNOWN


def sending_auto_reply_in(session: Session, message_pk: int) -> int | None:
    """The automated reply to a message that an attempt left `sending`, if any."""
    statement = select(Reply.id).where(
        Reply.message_id == message_pk,
        Reply.is_automated.is_(True),
        Reply.status == ReplyStatus.SENDING,
    )
    return session.execute(statement.limit(1)).scalar_one_or_none()


def resolve_interrupted_in(session: Session, reply_pk: int) -> ReplyStatus:
    """`interrupted_in` for a reply known by its id (a job retried after a crash)."""
    reply = session.get(Reply, reply_pk)
    if reply is None or reply.status is not ReplyStatus.SENDING:
        return ReplyStatus(reply.status) if reply is not None else ReplyStatus.DEAD
    return interrupted_in(session, reply)


async def attempt_send(
    mail: MailSender,
    email: OutgoingEmail,
    *,
    attempts: int,
    max_attempts: int,
    last_chance: bool,
) -> Attempt:
    """Hand one email to the provider and classify what happened (nothing is recorded here)."""
    started = time.perf_counter()
    retry: RetryLater | None = None
    provider_id: str | None = None
    error: str | None = None
    try:
        result = await mail.send(email)
        outcome, provider_id = ReplyStatus.SENT, result.provider_message_id
    except SendRejected as exc:
        outcome, error = ReplyStatus.DEAD, str(exc)
    except SendUncertain as exc:
        outcome, error = ReplyStatus.UNKNOWN, str(exc)
    except SendDeferred as exc:
        error = str(exc)
        if attempts >= max_attempts or last_chance:
            outcome, error = ReplyStatus.DEAD, f"gave up after {attempts} attempts: {exc}"
        else:
            outcome = ReplyStatus.FAILED
            retry = RetryLater(error, delay=retry_delay(attempts, exc.retry_after))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Attempt(
        outcome=outcome, error=error, retry=retry, provider_id=provider_id, elapsed_ms=elapsed_ms
    )


def log_unrecorded(reply_pk: int, attempt: Attempt) -> None:
    """The send happened (or failed) but the row still says `sending`: say what is known.

    The next attempt marks it `unknown`; the log keeps what the provider said, so staff can
    reconcile it.
    """
    logger.error(
        "reply delivery result not recorded",
        extra={
            "reply_id": reply_pk,
            "status": attempt.outcome.value,
            "provider_message_id": attempt.provider_id,
        },
    )


def log_delivery(reply_pk: int, outcome: ReplyStatus, attempts: int, error: str | None) -> None:
    """One line per delivery attempt: info when sent, warning otherwise."""
    metrics.record_send(outcome.value)
    log = logger.info if outcome is ReplyStatus.SENT else logger.warning
    log(
        "reply delivery",
        extra={"reply_id": reply_pk, "status": outcome.value, "attempt": attempts, "error": error},
    )


async def withdraw(reply_pk: int, *, db: Database, reason: str) -> ReplyStatus:
    """End a reply that was queued but must not go out (its store stopped): `dead`, with why.

    Only a reply not yet handed to the provider is withdrawn; any other keeps its status.
    """
    async with db.write() as session:
        reply = await session.get(Reply, reply_pk)
        if reply is None:
            raise LookupError(f"reply {reply_pk} does not exist")
        if reply.status not in (ReplyStatus.QUEUED, ReplyStatus.FAILED):
            return ReplyStatus(reply.status)
        reply.status = ReplyStatus.DEAD
        reply.last_error = reason
    logger.warning("reply withdrawn", extra={"reply_id": reply_pk, "reason": reason})
    return ReplyStatus.DEAD


def retry_delay(attempts: int, requested: float | None) -> timedelta:
    """How long to wait before sending again: what SendGrid asked for, else 30 s doubling.

    Slower than the queue's default backoff, so a few minutes of provider trouble do not use up
    every attempt; capped at an hour whatever a header says.
    """
    seconds = requested if requested is not None else RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(MAX_RETRY_SECONDS, max(1.0, seconds)))


def record_outcome_in(
    session: Session, reply_pk: int, attempt: Attempt
) -> tuple[ReplyStatus, str | None, RetryLater | None]:
    """Store one attempt's result; return the status it left the row in, and any retry."""
    outcome, error, retry = attempt.outcome, attempt.error, attempt.retry
    reply = session.get(Reply, reply_pk)
    if reply is None:
        raise LookupError(f"reply {reply_pk} vanished while sending")
    if outcome is ReplyStatus.SENT:
        # Before the row changes, as the delivery-event side does (`app.replies.deliveries`).
        deliveries.lock_message_in(session, attempt.provider_id, reply.rfc_message_id)
    if reply.status != ReplyStatus.SENDING and outcome is ReplyStatus.FAILED:
        # Someone else resolved this attempt meanwhile (a worker that took over the job after
        # our lease ran out marked it `unknown` and finished the job). No job is left to
        # retry it, so `failed` would strand it: keep their status and add what we learnt.
        outcome = reply.status
        later = f"The attempt then failed (it was not sent): {error}"
        error = f"{reply.last_error} {later}" if reply.last_error else later
        retry = None
    reply.status = outcome
    reply.last_error = error
    if outcome is ReplyStatus.SENT:
        reply.provider_message_id = attempt.provider_id
        reply.sent_at = utcnow()
        # Events the provider sent before this was recorded have waited for these ids.
        deliveries.match_sent_in(session, reply)
    _record_step(session, reply, "send", attempt.elapsed_ms, outcome.value)
    return outcome, error, retry


def _record_step(
    session: Session, reply: Reply, step: str, elapsed_ms: float, outcome: str
) -> None:
    message = session.get(Message, reply.message_id)
    if message is not None:
        message.steps = [
            *(message.steps or []),
            {"step": step, "ms": round(elapsed_ms, 2), "outcome": outcome, "reply": reply.id},
        ]
