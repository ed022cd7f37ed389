"""Classifying a stored delivery: parse it, route it, run the guards, verify the sender, thread it.

The first steps of the pipeline (`app.pipeline`). What needs only the email runs outside any
transaction (`read_delivery`: parse, route, the guards on the email itself, identity); what
needs the database (threading, the reply caps, a reused Message-ID) runs inside the pipeline's
filing unit of work (`classify_in`), so that the classification, the plan and the reply commit
together or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import Message, utcnow
from app.db.scope import StoreScope, bind_scope
from app.db.statuses import MessageStatus
from app.intake import messages
from app.intake.auth import inbound_secrets
from app.intake.messages import StepClock
from app.jobs import queue
from app.mail.adapter import Delivery, FetchFailed, HttpGet, ReadError, UnusableEmail
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.formdata import FormDataError
from app.mail.guards import (
    GuardDecision,
    OwnIdentity,
    Verdict,
    check_never_answer,
    check_reply_caps,
    check_sender,
)
from app.mail.identity import IdentityDecision, verify_sender
from app.mail.models import InboundEmail
from app.mail.providers import adapter_for
from app.replies import outbox
from app.store.directory import StoreConfig, StoreDirectory

logger = logging.getLogger(__name__)

NO_STORE = "no store has the address it was sent to"
"""Why mail to none of the stores' addresses is quarantined (it is never answered)."""


class MessageMissing(LookupError):
    """The job points at a message that does not exist."""


class AlreadyFiled(RuntimeError):
    """The email left `received` while this unit of work ran (another worker filed it)."""


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """What the worker needs from a stored row to parse it."""

    raw: bytes
    content_type: str
    delivery: Delivery
    provider: str = "sendgrid"
    """Whose format the body is in (`app.mail.providers`)."""


@dataclass(frozen=True, slots=True)
class Rerun:
    """An email filed before, whose plan staff asked for again: its classification stands."""

    conversation_id: int | None
    replies_to_conversation_id: int | None
    holds: list[str]
    steps: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the claim's unit of work read for one inbound email."""

    message_pk: int
    status: MessageStatus
    store_id: int | None
    received_at: datetime
    stored: StoredDelivery | None
    """The delivery to parse; None once the email is filed (and not to be planned again)."""
    sending_reply: int | None = None
    """An automated reply an earlier attempt left `sending` (it may have gone out)."""
    rerun: Rerun | None = None
    """Set when staff asked for a new plan (`ready`/`needs_human` without one)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """An email parsed, routed, and checked by everything that needs only the email."""

    email: InboundEmail
    store: StoreConfig
    early: list[GuardDecision]
    identity: IdentityDecision

    @property
    def skipped(self) -> bool:
        """Whether a guard on the email alone already says never to answer it."""
        return any(g.verdict is Verdict.SKIP for g in self.early)

    @property
    def plannable(self) -> bool:
        """Whether the agent should plan a reply: not for mail skipped or held as spam."""
        return not self.skipped and all(g.code != "spam_score" for g in self.early)


@dataclass(frozen=True, slots=True)
class NotAnswered:
    """A delivery no store answers, and why: quarantined, or skipped for an inactive store."""

    status: MessageStatus
    reason: str
    email: InboundEmail | None = None
    store: StoreConfig | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """The filing unit of work's classification, not yet written (`values`)."""

    status: MessageStatus
    holds: list[str]
    """The codes of the guards that hold the email for a person."""
    conversation_id: int | None
    replies_to_conversation_id: int | None
    values: dict[str, Any]
    """Column values for the message's one UPDATE."""

    @classmethod
    def of_rerun(cls, status: MessageStatus, rerun: Rerun) -> Classification:
        """The classification an email re-planned by staff keeps from its first filing."""
        return cls(
            status=status,
            holds=rerun.holds,
            conversation_id=rerun.conversation_id,
            replies_to_conversation_id=rerun.replies_to_conversation_id,
            values={},
        )


