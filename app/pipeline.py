"""The business process for one inbound email, top to bottom, as named steps.

1. Load the stored delivery (it was acknowledged only after it was durably stored).
2. Parse and normalise it; an authentic email we cannot understand is quarantined for staff.
3. Thread it into a conversation and flag a reused Message-ID.
4. Guards: never answer machines (auto-replies, bounces, lists, ourselves); hold what a person
   must answer (caps, spam, no clear sender).
5. Identity: is the sender verified (DKIM/SPF aligned with From)?
6. Record every decision with its reasons.
7. Agent: for mail a person or the service will answer, the tool loop makes a `ReplyPlan`
   (intent, language, facts, proposals, handover), with every model turn and tool call logged.

Parsing runs outside any transaction, so a slow 25 MB email never holds the database's write lock.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app import exchange_log, inbox
from app.agent import AgentEmail, AgentLimits, ThreadMessage, offered_tools, run_agent
from app.config import Settings
from app.db import Database
from app.llm import tools_hash
from app.mail.formdata import FormDataError
from app.mail.guards import (
    GuardDecision,
    OwnIdentity,
    Verdict,
    check_never_answer,
    check_reply_caps,
    check_sender,
)
from app.mail.identity import verify_sender
from app.mail.models import InboundEmail, MessageStatus
from app.mail.sendgrid_inbound import Delivery, UnusableEmail, parse_stored_delivery
from app.models import Message
from app.providers import Providers
from app.tools import registry
from app.tools.context import Sender, ToolContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredDelivery:
    """What the worker needs from a stored row to parse it, read in a short transaction."""

    raw: bytes
    content_type: str
    delivery: Delivery


class MessageMissing(LookupError):
    """The job points at a message that does not exist."""


async def handle_inbound_email(
    message_pk: int, *, db: Database, settings: Settings, providers: Providers
) -> MessageStatus:
    """Process one stored inbound email: parse, guards, identity, then the agent's plan.

    Idempotent: each step runs only from the status before it, so a retried job resumes.
    """
    status = await _classify(message_pk, db=db, settings=settings)
    if status in (MessageStatus.READY, MessageStatus.NEEDS_HUMAN):
        status = await plan_reply(message_pk, db=db, settings=settings, providers=providers)
    return status


async def _classify(message_pk: int, *, db: Database, settings: Settings) -> MessageStatus:
    """Steps 1 to 6: from a stored delivery to a decided status."""
    status, stored = await _load(db, message_pk)
    if stored is None:
        return status
    try:
        email = await asyncio.to_thread(
            parse_stored_delivery,
            stored.raw,
            stored.content_type,
            stored.delivery,
            max_parts=settings.INBOUND_MAX_PARTS,
        )
    except (FormDataError, UnusableEmail) as exc:
        return await _quarantine(db, message_pk, f"unparseable: {exc}")
    early = check_never_answer(email, own_identity(settings)) + check_sender(
        email, spam_score_threshold=settings.SPAM_SCORE_THRESHOLD
    )
    identity = verify_sender(email)
    async with db.write() as session:
        message = await inbox.get_message(session, message_pk)
        if message is None or message.status != MessageStatus.RECEIVED:
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        inbox.store_normalised(message, email)
        message.message_id_reused = await inbox.has_other_content_for_message_id(
            session, message_pk=message.id, message_id=message.message_id, checksum=message.checksum
        )
        await _thread(session, message, email)
        guards = early + await _reply_caps(session, message, email, settings)
        status, reason = decide_status(guards)
        inbox.store_decisions(
            message, guards=guards, identity=identity, status=status, reason=reason
        )
    logger.info(
        "inbound email processed",
        extra={"message_pk": message_pk, "status": status.value, "reason": reason},
    )
    return status


async def plan_reply(
    message_pk: int, *, db: Database, settings: Settings, providers: Providers
) -> MessageStatus:
    """Step 7: run the agent on a cleared (or held) email and store its plan."""
    async with db.read() as session:
        message = await inbox.get_message(session, message_pk)
        if message is None or message.status not in (
            MessageStatus.READY,
            MessageStatus.NEEDS_HUMAN,
        ):
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        if not should_plan(message):
            return MessageStatus(message.status)
        history = await inbox.thread_history(session, message)
        email = AgentEmail(
            subject=message.subject or "",
            text=message.clean_text or "",
            sender_name=message.from_name,
            history=tuple(ThreadMessage(author="customer", text=text) for text in history),
        )
        sender = (
            Sender(email=message.from_address, name=message.from_name)
            if message.sender_verified and message.from_address
            else None
        )
    tools = offered_tools(registry, verified_sender=sender is not None)
    llm = providers.llm
    run_pk = await exchange_log.start_run(
        db, message_pk=message_pk, llm_kind=llm.kind, model=llm.model, tools=tools
    )
    ctx = ToolContext(
        shop=providers.shop,
        sender=sender,
        journal=exchange_log.SqlJournal(db, message_pk=message_pk, run_pk=run_pk),
    )
    outcome = await run_agent(
        email,
        ctx=ctx,
        llm=llm,
        trace=exchange_log.SqlTrace(
            db, run_pk=run_pk, message_pk=message_pk, tools_hash=tools_hash(tools)
        ),
        store_name=settings.STORE_NAME,
        policy_summary=await providers.policy_summary(),
        limits=agent_limits(settings),
        fallback=providers.fallback_llm,
    )
    await exchange_log.finish_run(db, run_pk, outcome)
    async with db.write() as session:
        message = await inbox.get_message(session, message_pk)
        if message is not None and message.status in (
            MessageStatus.READY,
            MessageStatus.NEEDS_HUMAN,
        ):
            message.reply_plan = outcome.plan.model_dump(mode="json")
            message.status = MessageStatus.PLANNED.value
    logger.info(
        "reply planned",
        extra={
            "message_pk": message_pk,
            "intent": outcome.plan.intent.value,
            "needs_human": outcome.plan.needs_human,
            "llm": outcome.llm_kind,
            "steps": outcome.steps,
        },
    )
    return MessageStatus.PLANNED


def should_plan(message: Message) -> bool:
    """Whether the agent should plan a reply: not for mail held as spam."""
    codes = {decision.get("code") for decision in message.guard_decisions or []}
    return "spam_score" not in codes


def agent_limits(settings: Settings) -> AgentLimits:
    """The agent's caps from settings."""
    return AgentLimits(
        max_steps=settings.AGENT_MAX_STEPS,
        max_identical_calls=settings.AGENT_MAX_IDENTICAL_CALLS,
        max_tokens=settings.AGENT_MAX_TOKENS_PER_EMAIL,
        max_output_tokens=settings.AGENT_MAX_OUTPUT_TOKENS,
        min_confidence=settings.AGENT_MIN_CONFIDENCE,
    )


