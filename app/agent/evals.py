"""Run the labelled emails through the agent and report how the model did.

Every email in `emails.jsonl` goes through `run_agent` exactly as the pipeline would send it:
the body is cleaned by the production cleaner (quoted history and signatures stripped), the
sender is in the tool context only when the label says it was verified, and each email gets a
fresh demo store at the fixtures' own dates, so proposals made for one email never change what
the next one sees. The labels are what a careful support lead decided for each scenario; the
report compares the model's plan with them:

- intent accuracy: the plan's intent equals the labelled intent;
- tool-call correctness: the set of tools called (the final `submit_reply_plan` aside) equals
  the labelled set exactly, so a missing lookup and a needless one both count as wrong;
- needs-human precision and recall: of the emails the model handed to a person, how many a
  person should see; of those a person should see, how many the model handed over;
- reply language: each plan is rendered as the pipeline renders it, and the reply's language is
  compared with the email's (a German email answered in English counts as wrong);
- auto-sends: the rendered reply goes through the production verifier (commitments in the model's
  paragraph included) and the send policy with its grounding table, as in the pipeline;
- mean tokens and mean wall-clock latency per email;
- retrieval recall@3: on the labelled how-to questions (`howto.jsonl`, English and Persian),
  how often the `search_help` search ranks the article that answers one in its first three.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.agent.labelled import HELDOUT, EvalEmail, ExpectedOutcome, load_emails
from app.agent.llm import LLM
from app.agent.loop import SUBMIT_TOOL, AgentEmail, MemoryTrace, run_agent
from app.agent.plan import HandoverReason, Intent, ReplyPlan
from app.config import ConfigError, Settings, load_settings
from app.logs import configure_logging
from app.mail.cleantext import clean_text
from app.providers import Providers, build_providers
from app.replies.commitments import REASON as COMMITMENT
from app.replies.policy import Action, SendRules, decide
from app.replies.render import RenderedReply, ReplyInputs, StoreIdentity, render_reply
from app.replies.verify import gather_evidence, verify_reply
from app.store.demo import ANCHOR, DemoShop
from app.store.directory import default_store_config
from app.store.knowledge.measure import format_retrieval, measure_retrieval
from app.tools import tool_registry
from app.tools.kit import MemoryJournal, Sender, ToolContext
from app.tools.kit.context import CallOutcome, CallRecord

STORE_NAME = "Demo Store"
"""The demo store's name: the eval always runs against the bundled demo store."""
STORE = StoreIdentity(name=STORE_NAME, support_email="support@demo-store.example")
ERROR_REASONS = frozenset(
    {HandoverReason.PROVIDER_DOWN, HandoverReason.MODEL_ERROR, HandoverReason.CAP_HIT}
)
"""Handovers caused by the machinery rather than by the email; counted separately."""

# --- Results and scores ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EmailResult:
    """What the agent did with one labelled email."""

    email_id: str
    language: str
    expected: ExpectedOutcome
    intent: Intent
    tools: frozenset[str]
    needs_human: bool
    handover_reason: HandoverReason | None
    plan_language: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    would_send: bool = False
    """The default send policy would send this plan's reply without a person."""
    reply_language: str = ""
    """The language the rendered reply is written in (English when no catalog fits)."""
    reasons: tuple[str, ...] = ()
    """Why the send policy would hold the reply as a draft (empty when it would be sent)."""
    split: str = "dev"
    """The labelled email's split (`heldout`: kept out of the offline rules' development)."""

    @property
    def wrongly_sent(self) -> bool:
        """Sent on its own although the intent is wrong or a person should have seen it."""
        return self.would_send and (not self.intent_ok or self.expected.needs_human)

    @property
    def intent_ok(self) -> bool:
        """The plan's intent is the labelled one."""
        return self.intent is self.expected.intent

    @property
    def tools_ok(self) -> bool:
        """Exactly the labelled tools were called."""
        return self.tools == self.expected.tools

    @property
    def needs_human_ok(self) -> bool:
        """The handover decision is the labelled one."""
        return self.needs_human is self.expected.needs_human

    @property
    def language_ok(self) -> bool:
        """The plan's language is the customer's (primary subtags compared)."""
        return self.plan_language.split("-")[0].lower() == self.language.split("-")[0].lower()

    @property
    def reply_language_ok(self) -> bool:
        """The rendered reply is in the customer's language (primary subtags compared)."""
        return self.reply_language.split("_")[0].lower() == self.language.split("-")[0].lower()

    @property
    def machinery_error(self) -> bool:
        """Handed over because the model, a cap or the store failed, not for the email itself."""
        return self.handover_reason in ERROR_REASONS


