"""The business process for one inbound email, top to bottom, as named steps.

Steps 1 to 6 are intake's (`app/intake/classify.py`); this module runs them, then plans,
composes and queues the reply.

1. Load the stored delivery (it was acknowledged only after it was durably stored).
2. Parse and normalise it; an authentic email we cannot understand is quarantined for staff.
3. Thread it into a conversation and flag a reused Message-ID.
4. Guards: never answer machines (auto-replies, bounces, lists, ourselves); hold what a person
   must answer (caps, spam, no clear sender).
5. Identity: is the sender verified (DKIM/SPF aligned with From)?
6. Record every decision with its reasons.
7. Agent: for mail a person or the service will answer, the tool loop makes a `ReplyPlan`
   (intent, language, facts, proposals, handover), with every model turn and tool call logged.
8. Render: the plan and the tool results become a templated reply (HTML + text, the customer's
   language).
9. Verify: code checks every fact, link and address in the reply against the tool results.
10. Policy: send now, or hold a draft for staff (with the reasons), or close spam unanswered.
11. Outbox: the reply row and, to send it, a `send_reply` job, committed together.
12. Send (the `send_reply` job, `app/replies/outbox.py`): SendGrid or the log transport, once
    at most.

Each step's duration and outcome is stored on the message (`steps`). Parsing and the agent run
outside any transaction, so slow work never holds the database's write lock.

Everything after routing runs inside the email's store: its rows only (`Database.for_store`),
its settings (`StoreConfig`: name, addresses, signature, send rules) and its own shop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent import exchange_log
from app.agent.budget import BudgetedLLM, SharedBudget
from app.agent.llm import LLM, tools_hash
from app.agent.loop import AgentEmail, AgentLimits, ThreadMessage, offered_tools, run_agent
from app.agent.plan import HandoverReason, ReplyPlan
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, Reply, ToolCall, utcnow
from app.db.statuses import JobKind, MessageStatus, ReplyStatus
from app.intake import messages
from app.intake.classify import classify
from app.intake.messages import StepClock
from app.jobs import queue
from app.mail.guards import (
    Verdict,
)
from app.providers import NoShop, Providers
from app.replies import outbox
from app.replies.policy import Action, Decision, SendRules, decide
from app.replies.render import RenderedReply, ReplyInputs, StoreIdentity, render_reply
from app.replies.verify import Evidence, gather_evidence, verify_reply
from app.store.directory import StoreConfig, StoreDirectory
from app.store.protocol import Shop
from app.store.secrets import SecretBox
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, Sender, ToolContext

logger = logging.getLogger(__name__)


async def handle_inbound_email(
    message_pk: int,
    *,
    db: Database,
    settings: Settings,
    providers: Providers,
    stores: StoreDirectory | None = None,
    last_chance: bool = True,
) -> MessageStatus:
    """Process one stored inbound email up to a queued reply, a draft, or a skip.

    Idempotent: each stage runs only from the status before it, so a retried job resumes.
    With OUTAGE_MODE=retry, an email planned while a provider was down is put back for later
    (`RetryLater`) unless this is its `last_chance`; then it is drafted as "provider down".
    `stores` is the process's store directory (a fresh one when None).
    """
    stores = stores or StoreDirectory(db, settings)
    # Parse, route, guards, identity.
    classified = await classify(message_pk, db=db, settings=settings, stores=stores)
    status = classified.status
    store = await stores.get(classified.store_id) if classified.store_id is not None else None
    if store is None:
        return status
    # Everything after routing happens inside the store: its rows only, stamped with its id.
    db = db.for_store(store.id)
    if not store.active:
        # Disabled after this email was classified (a retried job): it is not answered now.
        return await _close_for_inactive_store(db, message_pk, store)
    if status in (MessageStatus.READY, MessageStatus.NEEDS_HUMAN):
        status = await plan_reply(
            message_pk,
            db=db,
            settings=settings,
            providers=providers,
            store=store,
            secrets=stores.secrets,
            may_defer=settings.OUTAGE_MODE == "retry" and not last_chance,
        )
    if status is MessageStatus.PLANNED:
        status = await compose_reply(message_pk, db=db, settings=settings, store=store)
    return status


_OPEN = (MessageStatus.READY, MessageStatus.NEEDS_HUMAN, MessageStatus.PLANNED)


async def _close_for_inactive_store(
    db: Database, message_pk: int, store: StoreConfig
) -> MessageStatus:
    """Skip an email not yet answered whose store was disabled, uninstalled or redacted."""
    async with db.write() as session:
        message = await messages.get_message(session, message_pk)
        if message is None:
            return MessageStatus.QUARANTINED
        if message.status not in _OPEN:
            return MessageStatus(message.status)
        message.status = MessageStatus.SKIPPED
        message.status_reason = (
            f"the store {store.slug!r} is {store.status.value}: its mail is not answered"
        )
        message.processed_at = utcnow()
    return MessageStatus.SKIPPED


async def _hold_for_person(db: Database, message_pk: int, reason: str) -> MessageStatus:
    """Leave an email to a person, with why, when its store's shop cannot be asked."""
    async with db.write() as session:
        message = await messages.get_message(session, message_pk)
        if message is None:
            return MessageStatus.QUARANTINED
        if message.status not in (MessageStatus.READY, MessageStatus.NEEDS_HUMAN):
            return MessageStatus(message.status)
        message.status = MessageStatus.NEEDS_HUMAN
        message.status_reason = f"no shop to answer from, a person answers: {reason}"[:2000]
        message.processed_at = utcnow()
    logger.warning("email held: no shop", extra={"message_pk": message_pk, "reason": reason})
    return MessageStatus.NEEDS_HUMAN