def own_identity(settings: Settings) -> OwnIdentity:
    """Our own addresses and domains as the guards need them."""
    return OwnIdentity(
        addresses=settings.own_addresses,
        domains=settings.own_domains,
        max_received_hops=settings.MAX_RECEIVED_HOPS,
    )


def decide_status(guards: list[GuardDecision]) -> tuple[MessageStatus, str | None]:
    """Turn guard decisions into a status: any SKIP skips, else any HOLD holds, else ready."""
    skips = [g.code for g in guards if g.verdict is Verdict.SKIP]
    if skips:
        return MessageStatus.SKIPPED, ",".join(dict.fromkeys(skips))
    holds = [g.code for g in guards if g.verdict is Verdict.HOLD]
    if holds:
        return MessageStatus.NEEDS_HUMAN, ",".join(dict.fromkeys(holds))
    return MessageStatus.READY, None


async def _load(db: Database, message_pk: int) -> tuple[MessageStatus, StoredDelivery | None]:
    """Read what parsing needs; None when the message was already processed."""
    async with db.read() as session:
        message = await inbox.get_message(session, message_pk)
        if message is None:
            raise MessageMissing(f"message {message_pk} does not exist")
        status = MessageStatus(message.status)
        if status is not MessageStatus.RECEIVED:
            return status, None
        return status, StoredDelivery(
            raw=message.raw,
            content_type=message.content_type,
            delivery=Delivery(
                payload_format=message.payload_format,
                checksum=message.checksum,
                message_id=message.message_id,
                has_synthetic_message_id=message.has_synthetic_message_id,
            ),
        )


async def _quarantine(db: Database, message_pk: int, reason: str) -> MessageStatus:
    async with db.write() as session:
        message = await inbox.get_message(session, message_pk)
        if message is not None and message.status == MessageStatus.RECEIVED:
            inbox.quarantine(message, reason)
    logger.warning("inbound email quarantined", extra={"message_pk": message_pk, "reason": reason})
    return MessageStatus.QUARANTINED


async def _thread(session: AsyncSession, message: Message, email: InboundEmail) -> None:
    referenced = list(dict.fromkeys([*email.in_reply_to, *reversed(email.references)]))
    conversation_id = await inbox.find_conversation(session, referenced)
    if conversation_id is None:
        conversation_id = await inbox.start_conversation(
            session,
            customer_email=email.from_.address if email.from_ else None,
            subject=email.subject,
        )
    else:
        await inbox.touch_conversation(session, conversation_id, message.received_at)
    message.conversation_id = conversation_id


async def _reply_caps(
    session: AsyncSession, message: Message, email: InboundEmail, settings: Settings
) -> list[GuardDecision]:
    to_sender = 0
    if email.from_ is not None:
        to_sender = await inbox.count_automated_replies_to(
            session,
            email.from_.address,
            since=inbox.reply_cap_window_start(settings.REPLY_CAP_WINDOW_HOURS),
        )
    in_thread = 0
    if message.conversation_id is not None:
        in_thread = await inbox.count_automated_replies_in(session, message.conversation_id)
    return check_reply_caps(
        replies_to_sender=to_sender,
        replies_in_thread=in_thread,
        sender_cap=settings.REPLY_CAP_PER_SENDER,
        thread_cap=settings.REPLY_CAP_PER_THREAD,
        window_hours=settings.REPLY_CAP_WINDOW_HOURS,
    )