@dataclass(frozen=True, kw_only=True)
class Scores:
    """The measures over a group of emails; None where a measure is undefined."""

    count: int
    intent_accuracy: float | None
    tool_accuracy: float | None
    human_precision: float | None
    """Of the emails handed to a person, the share a person should see."""
    human_recall: float | None
    """Of the emails a person should see, the share handed over."""
    language_accuracy: float | None
    """The share of plans in the customer's language."""
    reply_language_accuracy: float | None
    """The share of rendered replies in the customer's language."""
    mean_input_tokens: float | None
    mean_output_tokens: float | None
    mean_latency_ms: float | None
    errors: int


def score(results: Sequence[EmailResult]) -> Scores:
    """Compute the measures over `results`."""
    n = len(results)
    handed_over = [r for r in results if r.needs_human]
    should = [r for r in results if r.expected.needs_human]
    both = [r for r in handed_over if r.expected.needs_human]
    return Scores(
        count=n,
        intent_accuracy=_share(results, lambda r: r.intent_ok),
        tool_accuracy=_share(results, lambda r: r.tools_ok),
        human_precision=len(both) / len(handed_over) if handed_over else None,
        human_recall=len(both) / len(should) if should else None,
        language_accuracy=_share(results, lambda r: r.language_ok),
        reply_language_accuracy=_share(results, lambda r: r.reply_language_ok),
        mean_input_tokens=sum(r.input_tokens for r in results) / n if n else None,
        mean_output_tokens=sum(r.output_tokens for r in results) / n if n else None,
        mean_latency_ms=sum(r.latency_s for r in results) * 1000 / n if n else None,
        errors=sum(r.machinery_error for r in results),
    )


def _share(results: Sequence[EmailResult], ok: Callable[[EmailResult], bool]) -> float | None:
    return sum(ok(r) for r in results) / len(results) if results else None


@dataclass(frozen=True, kw_only=True)
class EvalReport:
    """Every email's result, and the model that produced them."""

    llm_kind: str
    model: str
    results: tuple[EmailResult, ...]

    @property
    def overall(self) -> Scores:
        """The measures over every email."""
        return score(self.results)

    @property
    def heldout(self) -> Scores:
        """The measures over the held-out split alone (rules never tuned on these emails)."""
        return score([r for r in self.results if r.split == HELDOUT])

    def by_intent(self) -> dict[Intent, Scores]:
        """The measures per labelled intent, for every intent (empty groups included)."""
        return {
            intent: score([r for r in self.results if r.expected.intent is intent])
            for intent in Intent
        }

    def by_language(self) -> dict[str, Scores]:
        """The measures per language the customers wrote in (primary subtag), most used first."""
        languages: dict[str, list[EmailResult]] = {}
        for result in self.results:
            languages.setdefault(result.language.split("-")[0].lower(), []).append(result)
        ordered = sorted(languages.items(), key=lambda item: (-len(item[1]), item[0]))
        return {language: score(group) for language, group in ordered}


# --- Running -----------------------------------------------------------------------------------


async def run_eval(
    *,
    llm: LLM,
    limit: int | None = None,
    now: datetime = ANCHOR,
    emails: Sequence[EvalEmail] | None = None,
    concurrency: int = 1,
    rules: SendRules | None = None,
) -> EvalReport:
    """Run the labelled emails (the first `limit` of them) through the agent with `llm`.

    Args:
        llm: the model to measure.
        limit: run only this many emails, from the top of the file.
        now: the demo store's present (the fixtures' own dates by default).
        emails: the labelled emails; the bundled set when omitted.
        concurrency: how many emails run at once (1: one after another, the cleanest latency).
        rules: the send policy to count auto-sends with; the default settings' when omitted.
    """
    rules = rules or SendRules(
        auto_send_intents=frozenset(_default("AUTO_SEND_INTENTS")),
        min_confidence=_default("AUTO_SEND_MIN_CONFIDENCE"),
        shadow_mode=False,
    )
    chosen = list(load_emails() if emails is None else emails)
    if limit is not None:
        chosen = chosen[: max(0, limit)]
    # The production summary of the demo store's policies, as the pipeline gives the agent.
    policy_summary = await Providers(shop=DemoShop(now=now), llm=llm).policy_summary()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(email: EvalEmail) -> EmailResult:
        async with gate:
            return await _run_one(
                email, llm=llm, now=now, policy_summary=policy_summary, rules=rules
            )

    results = await asyncio.gather(*(one(email) for email in chosen))
    return EvalReport(llm_kind=llm.kind, model=llm.model, results=tuple(results))