async def plan_reply(
    message_pk: int,
    *,
    db: Database,
    settings: Settings,
    providers: Providers,
    store: StoreConfig,
    secrets: SecretBox,
    may_defer: bool = False,
) -> MessageStatus:
    """Step 7: run the agent on a cleared (or held) email and store its plan.

    The agent asks the store's own shop; a store whose shop cannot be built (no credentials)
    has its email held for a person instead, never answered from another store's shop.
    Raises `RetryLater` instead when a provider was down and `may_defer` allows waiting.
    """
    async with db.read() as session:
        message = await messages.get_message(session, message_pk)
        if message is None or message.status not in (
            MessageStatus.READY,
            MessageStatus.NEEDS_HUMAN,
        ):
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        if not should_plan(message):
            return MessageStatus(message.status)
        history = await messages.thread_history(session, message)
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
    try:
        shop: Shop = await providers.shop_for(store, secrets)
    except NoShop as exc:
        return await _hold_for_person(db, message_pk, str(exc))
    clock = StepClock()
    tools = offered_tools(tool_registry(), verified_sender=sender is not None)
    llm = budgeted(providers.llm, db=db, settings=settings)
    run_pk = await exchange_log.start_run(
        db, message_pk=message_pk, llm_kind=llm.kind, model=llm.model, tools=tools
    )
    # The run's turns and tool calls are committed with its outcome and the plan, at the end.
    journal = exchange_log.SqlJournal(db, message_pk=message_pk, run_pk=run_pk, buffered=True)
    trace = exchange_log.SqlTrace(
        db, run_pk=run_pk, message_pk=message_pk, tools_hash=tools_hash(tools), buffered=True
    )
    ctx = ToolContext(shop=shop, sender=sender, journal=journal)
    outcome = await run_agent(
        email,
        ctx=ctx,
        llm=llm,
        trace=trace,
        store_name=store.name,
        policy_summary=await providers.policy_summary(shop, store_id=store.id),
        limits=agent_limits(settings),
        fallback=providers.fallback_llm,
    )
    defer = may_defer and outcome.plan.handover_reason is HandoverReason.PROVIDER_DOWN
    clock.lap("agent", outcome.plan.intent.value)
    async with db.write() as session:
        trace.flush_into(session)
        journal.flush_into(session)
        await exchange_log.finish_run_in(session, run_pk, outcome)
        message = None if defer else await messages.get_message(session, message_pk)
        if message is not None and message.status in (
            MessageStatus.READY,
            MessageStatus.NEEDS_HUMAN,
        ):
            message.reply_plan = outcome.plan.model_dump(mode="json")
            message.intent = outcome.plan.intent.value
            message.status = MessageStatus.PLANNED
            clock.store(message)
    if defer:
        logger.warning("provider down; email deferred", extra={"message_pk": message_pk})
        raise queue.RetryLater(
            "a provider is down; the email will be planned again",
            delay=timedelta(seconds=settings.CIRCUIT_RESET_SECONDS),
        )
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


