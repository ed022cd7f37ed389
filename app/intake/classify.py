"""Classifying a stored delivery: parse it, thread it, run the guards, verify the sender.

The first steps of the pipeline (`app.pipeline`, steps 1 to 6): from the raw bytes the webhook
stored to a decided status (skipped, quarantined, needs_human or ready) with every decision and
its reason recorded on the message. Parsing runs outside any transaction, in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, utcnow
from app.db.scope import ALL_STORES, StoreScope, bind_scope
from app.db.statuses import MessageStatus
from app.intake import messages
from app.intake.messages import StepClock
from app.jobs import queue
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
from app.mail.sendgrid import Delivery, UnusableEmail, parse_stored_delivery
from app.store.directory import StoreConfig, StoreDirectory

logger = logging.getLogger(__name__)

NO_STORE = "no store has the address it was sent to"
"""Why mail to none of the stores' addresses is quarantined (it is never answered)."""


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """What the worker needs from a stored row to parse it, read in a short transaction."""

    raw: bytes
    content_type: str
    delivery: Delivery


@dataclass(frozen=True, slots=True)
class Classified:
    """Where classifying left an email: its status, and the store it was routed to (if any)."""

    status: MessageStatus
    store_id: int | None


class MessageMissing(LookupError):
    """The job points at a message that does not exist."""


async def classify(
    message_pk: int, *, db: Database, settings: Settings, stores: StoreDirectory
) -> Classified:
    """Pipeline steps 1 to 6: from a stored delivery to a decided status and its store.

    Mail that reached intake unrouted is routed here by every recipient the email names; mail
    for no store is quarantined, and mail for a store that is not active is skipped. Neither is
    ever answered.
    """
    status, store_id, stored = await _load(db, message_pk)
    if stored is None:
        return Classified(status, store_id)
    clock = StepClock()
    try:
        email = await asyncio.to_thread(
            parse_stored_delivery,
            stored.raw,
            stored.content_type,
            stored.delivery,
            max_parts=settings.INBOUND_MAX_PARTS,
            ceilings=mime_ceilings(settings),
        )
    except OverCeiling as exc:
        status = await _quarantine(db, message_pk, f"over a ceiling: {exc}")
        return Classified(status, store_id)
    except (FormDataError, UnusableEmail) as exc:
        status = await _quarantine(db, message_pk, f"unparseable: {exc}")
        return Classified(status, store_id)
    clock.lap("parse", "ok")
    store = await _route(stores, store_id, email)
    if store is None or not store.active:
        status = await _not_answered(db, message_pk, email, store)
        return Classified(status, store.id if store is not None else None)
    early = check_never_answer(email, own_identity(settings, await stores.all())) + check_sender(
        email, spam_score_threshold=settings.SPAM_SCORE_THRESHOLD
    )
    identity = verify_sender(email)
    clock.lap("identity", "verified" if identity.verified else "unverified")
    async with db.write(ALL_STORES) as session:
        message = await messages.get_message(session, message_pk)
        if message is None or message.status != MessageStatus.RECEIVED:
            found = MessageStatus(message.status) if message else MessageStatus.QUARANTINED
            return Classified(found, message.store_id if message else None)
        await _assign(session, message, store.id)
        # From here on the unit of work is the store's: threading and caps see only its rows.
        await session.flush()
        bind_scope(session.sync_session, StoreScope.of(store.id))
        messages.store_normalised(message, email)
        message.message_id_reused = await messages.has_other_content_for_message_id(
            session, message_pk=message.id, message_id=message.message_id, checksum=message.checksum
        )
        await _thread(
            session, message, email, identity=identity, own_addresses=store.support_addresses
        )
        guards = early + await _reply_caps(session, message, email, settings)
        status, reason = decide_status(guards)
        clock.lap("guards", status.value)
        messages.store_decisions(
            message, guards=guards, identity=identity, status=status, reason=reason
        )
        clock.store(message)
    logger.info(
        "inbound email processed",
        extra={"message_pk": message_pk, "status": status.value, "reason": reason},
    )
    return Classified(status, store.id)


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


async def _assign(session: AsyncSession, message: Message, store_id: int) -> None:
    """Give an email routed here (not at intake) its store, and its jobs too."""
    if message.store_id is None:
        message.store_id = store_id
        await queue.assign_store(session, message_id=message.id, store_id=store_id)