def load_inbound(session: Session, message_pk: int) -> Loaded:
    """Read what processing one email needs, in the claim's unit of work (one statement)."""
    row = session.execute(
        select(
            Message.status,
            Message.store_id,
            Message.received_at,
            Message.raw,
            Message.content_type,
            Message.provider,
            Message.payload_format,
            Message.checksum,
            Message.message_id,
            Message.has_synthetic_message_id,
        ).where(Message.id == message_pk)
    ).one_or_none()
    if row is None:
        raise MessageMissing(f"message {message_pk} does not exist")
    status = MessageStatus(row.status)
    rerun = _rerun_of(session, message_pk) if status in RERUN_STATUSES else None
    if status is not MessageStatus.RECEIVED and rerun is None:
        return Loaded(
            message_pk=message_pk,
            status=status,
            store_id=row.store_id,
            received_at=row.received_at,
            stored=None,
            sending_reply=outbox.sending_auto_reply_in(session, message_pk),
        )
    return Loaded(
        message_pk=message_pk,
        status=status,
        store_id=row.store_id,
        received_at=row.received_at,
        stored=StoredDelivery(
            raw=row.raw,
            content_type=row.content_type,
            provider=row.provider,
            delivery=Delivery(
                payload_format=row.payload_format,
                checksum=row.checksum,
                message_id=row.message_id,
                has_synthetic_message_id=row.has_synthetic_message_id,
            ),
        ),
        rerun=rerun,
    )


RERUN_STATUSES = (MessageStatus.READY, MessageStatus.NEEDS_HUMAN)
"""Where staff's re-run leaves an email (its plan cleared) for its job to plan it again."""


def _rerun_of(session: Session, message_pk: int) -> Rerun | None:
    """What a re-run keeps of the email's first filing; None if it still has a plan."""
    row = session.execute(
        select(
            Message.conversation_id,
            Message.replies_to_conversation_id,
            Message.guard_decisions,
            Message.steps,
            Message.reply_plan,
        ).where(Message.id == message_pk)
    ).one()
    if row.reply_plan is not None:
        return None
    return Rerun(
        conversation_id=row.conversation_id,
        replies_to_conversation_id=row.replies_to_conversation_id,
        holds=[
            str(d.get("code"))
            for d in row.guard_decisions or []
            if d.get("verdict") == Verdict.HOLD.value
        ],
        steps=list(row.steps or []),
    )


async def read_delivery(
    stored: StoredDelivery,
    *,
    store_id: int | None,
    settings: Settings,
    stores: StoreDirectory,
    clock: StepClock,
    http: HttpGet | None = None,
    last_chance: bool = True,
) -> Reading | NotAnswered:
    """Parse, route, guard and verify one delivery, with no transaction open.

    Content a provider sent by reference is fetched first (`http`); while that fails the job
    is retried (`RetryLater`), and on its `last_chance` the email is quarantined for staff.
    Mail that reached intake unrouted is routed here by every recipient the email names; mail
    for no store is quarantined, and mail for a store that is not active is skipped. Neither is
    ever answered.
    """
    clock.start()
    adapter = adapter_for(stored.provider)
    if adapter is None:
        reason = f"no adapter for the provider {stored.provider!r}"
        return NotAnswered(MessageStatus.QUARANTINED, reason)
    raw, content_type, delivery = stored.raw, stored.content_type, stored.delivery
    if adapter.needs_fetch(delivery.payload_format):
        try:
            if http is None:
                raise FetchFailed("no HTTP client to fetch the content with")
            fetched = await adapter.fetch(
                raw, content_type, delivery.payload_format, inbound_secrets(settings), http
            )
        except FetchFailed as exc:
            if not last_chance:
                raise queue.RetryLater(f"content not fetched: {exc}") from exc
            return NotAnswered(MessageStatus.QUARANTINED, f"content could not be fetched: {exc}")
        raw, content_type = fetched.raw, fetched.content_type
        delivery = replace(delivery, payload_format=fetched.payload_format)
        clock.lap("fetch", "ok")
    try:
        email = await asyncio.to_thread(
            adapter.parse,
            raw,
            content_type,
            delivery,
            max_parts=settings.INBOUND_MAX_PARTS,
            ceilings=mime_ceilings(settings),
        )
    except OverCeiling as exc:
        return NotAnswered(MessageStatus.QUARANTINED, f"over a ceiling: {exc}")
    except (FormDataError, ReadError, UnusableEmail) as exc:
        return NotAnswered(MessageStatus.QUARANTINED, f"unparseable: {exc}")
    clock.lap("parse", "ok")
    store = await _route(stores, store_id, email)
    if store is None:
        return NotAnswered(MessageStatus.QUARANTINED, NO_STORE, email=email)
    if not store.active:
        reason = f"the store {store.slug!r} is {store.status.value}: its mail is not answered"
        return NotAnswered(MessageStatus.SKIPPED, reason, email=email, store=store)
    clock.start()
    identity = verify_sender(email)
    clock.lap("identity", "verified" if identity.verified else "unverified")
    early = check_never_answer(email, own_identity(settings, await stores.all())) + check_sender(
        email, spam_score_threshold=settings.SPAM_SCORE_THRESHOLD
    )
    status, _ = decide_status(early)
    clock.lap("guards", status.value)
    return Reading(email=email, store=store, early=early, identity=identity)


