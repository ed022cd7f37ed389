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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import Database
from app.db.models import Message, Reply, utcnow
from app.db.statuses import ReplyStatus, StoreStatus
from app.db.stores import Store
from app.jobs.queue import RetryLater
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


def threading_for(message: Message) -> tuple[str | None, tuple[str, ...]]:
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
    )


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
    async with db.write() as session:
        reply = await session.get(Reply, reply_pk)
        if reply is None:
            raise LookupError(f"reply {reply_pk} does not exist")
        status = reply.status
        if status is ReplyStatus.SENDING:
            reply.status = ReplyStatus.UNKNOWN
            reply.last_error = (
                "an earlier send attempt stopped before its result was recorded; SendGrid may "
                "have accepted it. Check the recipient's thread or SendGrid's activity before "
                "sending again."
            )
            await _record_step(session, reply, "send", 0.0, ReplyStatus.UNKNOWN.value)
            logger.error("reply outcome unknown; not resending", extra={"reply_id": reply_pk})
            return ReplyStatus.UNKNOWN
        if status not in (ReplyStatus.QUEUED, ReplyStatus.FAILED):
            return status
        store = await session.get(Store, reply.store_id)
        if store is not None and store.status is not StoreStatus.ACTIVE:
            # An uninstalled or disabled store's mail is no longer handled: what it queued
            # before stays visible to staff, but is never sent.
            reply.status = ReplyStatus.DEAD
            reply.last_error = f"not sent: the store is {store.status.value}"
            await _record_step(session, reply, "send", 0.0, ReplyStatus.DEAD.value)
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
        attempts = reply.attempts

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

    try:
        outcome, error, retry = await _record_outcome(
            reply_pk,
            db=db,
            outcome=outcome,
            error=error,
            retry=retry,
            provider_id=provider_id,
            elapsed_ms=elapsed_ms,
        )
    except BaseException:
        # The send happened (or failed) but the row still says `sending`: the next attempt marks
        # it `unknown`. The log keeps what SendGrid said, so staff can reconcile it.
        logger.error(
            "reply delivery result not recorded",
            extra={
                "reply_id": reply_pk,
                "status": outcome.value,
                "provider_message_id": provider_id,
            },
        )
        raise
    log = logger.info if outcome is ReplyStatus.SENT else logger.warning
    log(
        "reply delivery",
        extra={"reply_id": reply_pk, "status": outcome.value, "attempt": attempts, "error": error},
    )
    if retry is not None:
        raise retry
    return outcome


def retry_delay(attempts: int, requested: float | None) -> timedelta:
    """How long to wait before sending again: what SendGrid asked for, else 30 s doubling.

    Slower than the queue's default backoff, so a few minutes of provider trouble do not use up
    every attempt; capped at an hour whatever a header says.
    """
    seconds = requested if requested is not None else RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    return timedelta(seconds=min(MAX_RETRY_SECONDS, max(1.0, seconds)))


async def _record_outcome(
    reply_pk: int,
    *,
    db: Database,
    outcome: ReplyStatus,
    error: str | None,
    retry: RetryLater | None,
    provider_id: str | None,
    elapsed_ms: float,
) -> tuple[ReplyStatus, str | None, RetryLater | None]:
    """Store one attempt's result; return the status it left the row in, and any retry."""
    async with db.write() as session:
        reply = await session.get(Reply, reply_pk)
        if reply is None:
            raise LookupError(f"reply {reply_pk} vanished while sending")
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
            reply.provider_message_id = provider_id
            reply.sent_at = utcnow()
        await _record_step(session, reply, "send", elapsed_ms, outcome.value)
    return outcome, error, retry


async def _record_step(
    session: AsyncSession, reply: Reply, step: str, elapsed_ms: float, outcome: str
) -> None:
    message = await session.get(Message, reply.message_id)
    if message is not None:
        message.steps = [
            *(message.steps or []),
            {"step": step, "ms": round(elapsed_ms, 2), "outcome": outcome, "reply": reply.id},
        ]