async def _not_answered(
    db: Database, message_pk: int, email: InboundEmail, store: StoreConfig | None
) -> MessageStatus:
    """Close an email no store may answer: quarantined without a store, else skipped.

    Mail for no store keeps its normalised fields (sender, subject) for whoever runs the
    deployment; mail for a disabled, uninstalled or redacted store stays that store's, unread.
    """
    if store is None:
        status, reason = MessageStatus.QUARANTINED, NO_STORE
    else:
        status = MessageStatus.SKIPPED
        reason = f"the store {store.slug!r} is {store.status.value}: its mail is not answered"
    async with db.write(ALL_STORES) as session:
        message = await messages.get_message(session, message_pk)
        if message is None or message.status != MessageStatus.RECEIVED:
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        if store is None:
            messages.store_normalised(message, email)
            messages.quarantine(message, reason)
        else:
            await _assign(session, message, store.id)
            message.status, message.status_reason = status, reason
            message.processed_at = utcnow()
    logger.warning("inbound email not answered", extra={"message_pk": message_pk, "reason": reason})
    return status


def decide_status(guards: list[GuardDecision]) -> tuple[MessageStatus, str | None]:
    """Turn guard decisions into a status: any SKIP skips, else any HOLD holds, else ready."""
    skips = [g.code for g in guards if g.verdict is Verdict.SKIP]
    if skips:
        return MessageStatus.SKIPPED, ",".join(dict.fromkeys(skips))
    holds = [g.code for g in guards if g.verdict is Verdict.HOLD]
    if holds:
        return MessageStatus.NEEDS_HUMAN, ",".join(dict.fromkeys(holds))
    return MessageStatus.READY, None


async def _load(
    db: Database, message_pk: int
) -> tuple[MessageStatus, int | None, StoredDelivery | None]:
    """Read the status, the store and what parsing needs (None: the message was processed)."""
    async with db.read(ALL_STORES) as session:
        message = await messages.get_message(session, message_pk, with_raw=True)
        if message is None:
            raise MessageMissing(f"message {message_pk} does not exist")
        status = MessageStatus(message.status)
        if status is not MessageStatus.RECEIVED:
            return status, message.store_id, None
        return (
            status,
            message.store_id,
            StoredDelivery(
                raw=message.raw,
                content_type=message.content_type,
                delivery=Delivery(
                    payload_format=message.payload_format,
                    checksum=message.checksum,
                    message_id=message.message_id,
                    has_synthetic_message_id=message.has_synthetic_message_id,
                ),
            ),
        )


async def _quarantine(db: Database, message_pk: int, reason: str) -> MessageStatus:
    async with db.write(ALL_STORES) as session:
        message = await messages.get_message(session, message_pk)
        if message is not None and message.status == MessageStatus.RECEIVED:
            messages.quarantine(message, reason)
    logger.warning("inbound email quarantined", extra={"message_pk": message_pk, "reason": reason})
    return MessageStatus.QUARANTINED


async def _thread(
    session: AsyncSession,
    message: Message,
    email: InboundEmail,
    *,
    identity: IdentityDecision,
    own_addresses: frozenset[str],
) -> None:
    """Join the sender's own conversation, or start one (linked to a foreign one it named).

    A conversation belongs to its customer: only mail verified as theirs (or as ours) joins it.
    """
    referenced = list(dict.fromkeys([*email.in_reply_to, *reversed(email.references)]))
    owners: frozenset[str] = frozenset()
    if identity.verified and identity.address:
        owners = own_addresses | {identity.address.lower()}
    match = await messages.match_thread(session, referenced, owners=owners)
    conversation_id = match.conversation_id
    if conversation_id is None:
        conversation_id = await messages.start_conversation(
            session,
            customer_email=email.from_.address if email.from_ else None,
            subject=email.subject,
        )
    else:
        await messages.touch_conversation(session, conversation_id, message.received_at)
    message.conversation_id = conversation_id
    message.replies_to_conversation_id = match.replies_to_conversation_id


async def _reply_caps(
    session: AsyncSession, message: Message, email: InboundEmail, settings: Settings
) -> list[GuardDecision]:
    to_sender = 0
    if email.from_ is not None:
        to_sender = await messages.count_automated_replies_to(
            session,
            email.from_.address,
            since=messages.reply_cap_window_start(settings.REPLY_CAP_WINDOW_HOURS),
        )
    in_thread = 0
    if message.conversation_id is not None:
        in_thread = await messages.count_automated_replies_in(session, message.conversation_id)
    return check_reply_caps(
        replies_to_sender=to_sender,
        replies_in_thread=in_thread,
        sender_cap=settings.REPLY_CAP_PER_SENDER,
        thread_cap=settings.REPLY_CAP_PER_THREAD,
        window_hours=settings.REPLY_CAP_WINDOW_HOURS,
    )