def mime_ceilings(settings: Settings) -> MimeCeilings:
    """The ceilings every inbound email is parsed within."""
    return MimeCeilings(
        max_parts=settings.MIME_MAX_PARTS,
        max_depth=settings.MIME_MAX_DEPTH,
        max_lines=settings.MIME_MAX_LINES,
        max_header_lines=settings.MIME_MAX_HEADER_LINES,
        max_header_bytes=settings.MIME_MAX_HEADER_BYTES,
        max_decoded_bytes=settings.MIME_MAX_DECODED_BYTES,
    )


def own_identity(settings: Settings, stores: Iterable[StoreConfig] = ()) -> OwnIdentity:
    """Our own addresses and domains as the guards need them.

    Every store's support addresses are ours: one store's auto-reply reaching another store
    would otherwise start a loop between them. Only the deployment's domains (the default
    support address's and OWN_EMAIL_DOMAINS) count whole; a store's support address may live
    at a mail host its customers share, so its domain is not taken as ours.
    """
    addresses = set(settings.own_addresses)
    for store in stores:
        addresses |= store.support_addresses
    return OwnIdentity(
        addresses=frozenset(addresses),
        domains=settings.own_domains,
        max_received_hops=settings.MAX_RECEIVED_HOPS,
    )


async def _route(
    stores: StoreDirectory, routed_id: int | None, email: InboundEmail
) -> StoreConfig | None:
    """The store this email is for: intake's routing, else the first store it was sent to."""
    if routed_id is not None:
        return await stores.get(routed_id)
    return await stores.route(email.recipients())


def enter_store(session: Session, loaded: Loaded, store_id: int) -> None:
    """Give an email routed here (not at intake) its store and its jobs, then work in that store.

    The unit of work starts deployment-wide (the row has no store yet); from here on it sees
    and stamps only the store's rows.
    """
    if loaded.store_id is None:
        session.execute(
            update(Message)
            .where(Message.id == loaded.message_pk, Message.store_id.is_(None))
            .values(store_id=store_id)
            .execution_options(synchronize_session=False)
        )
        queue.assign_store_in(session, message_id=loaded.message_pk, store_id=store_id)
    bind_scope(session, StoreScope.of(store_id))


def file_not_answered(session: Session, loaded: Loaded, outcome: NotAnswered) -> MessageStatus:
    """Close an email no store may answer: quarantined (no store, unreadable) or skipped.

    Mail for no store keeps its normalised fields (sender, subject) for whoever runs the
    deployment; mail for a disabled, uninstalled or redacted store stays that store's, unread.
    Runs deployment-wide (`ALL_STORES`). Raises `AlreadyFiled` if the email was filed meanwhile.
    """
    values: dict[str, Any] = {
        "status": outcome.status,
        "status_reason": outcome.reason,
        "processed_at": utcnow(),
    }
    if outcome.store is not None:
        enter_store(session, loaded, outcome.store.id)
    elif outcome.email is not None:
        values = messages.normalised_values(outcome.email) | values
    if not messages.update_if(session, loaded.message_pk, loaded.status, values):
        raise AlreadyFiled(f"message {loaded.message_pk} was filed by another worker")
    return outcome.status