@dataclass(frozen=True, kw_only=True)
class _Composable:
    """What rendering needs from the stored message, read in one short transaction."""

    plan: ReplyPlan
    calls: list[ToolCall]
    subject: str
    customer_text: str
    sender_name: str | None
    sender_address: str | None
    sender_verified: bool
    guard_holds: list[str]


async def compose_reply(
    message_pk: int, *, db: Database, settings: Settings, store: StoreConfig
) -> MessageStatus:
    """Steps 8 to 11: render the plan, verify the reply, decide, and put it in the outbox.

    The reply is the store's: its name and signature, its links, its send rules, its address.
    """
    async with db.read() as session:
        message = await messages.get_message(session, message_pk)
        if message is None or message.status != MessageStatus.PLANNED:
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        if message.reply_plan is None:
            raise ValueError(f"message {message_pk} is planned but has no plan")
        found = _Composable(
            plan=ReplyPlan.model_validate(message.reply_plan),
            calls=await exchange_log.latest_run_calls(session, message_pk),
            subject=message.subject or "",
            customer_text=customer_words(message),
            sender_name=message.from_name,
            sender_address=message.from_address,
            sender_verified=bool(message.sender_verified),
            guard_holds=[
                str(d.get("code"))
                for d in message.guard_decisions or []
                if d.get("verdict") == Verdict.HOLD.value
            ],
        )
    clock = StepClock()
    plan = found.plan
    rendered = render_reply(
        ReplyInputs(
            plan=plan,
            facts=shown_facts(plan, found.calls),
            sender_name=found.sender_name,
            sender_verified=found.sender_verified,
            original_subject=found.subject,
            lookup_missed=any(
                tool_registry().missed_order_lookup(c.tool, c.outcome) for c in found.calls
            ),
        ),
        store=store_identity(store),
    )
    clock.lap("render", rendered.template)
    recipient = found.sender_address
    problems = verify_reply(
        rendered,
        evidence=reply_evidence(
            found.calls, customer_text=found.customer_text, store_hosts=store.store_hosts
        ),
        recipient=recipient or "",
        verified_sender=found.sender_address if found.sender_verified else None,
        own_addresses=store.support_addresses,
    )
    clock.lap("verify", "passed" if not problems else f"{len(problems)} problem(s)")
    decision = decide(
        plan,
        rules=SendRules.from_store(store),
        sender_verified=found.sender_verified,
        verification_problems=problems,
        guard_holds=found.guard_holds,
        shown=rendered.shown,
        language_fallback=rendered.requested_language if rendered.language_fallback else None,
    )
    clock.lap("policy", decision.action.value)
    async with db.write() as session:
        message = await messages.get_message(session, message_pk)
        if message is None or message.status != MessageStatus.PLANNED:
            return MessageStatus(message.status) if message else MessageStatus.QUARANTINED
        status = await _file_reply(session, message, rendered, decision, problems, store=store)
        clock.lap("outbox", status.value)
        clock.store(message)
    logger.info(
        "reply decided",
        extra={
            "message_pk": message_pk,
            "decision": decision.action.value,
            "reasons": list(decision.reasons),
        },
    )
    return status


