"""b. What an email costs the service: the pipeline against the same work with no database.

    python -m bench.costs [--emails 300] [--postgres URL]

Pipeline: stored emails (verified customers asking where order #1001 is) are run one at a time
by the worker (`Worker.run_once`: claim + load, plan, file, send inline, outcome) with providers
that answer at once: the demo store, a scripted model (a `get_order` turn, then the plan) and
the log mail sender, which writes each reply to a file. Every email takes the auto-send path.
The first emails fill the process's caches and are not measured. Transactions and statements
are counted with SQLAlchemy's `begin` and `before_cursor_execute` events on every engine.

Baseline, same run: the same emails through the same functions with no database: parse
(`parse_stored_delivery`), identity and guards, the agent (`run_agent` with the trace and
journal buffered, as the pipeline runs it), render and verify, the policy's decision, and the
reply's MIME written to a file as the log sender does. Target: at most 2x the baseline, and at
most 4 transactions per email.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select

from app.agent import exchange_log
from app.agent.llm import tools_hash
from app.agent.loop import AgentEmail, offered_tools, run_agent
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, Reply
from app.db.scope import ALL_STORES
from app.intake.classify import decide_status, mime_ceilings, own_identity
from app.jobs.worker import Worker
from app.mail.adapter import Delivery
from app.mail.guards import check_never_answer, check_sender
from app.mail.identity import verify_sender
from app.mail.providers.sendgrid import parse_stored_delivery
from app.planning import (
    agent_limits,
    customer_words,
    reply_evidence,
    shown_facts,
    store_identity,
)
from app.providers import Providers
from app.replies.outbox import new_message_id, threading_for
from app.replies.policy import SendRules, decide
from app.replies.render import ReplyInputs, render_reply
from app.replies.senders import OutgoingEmail, as_mime
from app.replies.verify import verify_reply
from app.store.demo import DemoShop
from app.store.directory import default_store_config
from app.tools import tool_registry
from app.tools.kit.context import Sender, ToolContext
from bench.backlog import ScriptLLM, bench_providers, delivery, store_backlog
from bench.harness import Say, Span, bench_settings, counting, fresh_database, kind_of, quiet

RATIO_TARGET = 2.0
TRANSACTIONS_TARGET = 4
WARMUP = 10
UNITS = ("claim + load", "open the agent's run", "file the email and reply", "send outcome + job")
"""The auto-send path's units of work, in the order they commit."""
NO_DATABASE = cast(Database, None)
"""What the buffered trace and journal are given: buffered, they never touch a database."""


async def pipeline_cost(
    postgres: str | None, workdir: Path, *, emails: int, warmup: int = WARMUP, say: Say = quiet
) -> dict[str, Any]:
    """Milliseconds, transactions and statements per email through the worker."""
    url = await fresh_database(postgres, workdir)
    db = Database.connect(url)
    settings = bench_settings(url, workdir)
    try:
        say(f"storing {warmup + emails} emails")
        await store_backlog(db, warmup + emails)
        worker = Worker(db=db, settings=settings, providers=bench_providers(workdir / "outbox"))
        for _ in range(warmup):
            await worker.run_once()
        say(f"pipeline: {emails} emails, one at a time")
        with counting(db) as counter:
            started = time.perf_counter()
            for _ in range(emails):
                await worker.run_once()
            elapsed = time.perf_counter() - started
        outcomes, sent, steps = await _outcomes(db, first_measured=warmup + 1)
    finally:
        await db.dispose()
    return {
        "emails": emails,
        "ms_per_email": round(elapsed * 1000 / emails, 2),
        "transactions_per_email": round(counter.count / emails, 2),
        "statements_per_email": round(counter.statements / emails, 2),
        "ms_in_transactions_per_email": round(counter.seconds * 1000 / emails, 2),
        "ms_in_statements_per_email": round(counter.statement_seconds * 1000 / emails, 2),
        "units": by_unit(counter.spans, emails),
        "outcomes": outcomes,
        "replies_sent": sent,
        "step_ms": steps,
    }


