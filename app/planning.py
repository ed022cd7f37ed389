"""Planning one email's reply: the agent's run, the rendered reply and the verifier's verdict.

Pipeline steps 4 to 6 (`app.pipeline`). One short unit of work opens the run and reads the
customer's earlier emails in the thread they named; the agent then runs with no transaction
open, its turns and tool calls buffered; the reply is rendered from the tool results and
checked by the verifier. Nothing here decides or writes the email's outcome: the pipeline
files the run, the plan and the reply together (`keep_run_in` adds the run to that unit).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.agent import exchange_log
from app.agent.budget import BudgetedLLM, SharedBudget
from app.agent.llm import LLM, tools_hash
from app.agent.loop import (
    AgentEmail,
    AgentLimits,
    AgentOutcome,
    ThreadMessage,
    offered_tools,
    run_agent,
)
from app.agent.plan import HandoverReason, ReplyPlan
from app.agent.reading import read_email
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, ToolCall
from app.db.scope import ALL_STORES
from app.intake import messages
from app.intake.classify import Loaded, Reading, referenced_ids, thread_owners
from app.intake.messages import StepClock
from app.jobs import queue
from app.mail.models import InboundEmail
from app.providers import NoShop, Providers
from app.replies.next_product import NextProductFacts, SuggestionShop, choose_next_product
from app.replies.render import RenderedReply, ReplyInputs, StoreIdentity, render_reply
from app.replies.verify import Evidence, gather_evidence, verify_reply
from app.store.directory import StoreConfig, StoreDirectory
from app.store.examples import PromptExample, find_examples_in
from app.store.knowledge import StoreKnowledge
from app.store.protocol import Shop, ShopError
from app.store.segment_cuts import cuts_in
from app.store.segments import StoreCuts
from app.store.suggestions import record_suggestion_in, redirect_link
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, Sender, ToolContext

logger = logging.getLogger(__name__)
T = TypeVar("T")
UNLIMITED = 2**31 - 1


class Units:
    """One email's units of work (`Database.unit`), each timed as database time."""

    def __init__(self, db: Database, clock: StepClock) -> None:
        self.db = db
        self.clock = clock

    async def run(self, work: Callable[[Session], T], *, everywhere: bool = False) -> T:
        """Run `work` in one unit of work (deployment-wide if `everywhere`, else the handle's)."""
        started = time.perf_counter()
        try:
            return await self.db.unit(work, ALL_STORES if everywhere else None)
        finally:
            self.clock.database(time.perf_counter() - started)


@dataclass(frozen=True, kw_only=True)
class Held:
    """No plan: a person answers (the store's shop cannot be asked)."""

    reason: str


@dataclass(frozen=True, kw_only=True)
class Planned:
    """The agent's run, the rendered reply and the verifier's problems, not yet filed."""

    run_pk: int
    outcome: AgentOutcome
    trace: exchange_log.SqlTrace
    journal: exchange_log.SqlJournal
    rendered: RenderedReply
    problems: list[str]

    def keep_in(self, session: Session) -> None:
        """Add the run, its turns and its tool calls to the caller's unit of work."""
        keep_run_in(session, self.run_pk, self.outcome, self.trace, self.journal)


@dataclass(frozen=True, kw_only=True)
class _Earlier:
    """What `thread_history` needs of this email, before it is filed."""

    id: int
    conversation_id: int | None
    sender_verified: bool | None
    from_address: str | None