def _default(name: str) -> Any:
    """A setting's default value (the eval measures the policy as shipped)."""
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


async def _run_one(
    email: EvalEmail, *, llm: LLM, now: datetime, policy_summary: str, rules: SendRules
) -> EmailResult:
    journal = MemoryJournal()
    ctx = ToolContext(
        shop=DemoShop(now=now),
        sender=Sender(email=email.sender) if email.verified else None,
        journal=journal,
        now=now,
    )
    cleaned = clean_text(text=email.body, html="")
    agent_email = AgentEmail(subject=email.subject, text=cleaned)
    started = time.perf_counter()
    outcome = await run_agent(
        agent_email,
        ctx=ctx,
        llm=llm,
        trace=MemoryTrace(),
        store_name=STORE_NAME,
        policy_summary=policy_summary,
    )
    latency = time.perf_counter() - started
    plan = outcome.plan
    reply = _render(email, plan, journal.calls)
    # The pipeline's verifier and policy, over this run's tool results and the customer's words.
    evidence = gather_evidence(
        [json.dumps(c.facts, ensure_ascii=False) for c in journal.calls if c.facts],
        customer_text=f"{email.subject}\n{cleaned}",
        store_hosts=[],
    )
    problems = verify_reply(
        reply,
        evidence=evidence,
        recipient=email.sender,
        verified_sender=email.sender if email.verified else None,
        own_addresses=[STORE.support_email],
    )
    decision = decide(
        plan,
        rules=rules,
        sender_verified=email.verified,
        verification_problems=problems,
        guard_holds=[],
        shown=reply.shown,
        language_fallback=reply.requested_language if reply.language_fallback else None,
    )
    return EmailResult(
        email_id=email.id,
        language=email.language,
        expected=email.expected,
        intent=plan.intent,
        tools=frozenset(c.tool for c in journal.calls if c.tool != SUBMIT_TOOL),
        needs_human=plan.needs_human,
        handover_reason=plan.handover_reason,
        plan_language=plan.language,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
        latency_s=latency,
        would_send=decision.action is Action.SEND,
        reasons=decision.reasons,
        reply_language=reply.language,
        split=email.split,
    )


def _render(email: EvalEmail, plan: ReplyPlan, calls: Sequence[CallRecord]) -> RenderedReply:
    """The reply the pipeline would render for this plan, from the results the plan shows."""
    usable = [c for c in calls if c.outcome is CallOutcome.OK and c.facts is not None]
    chosen = [c for c in usable if c.call_id in plan.facts] if plan.facts else usable
    facts = [tool_registry().facts_from(c.tool, c.facts) for c in chosen if c.facts is not None]
    return render_reply(
        ReplyInputs(
            plan=plan,
            facts=tuple(f for f in facts if f is not None),
            sender_name=None,
            sender_verified=email.verified,
            original_subject=email.subject,
        ),
        store=STORE,
    )


# --- Reporting ---------------------------------------------------------------------------------

_COLUMNS = (
    ("intent", 20, "<"),
    ("n", 4, ">"),
    ("intent acc", 10, ">"),
    ("tools ok", 9, ">"),
    ("human P", 8, ">"),
    ("human R", 8, ">"),
    ("in tok", 8, ">"),
    ("out tok", 8, ">"),
    ("latency ms", 11, ">"),
)
OVERALL_LABEL = "overall"
HELDOUT_LABEL = "held-out"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _row(label: str, scores: Scores) -> str:
    cells = (
        label,
        str(scores.count),
        _percent(scores.intent_accuracy),
        _percent(scores.tool_accuracy),
        _percent(scores.human_precision),
        _percent(scores.human_recall),
        _number(scores.mean_input_tokens),
        _number(scores.mean_output_tokens),
        _number(scores.mean_latency_ms, 1),
    )
    return "  ".join(
        f"{cell:{align}{width}}" for cell, (_, width, align) in zip(cells, _COLUMNS, strict=True)
    )