async def _file_reply(
    session: AsyncSession,
    message: Message,
    rendered: RenderedReply,
    decision: Decision,
    problems: list[str],
    *,
    store: StoreConfig,
) -> MessageStatus:
    """Write the outcome: no reply (spam), a draft, or a queued reply and its send job."""
    reasons = list(decision.reasons)
    message.processed_at = utcnow()
    if decision.action is Action.SKIP:
        message.status = MessageStatus.SKIPPED
        message.status_reason = "; ".join(reasons)
        return MessageStatus.SKIPPED
    if not message.from_address:
        message.status = MessageStatus.NEEDS_HUMAN
        message.status_reason = "; ".join(["no sender address to answer", *reasons])[:2000]
        return MessageStatus.NEEDS_HUMAN
    # One reply per agent run: a retried step finds its own, a re-run makes a new one.
    run_pk = await exchange_log.latest_run_id(session, message.id)
    key = f"auto:{message.id}:{run_pk}"
    reply = await outbox.find_by_key(session, key)
    if reply is None:
        in_reply_to, references = outbox.threading_for(message)
        send = decision.action is Action.SEND
        reply = Reply(
            message_id=message.id,
            conversation_id=message.conversation_id,
            idempotency_key=key,
            from_address=store.support_email,
            # Always the From address (verified, or the draft says it is not): never Reply-To,
            # never an address from the body.
            to_address=message.from_address,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            generated_text=rendered.text,
            language=rendered.language,
            template=rendered.template,
            rfc_message_id=outbox.new_message_id(store.support_email),
            in_reply_to=in_reply_to,
            references=list(references),
            is_automated=send,
            status=ReplyStatus.QUEUED if send else ReplyStatus.DRAFT,
            decision=decision.action.value,
            decision_reasons=reasons,
            verification=problems,
        )
        session.add(reply)
        await session.flush()
        if send:
            await queue.enqueue(
                session, JobKind.SEND_REPLY, message_id=message.id, reply_id=reply.id
            )
    if reply.decision == Action.SEND.value:
        message.status = MessageStatus.ANSWERED
        message.status_reason = None
        return MessageStatus.ANSWERED
    message.status = MessageStatus.DRAFTED
    message.status_reason = "; ".join(reply.decision_reasons or [])[:2000]
    return MessageStatus.DRAFTED


def shown_facts(plan: ReplyPlan, calls: list[ToolCall]) -> tuple[BaseModel, ...]:
    """The typed tool results the reply shows: those the plan names, else every one that worked.

    A model that forgets to name its facts still gets a grounded reply; every result here came
    from a sender-scoped or public tool in this email's own run.
    """
    usable = [c for c in calls if c.result is not None and c.outcome == CallOutcome.OK.value]
    chosen = [c for c in usable if c.call_id in plan.facts] if plan.facts else usable
    facts = (tool_registry().facts_from(c.tool, c.result) for c in chosen if c.result is not None)
    return tuple(f for f in facts if f is not None)


def reply_evidence(
    calls: list[ToolCall], *, customer_text: str, store_hosts: Iterable[str]
) -> Evidence:
    """What a reply to this email may state: its run's tool results and the customer's words.

    Links may point at the store's own hosts (and tracking pages).
    """
    return gather_evidence(
        [json.dumps(c.result, ensure_ascii=False) for c in calls if c.result],
        customer_text=customer_text,
        store_hosts=store_hosts,
    )


def customer_words(message: Message) -> str:
    """The customer's own text as the verifier reads it (subject and cleaned body)."""
    return f"{message.subject or ''}\n{message.clean_text or ''}"


def store_identity(store: StoreConfig) -> StoreIdentity:
    """Who the store's replies come from, for the templates."""
    return StoreIdentity(
        name=store.name,
        support_email=store.support_email,
        url=store.store_url,
        signature=store.signature,
    )


def should_plan(message: Message) -> bool:
    """Whether the agent should plan a reply: not for mail held as spam."""
    codes = {decision.get("code") for decision in message.guard_decisions or []}
    return "spam_score" not in codes


def budgeted(llm: LLM, *, db: Database, settings: Settings) -> LLM:
    """The model behind the shared per-minute budget, when one is configured."""
    if llm.kind == "offline" or not (
        settings.OPENAI_REQUESTS_PER_MINUTE or settings.OPENAI_TOKENS_PER_MINUTE
    ):
        return llm
    budget = SharedBudget(
        db=db,
        key=f"openai:{settings.OPENAI_MODEL}",
        requests_per_minute=settings.OPENAI_REQUESTS_PER_MINUTE or UNLIMITED,
        tokens_per_minute=settings.OPENAI_TOKENS_PER_MINUTE or UNLIMITED,
    )
    return BudgetedLLM(llm, budget)


UNLIMITED = 2**31 - 1


def agent_limits(settings: Settings) -> AgentLimits:
    """The agent's caps from settings."""
    return AgentLimits(
        max_steps=settings.AGENT_MAX_STEPS,
        max_calls_per_turn=settings.AGENT_MAX_TOOL_CALLS_PER_TURN,
        max_calls_per_email=settings.AGENT_MAX_TOOL_CALLS_PER_EMAIL,
        max_tokens=settings.AGENT_MAX_TOKENS_PER_EMAIL,
        max_output_tokens=settings.AGENT_MAX_OUTPUT_TOKENS,
        min_confidence=settings.AGENT_MIN_CONFIDENCE,
    )