async def _outcomes(
    db: Database, *, first_measured: int
) -> tuple[dict[str, int], int, dict[str, float]]:
    async with db.read(ALL_STORES) as session:
        measured = Message.id >= first_measured
        outcomes = {
            str(status): int(n)
            for status, n in (
                await session.execute(
                    select(Message.status, func.count()).where(measured).group_by(Message.status)
                )
            ).all()
        }
        sent = (
            await session.execute(
                select(func.count()).where(
                    Reply.message_id >= first_measured, Reply.sent_at.is_not(None)
                )
            )
        ).scalar_one()
        totals: dict[str, list[float]] = defaultdict(list)
        for steps in (await session.execute(select(Message.steps).where(measured))).scalars():
            for step in steps or []:
                totals[str(step["step"])].append(float(step["ms"]))
    means = {name: round(statistics.fmean(values), 2) for name, values in totals.items()}
    return outcomes, int(sent), means


def by_unit(spans: list[Span], emails: int) -> dict[str, dict[str, float]]:
    """Each of an email's units of work, in order: mean milliseconds inside the transaction,
    statements, and milliseconds executing them.

    Empty unless every email took exactly the auto-send path's units (`UNITS`).
    """
    if not spans or len(spans) != len(UNITS) * emails:
        return {}
    found = {}
    for i, name in enumerate(UNITS):
        mine = spans[i :: len(UNITS)]
        found[name] = {
            "ms": round(statistics.fmean(s.seconds for s in mine) * 1000, 2),
            "statements": round(statistics.fmean(s.statements for s in mine), 1),
            "statement_ms": round(statistics.fmean(s.statement_seconds for s in mine) * 1000, 2),
        }
    return found


@dataclass(frozen=True)
class _Answered:
    message_id: str
    in_reply_to: list[str] | None
    references: list[str] | None
    has_synthetic_message_id: bool
    replies_to_conversation_id: int | None