async def plan_reply(
    units: Units,
    loaded: Loaded,
    reading: Reading,
    *,
    settings: Settings,
    providers: Providers,
    stores: StoreDirectory,
    may_defer: bool,
) -> Planned | Held:
    """Run the agent on a cleared (or held) email, render its reply and verify it.

    The agent asks the store's own shop; a store whose shop cannot be built (no credentials)
    has its email held for a person instead, never answered from another store's shop.
    Raises `RetryLater` instead when a provider was down and `may_defer` allows waiting.
    `units` must be scoped to the email's store.
    """
    store, email, clock = reading.store, reading.email, units.clock
    try:
        shop = await providers.shop_for(store, stores.secrets)
    except NoShop as exc:
        logger.warning("email held: no shop", extra={"message_pk": loaded.message_pk})
        return Held(reason=f"no shop to answer from, a person answers: {exc}"[:2000])
    sender = None
    if reading.identity.verified and email.from_ is not None:
        sender = Sender(email=email.from_.address, name=email.from_.name)
    tools = offered_tools(tool_registry(), verified_sender=sender is not None)
    llm = budgeted(providers.llm, db=units.db, settings=settings)
    run_pk, history, cuts, examples = await units.run(
        lambda s: _start_in(s, loaded, reading, llm=llm, tools=tools)
    )
    journal = exchange_log.SqlJournal(
        units.db, message_pk=loaded.message_pk, run_pk=run_pk, buffered=True
    )
    trace = exchange_log.SqlTrace(
        units.db,
        run_pk=run_pk,
        message_pk=loaded.message_pk,
        tools_hash=tools_hash(tools),
        buffered=True,
    )
    summary = await providers.policy_summary(shop, store_id=store.id)
    clock.start()
    outcome = await run_agent(
        AgentEmail(
            subject=email.subject,
            text=email.clean_text or "",
            sender_name=email.from_.name if email.from_ else None,
            history=tuple(ThreadMessage(author="customer", text=text) for text in history),
        ),
        ctx=ToolContext(
            shop=shop,
            sender=sender,
            journal=journal,
            knowledge=StoreKnowledge(units.db),
            segment_cuts=cuts,
        ),
        llm=llm,
        trace=trace,
        store_name=store.name,
        policy_summary=summary,
        limits=agent_limits(settings),
        fallback=providers.fallback_llm,
        examples=examples,
    )
    clock.lap("agent", outcome.plan.intent.value)
    if may_defer and outcome.plan.handover_reason is HandoverReason.PROVIDER_DOWN:
        await units.run(lambda s: keep_run_in(s, run_pk, outcome, trace, journal))
        logger.warning("provider down; email deferred", extra={"message_pk": loaded.message_pk})
        raise queue.RetryLater(
            "a provider is down; the email will be planned again",
            delay=timedelta(seconds=settings.CIRCUIT_RESET_SECONDS),
        )
    extra = await suggest_product(units, reading, outcome.plan, shop=shop, settings=settings)
    rendered, problems = _compose(reading, outcome.plan, journal.buffered_calls, clock, extra)
    logger.info(
        "reply planned",
        extra={
            "message_pk": loaded.message_pk,
            "intent": outcome.plan.intent.value,
            "needs_human": outcome.plan.needs_human,
            "llm": outcome.llm_kind,
            "steps": outcome.steps,
        },
    )
    return Planned(
        run_pk=run_pk,
        outcome=outcome,
        trace=trace,
        journal=journal,
        rendered=rendered,
        problems=problems,
    )


def examples_in(session: Session, email: InboundEmail) -> tuple[PromptExample, ...]:
    """Staff-approved replies to similar emails of the intent and language the rules read.

    The model has not read the email yet, so the keyword rules (`read_email`) say which intent
    and language to look in. Read in the unit that opens the agent's run (no transaction of its
    own), inside a savepoint: a failed lookup costs the examples, never the reply.
    """
    reading = read_email(email.subject, email.clean_text or "")
    try:
        with session.begin_nested():
            return find_examples_in(
                session,
                query=customer_words(email),
                intent=reading.intent.value,
                language=reading.language,
            )
    except Exception:
        logger.exception("reply examples not found; planning without them")
        return ()


def _start_in(
    session: Session,
    loaded: Loaded,
    reading: Reading,
    *,
    llm: LLM,
    tools: tuple[dict[str, Any], ...],
) -> tuple[int, list[str], StoreCuts | None, tuple[PromptExample, ...]]:
    """Open the agent's run and read the sender's earlier emails in the thread they named.

    Only a verified sender gets history, and only of their own conversation (see
    `messages.thread_history`); the email is threaded for good when it is filed. For a verified
    sender the store's LFRM boundaries are read too (their profile's segment is scored on them),
    and for every email the staff-approved examples like it (`examples_in`).
    """
    email = reading.email
    history: list[str] = []
    if reading.identity.verified and email.from_ is not None and referenced_ids(email):
        match = messages.match_thread(session, referenced_ids(email), owners=thread_owners(reading))
        earlier = _Earlier(
            id=loaded.message_pk,
            conversation_id=match.conversation_id,
            sender_verified=True,
            from_address=email.from_.address,
        )
        history = messages.thread_history(session, earlier)
    cuts = cuts_in(session, reading.store.id) if reading.identity.verified else None
    run_pk = exchange_log.start_run_in(
        session, message_pk=loaded.message_pk, llm_kind=llm.kind, model=llm.model, tools=tools
    )
    return run_pk, history, cuts, examples_in(session, email)