def format_report(report: EvalReport) -> str:
    """The report as a plain-text table: one row per intent, the totals, then each language."""
    overall = report.overall
    header = "  ".join(f"{name:{align}{width}}" for name, width, align in _COLUMNS)
    lines = [
        f"model: {report.llm_kind} / {report.model}",
        f"emails: {overall.count}",
        "",
        header,
        "-" * len(header),
        *(_row(intent.value, scores) for intent, scores in report.by_intent().items()),
        "-" * len(header),
        _row(OVERALL_LABEL, overall),
        _row(HELDOUT_LABEL, report.heldout),
        "",
    ]
    for language, scores in report.by_language().items():
        lines.append(
            f"language {language:<4} n={scores.count:<4} intent accuracy "
            f"{_percent(scores.intent_accuracy):>6}  tools ok {_percent(scores.tool_accuracy):>6}"
            f"  plan language right {_percent(scores.language_accuracy):>6}"
            f"  reply in their language {_percent(scores.reply_language_accuracy):>6}"
        )
    lines += [
        "",
        "intent acc: plan intent = label; tools ok: set of tools called = labelled set; "
        "human P/R: needs_human precision/recall (- where undefined); reply in their language: "
        "the rendered reply is in the email's language; held-out: the emails kept out of the "
        "offline rules' development.",
    ]
    sent = [r for r in report.results if r.would_send]
    wrong = [r.email_id for r in sent if r.wrongly_sent]
    lines.append(
        f"auto-send under the default policy: {len(sent)} of {overall.count} emails "
        f"({_percent(len(sent) / overall.count if overall.count else None)}) answered without "
        f"a person; wrongly sent: {len(wrong)}{' (' + ', '.join(wrong) + ')' if wrong else ''}."
    )
    committed = [r.email_id for r in report.results if _held_for(r, COMMITMENT)]
    ungrounded = [r.email_id for r in report.results if _held_for(r, "is not grounded")]
    lines.append(
        f"held because the model's paragraph commits to something: {len(committed)}; "
        f"held because the tool results do not ground the intent: {len(ungrounded)}."
    )
    if overall.errors:
        lines.append(
            f"{overall.errors} email(s) were handed over because the model, a cap or the store "
            "failed (provider_down, model_error, cap_hit)."
        )
    return "\n".join(lines)


def _held_for(result: EmailResult, words: str) -> bool:
    return any(words in reason for reason in result.reasons)


def format_misses(report: EvalReport) -> str:
    """One line per email where the plan differs from its label, for reading the failures."""
    lines: list[str] = []
    for r in report.results:
        if r.intent_ok and r.tools_ok and r.needs_human_ok:
            continue
        parts = [f"{r.email_id:<10}"]
        if not r.intent_ok:
            parts.append(f"intent {r.expected.intent.value} -> {r.intent.value}")
        if not r.tools_ok:
            expected = ",".join(sorted(r.expected.tools)) or "none"
            called = ",".join(sorted(r.tools)) or "none"
            parts.append(f"tools {expected} -> {called}")
        if not r.needs_human_ok:
            reason = f" ({r.handover_reason.value})" if r.handover_reason else ""
            parts.append(f"needs_human {r.expected.needs_human} -> {r.needs_human}{reason}")
        lines.append("  ".join(parts))
    return "\n".join(lines) if lines else "no misses"


# --- Command line ------------------------------------------------------------------------------


async def main() -> int:
    """`python -m app eval`: measure the configured model on the labelled set; print the report.

    Settings come from the environment as for every command; the inbound webhook's
    authentication does not matter here, so its absence is allowed.
    """
    configure_logging("WARNING")
    try:
        settings = load_settings(INBOUND_ALLOW_UNAUTHENTICATED=True)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    providers = build_providers(settings)
    try:
        report = await run_eval(
            llm=providers.llm, rules=SendRules.from_store(default_store_config(settings))
        )
    finally:
        await providers.aclose()
    retrieval = format_retrieval(await measure_retrieval())
    sys.stdout.write(f"{format_report(report)}\n{retrieval}\n\nmisses:\n{format_misses(report)}\n")
    return 0