async def no_database_cost(
    emails: int, settings: Settings, outbox: Path, *, warmup: int = WARMUP, say: Say = quiet
) -> dict[str, Any]:
    """The same emails through the pipeline's own functions, no database: ms per email and part."""
    store = default_store_config(settings)
    rules = SendRules.from_store(store)
    own = own_identity(settings, [store])
    ceilings = mime_ceilings(settings)
    shop = DemoShop()
    summary = await Providers(shop=shop, llm=ScriptLLM()).policy_summary(shop)
    stored = [delivery(n) for n in range(emails + warmup)]
    parts: dict[str, float] = defaultdict(float)
    await asyncio.to_thread(outbox.mkdir, parents=True, exist_ok=True)
    say(f"no database: {emails} emails")
    sent = 0
    for index, new in enumerate(stored):
        if index == warmup:
            parts.clear()
            sent = 0
        clock = _Clock(parts)
        found = Delivery(
            payload_format=new.payload_format,
            checksum=new.checksum,
            message_id=new.message_id,
            has_synthetic_message_id=new.has_synthetic_message_id,
        )
        email = parse_stored_delivery(
            new.raw,
            new.content_type,
            found,
            max_parts=settings.INBOUND_MAX_PARTS,
            ceilings=ceilings,
        )
        clock.lap("parse")
        identity = verify_sender(email)
        early = check_never_answer(email, own) + check_sender(
            email, spam_score_threshold=settings.SPAM_SCORE_THRESHOLD
        )
        decide_status(early)
        clock.lap("identity + guards")
        if email.from_ is None or not identity.verified:
            raise RuntimeError(f"email {index} is not from a verified customer")
        tools = offered_tools(tool_registry(), verified_sender=True)
        journal = exchange_log.SqlJournal(NO_DATABASE, message_pk=None, run_pk=0, buffered=True)
        trace = exchange_log.SqlTrace(
            NO_DATABASE, run_pk=0, message_pk=None, tools_hash=tools_hash(tools), buffered=True
        )
        outcome = await run_agent(
            AgentEmail(
                subject=email.subject,
                text=email.clean_text or "",
                sender_name=email.from_.name,
            ),
            ctx=ToolContext(
                shop=shop,
                sender=Sender(email=email.from_.address, name=email.from_.name),
                journal=journal,
            ),
            llm=ScriptLLM(),
            trace=trace,
            store_name=store.name,
            policy_summary=summary,
            limits=agent_limits(settings),
        )
        clock.lap("agent")
        calls, plan = journal.buffered_calls, outcome.plan
        rendered = render_reply(
            ReplyInputs(
                plan=plan,
                facts=shown_facts(plan, calls),
                sender_name=email.from_.name,
                sender_verified=True,
                original_subject=email.subject,
                lookup_missed=any(
                    tool_registry().missed_order_lookup(c.tool, c.outcome) for c in calls
                ),
            ),
            store=store_identity(store),
        )
        clock.lap("render")
        problems = verify_reply(
            rendered,
            evidence=reply_evidence(
                calls, customer_text=customer_words(email), store_hosts=store.store_hosts
            ),
            recipient=email.from_.address,
            verified_sender=email.from_.address,
            own_addresses=store.support_addresses,
        )
        clock.lap("verify")
        decision = decide(
            plan,
            rules=rules,
            sender_verified=True,
            verification_problems=problems,
            guard_holds=[],
            shown=rendered.shown,
        )
        clock.lap("policy")
        in_reply_to, references = threading_for(
            _Answered(
                message_id=found.message_id,
                in_reply_to=list(email.in_reply_to),
                references=list(email.references),
                has_synthetic_message_id=False,
                replies_to_conversation_id=None,
            )
        )
        outgoing = OutgoingEmail(
            from_address=store.support_email,
            from_name=store.name,
            to_address=email.from_.address,
            to_name=None,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            message_id=new_message_id(store.support_email),
            in_reply_to=in_reply_to,
            references=references,
        )
        (outbox / f"{index}.eml").write_bytes(as_mime(outgoing))
        clock.lap("reply MIME + file")
        sent += decision.action.value == "send"
    total = sum(parts.values())
    return {
        "emails": emails,
        "ms_per_email": round(total * 1000 / emails, 2),
        "part_ms": {name: round(s * 1000 / emails, 3) for name, s in parts.items()},
        "would_send": sent,
    }


class _Clock:
    """Adds the time since the last lap to `parts[name]`."""

    def __init__(self, parts: dict[str, float]) -> None:
        self.parts = parts
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.parts[name] += now - self.last
        self.last = now


async def measure_costs(
    postgres: str | None, workdir: Path, *, emails: int, warmup: int = WARMUP, say: Say = quiet
) -> dict[str, Any]:
    """b on one database: the pipeline, the baseline, the ratio and the transaction count."""
    pipeline = await pipeline_cost(
        postgres, workdir / "pipeline", emails=emails, warmup=warmup, say=say
    )
    settings = bench_settings("sqlite+aiosqlite:///:memory:", workdir)
    baseline = await no_database_cost(
        emails, settings, workdir / "no-db-outbox", warmup=warmup, say=say
    )
    ratio = pipeline["ms_per_email"] / baseline["ms_per_email"]
    answered = pipeline["outcomes"].get("answered", 0) == emails == pipeline["replies_sent"]
    return {
        "database": kind_of(postgres),
        "pipeline": pipeline,
        "no_database": baseline,
        "ratio": round(ratio, 2),
        "auto_send_path": answered,
        "targets": {"ratio": f"<= {RATIO_TARGET}", "transactions_per_email": "<= 4"},
        "ratio_met": ratio <= RATIO_TARGET,
        "transactions_met": answered and pipeline["transactions_per_email"] <= TRANSACTIONS_TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL (emptied); default: SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-costs-") as tmp:
        result = asyncio.run(measure_costs(args.postgres, Path(tmp), emails=args.emails, say=print))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