async def suggest_product(
    units: Units, reading: Reading, plan: ReplyPlan, *, shop: Shop, settings: Settings
) -> tuple[NextProductFacts, ...]:
    """The right next product for this reply, when the store opts in (else nothing).

    `choose_next_product` refuses every intent but order status and every unverified sender;
    a store that cannot answer costs the reply its suggestion, never the reply itself.
    """
    email = reading.email
    if not settings.NEXT_PRODUCT_ENABLED or not isinstance(shop, SuggestionShop):
        return ()
    verified = email.from_.address if reading.identity.verified and email.from_ else None
    try:
        facts = await choose_next_product(shop, intent=plan.intent.value, verified_email=verified)
    except ShopError:
        logger.warning("no product suggestion: the store did not answer")
        return ()
    if facts is None:
        return ()
    base = settings.NEXT_PRODUCT_LINK_BASE_URL
    now = datetime.now(UTC)
    chosen = facts
    token = await units.run(
        lambda s: record_suggestion_in(
            s,
            store_id=reading.store.id,
            product_id=chosen.product_id,
            product_title=chosen.title,
            url=chosen.url,
            now=now,
        )
    )
    if base:
        facts = facts.model_copy(update={"link": redirect_link(base, token)})
    return (facts,)


def _compose(
    reading: Reading,
    plan: ReplyPlan,
    calls: list[ToolCall],
    clock: StepClock,
    extra: tuple[NextProductFacts, ...] = (),
) -> tuple[RenderedReply, list[str]]:
    """Steps 5 and 6: render the plan from the tool results, and verify the reply.

    A suggested product (`extra`) is shown and its JSON is evidence, like any tool result.
    """
    store, email = reading.store, reading.email
    rendered = render_reply(
        ReplyInputs(
            plan=plan,
            facts=(*shown_facts(plan, calls), *extra),
            sender_name=email.from_.name if email.from_ else None,
            sender_verified=reading.identity.verified,
            original_subject=email.subject,
            lookup_missed=any(
                tool_registry().missed_order_lookup(c.tool, c.outcome) for c in calls
            ),
        ),
        store=store_identity(store),
    )
    clock.lap("render", rendered.template)
    address = email.from_.address if email.from_ else None
    problems = verify_reply(
        rendered,
        evidence=reply_evidence(
            calls,
            customer_text=customer_words(email),
            store_hosts=store.store_hosts,
            facts=extra,
        ),
        recipient=address or "",
        verified_sender=address if reading.identity.verified else None,
        own_addresses=store.support_addresses,
    )
    clock.lap("verify", "passed" if not problems else f"{len(problems)} problem(s)")
    return rendered, problems


def keep_run_in(
    session: Session,
    run_pk: int,
    outcome: AgentOutcome,
    trace: exchange_log.SqlTrace,
    journal: exchange_log.SqlJournal,
) -> None:
    """Record an agent run's outcome and its buffered turns and tool calls."""
    trace.flush_into(session)
    journal.flush_into(session)
    exchange_log.finish_run_in(session, run_pk, outcome)


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
    calls: list[ToolCall],
    *,
    customer_text: str,
    store_hosts: Iterable[str],
    facts: Iterable[BaseModel] = (),
) -> Evidence:
    """What a reply to this email may state: its run's tool results and the customer's words.

    Links may point at the store's own hosts (and tracking pages).
    """
    return gather_evidence(
        [json.dumps(c.result, ensure_ascii=False) for c in calls if c.result]
        + [f.model_dump_json() for f in facts],
        customer_text=customer_text,
        store_hosts=store_hosts,
    )


def customer_words(message: Message | InboundEmail) -> str:
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