def classify_in(
    session: Session, loaded: Loaded, reading: Reading, *, settings: Settings
) -> Classification:
    """Thread the email, apply the reply caps and decide its status, in the filing unit of work.

    The session must be in the email's store (`enter_store`). Nothing about the message is
    written yet: the caller adds the plan and the reply's outcome and writes it once.
    """
    email, identity = reading.email, reading.identity
    delivery = loaded.stored.delivery if loaded.stored is not None else None
    reused = delivery is not None and messages.has_other_content_for_message_id(
        session,
        message_pk=loaded.message_pk,
        message_id=delivery.message_id,
        checksum=delivery.checksum,
    )
    match = _thread(session, email, loaded.received_at, owners=thread_owners(reading))
    guards = reading.early + _reply_caps(session, match.conversation_id, email, settings)
    guards += _copies(session, loaded, email)
    status, reason = decide_status(guards)
    values = messages.normalised_values(email) | messages.decision_values(
        guards=guards, identity=identity, status=status, reason=reason
    )
    values |= {
        "message_id_reused": reused,
        "conversation_id": match.conversation_id,
        "replies_to_conversation_id": match.replies_to_conversation_id,
    }
    return Classification(
        status=status,
        holds=[g.code for g in guards if g.verdict is Verdict.HOLD],
        conversation_id=match.conversation_id,
        replies_to_conversation_id=match.replies_to_conversation_id,
        values=values,
    )


def _copies(session: Session, loaded: Loaded, email: InboundEmail) -> list[GuardDecision]:
    """A skip when the same email was stored before by another route (webhook or mailbox)."""
    if email.has_synthetic_message_id or email.from_ is None:
        return []
    earlier = messages.earlier_copy(
        session,
        message_pk=loaded.message_pk,
        message_id=email.message_id,
        sender=email.from_.address,
    )
    if earlier is None:
        return []
    detail = f"the same email (Message-ID and sender) was stored before as message {earlier}"
    return [GuardDecision(code="same_email_twice", verdict=Verdict.SKIP, detail=detail)]


def decide_status(guards: list[GuardDecision]) -> tuple[MessageStatus, str | None]:
    """Turn guard decisions into a status: any SKIP skips, else any HOLD holds, else ready."""
    skips = [g.code for g in guards if g.verdict is Verdict.SKIP]
    if skips:
        return MessageStatus.SKIPPED, ",".join(dict.fromkeys(skips))
    holds = [g.code for g in guards if g.verdict is Verdict.HOLD]
    if holds:
        return MessageStatus.NEEDS_HUMAN, ",".join(dict.fromkeys(holds))
    return MessageStatus.READY, None


def thread_owners(reading: Reading) -> frozenset[str]:
    """Who may join a conversation this email names: its verified sender and us, else no one.

    A conversation belongs to its customer: only mail verified as theirs (or as ours) joins it.
    """
    identity = reading.identity
    if identity.verified and identity.address:
        return reading.store.support_addresses | {identity.address.lower()}
    return frozenset()


def referenced_ids(email: InboundEmail) -> list[str]:
    """The Message-IDs an email names, most relevant first (In-Reply-To, newest References)."""
    return list(dict.fromkeys([*email.in_reply_to, *reversed(email.references)]))


def _thread(
    session: Session, email: InboundEmail, received_at: datetime, *, owners: frozenset[str]
) -> _Threaded:
    """Join the sender's own conversation, or start one (linked to a foreign one it named)."""
    match = messages.match_thread(session, referenced_ids(email), owners=owners)
    conversation_id = match.conversation_id
    if conversation_id is None:
        conversation_id = messages.start_conversation(
            session,
            customer_email=email.from_.address if email.from_ else None,
            subject=email.subject,
        )
    else:
        messages.touch_conversation(session, conversation_id, received_at)
    return _Threaded(conversation_id, match.replies_to_conversation_id)


@dataclass(frozen=True, slots=True)
class _Threaded:
    conversation_id: int
    replies_to_conversation_id: int | None


def _reply_caps(
    session: Session, conversation_id: int, email: InboundEmail, settings: Settings
) -> list[GuardDecision]:
    to_sender = 0
    if email.from_ is not None:
        to_sender = messages.count_automated_replies_to(
            session,
            email.from_.address,
            since=messages.reply_cap_window_start(settings.REPLY_CAP_WINDOW_HOURS),
        )
    in_thread = messages.count_automated_replies_in(session, conversation_id)
    return check_reply_caps(
        replies_to_sender=to_sender,
        replies_in_thread=in_thread,
        sender_cap=settings.REPLY_CAP_PER_SENDER,
        thread_cap=settings.REPLY_CAP_PER_THREAD,
        window_hours=settings.REPLY_CAP_WINDOW_HOURS,
    )
