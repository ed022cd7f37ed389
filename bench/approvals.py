"""d. A reply staff approve during a backlog is sent within a second (p95).

    python -m bench.approvals [--postgres URL] [--backlog 2000] [--approvals 20]

Drafts first: a few emails from senders not verified, planned by the offline model. Then a backlog
of inbound emails is stored and `python -m app worker` (its defaults: 64 jobs in flight, the
offline model, the demo store, the log mail sender) starts draining it. While it does, the
drafts are approved one at a time, spread over the drain, by the admin's own function
(`app.admin.review.approve_draft`: the reply queued and its `send_reply` job enqueued in one
transaction). Each latency runs from the approval's commit to the reply's `sent_at`; the
backlog still waiting at each approval is recorded, so the figures show the queue was not empty.
Target: p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.admin.review import approve_draft
from app.admin.staff import Staff
from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import ReplyStatus
from app.jobs.worker import Worker
from app.providers import Providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from bench.backlog import store_backlog
from bench.harness import (
    Say,
    bench_env,
    bench_settings,
    fresh_database,
    job_counts,
    kind_of,
    quiet,
    start_python,
    stop_process,
)

TARGET_P95_S = 1.0
STAFF = Staff(id=1, email="bench@demo-store.example", name="Bench")
DEFAULT_STORE_ID = 1


async def make_drafts(db: Database, settings: Settings, workdir: Path, count: int) -> list[int]:
    """`count` drafts: emails from senders not verified are never answered on their own."""
    await store_backlog(db, count, verified=False)
    providers = Providers(
        shop=DemoShop(), llm=OfflineModel(), mail=LogMailSender(workdir / "outbox")
    )
    await Worker(db=db, settings=settings, providers=providers).drain()
    async with db.read(ALL_STORES) as session:
        statement = select(Reply.id).where(Reply.status == ReplyStatus.DRAFT).order_by(Reply.id)
        drafts = list((await session.execute(statement)).scalars())
    if len(drafts) != count:
        raise RuntimeError(f"{count} emails made {len(drafts)} drafts")
    return drafts


async def measure_approvals(
    postgres: str | None,
    workdir: Path,
    *,
    backlog: int = 2000,
    approvals: int = 20,
    every: float = 0.5,
    say: Say = quiet,
) -> dict[str, Any]:
    """d on one database: approval-to-sent latencies while a worker drains `backlog` emails."""
    url = await fresh_database(postgres, workdir)
    db = Database.connect(url)
    settings = bench_settings(url, workdir)
    approved: list[tuple[int, datetime, int]] = []
    moments: list[float] = []
    try:
        say(f"making {approvals} drafts")
        drafts = await make_drafts(db, settings, workdir, approvals)
        say(f"storing a backlog of {backlog} emails")
        await store_backlog(db, backlog, start=approvals)
        say("starting `python -m app worker` (its defaults)")
        worker = await start_python(["-m", "app", "worker"], bench_env(url, workdir))
        try:
            deadline = time.monotonic() + 60
            while (await job_counts(db)).inbound_done <= approvals:
                if time.monotonic() > deadline or worker.returncode is not None:
                    raise RuntimeError("the worker completed no email")
                await asyncio.sleep(0.1)
            say(f"approving {approvals} drafts, one every {every:g} s")
            for reply_pk in drafts:
                waiting = (await job_counts(db)).inbound_waiting
                await approve_draft(
                    db.for_store(DEFAULT_STORE_ID), reply_pk, staff=STAFF, settings=settings
                )
                approved.append((reply_pk, utcnow(), waiting))
                moments.append(time.perf_counter())
                await asyncio.sleep(every)
            sent = await _wait_for_sends(db, [pk for pk, _, _ in approved])
            end = await job_counts(db)
        finally:
            await stop_process(worker)
    finally:
        await db.dispose()
    latencies = sorted(
        (when - at).total_seconds() for pk, at, _ in approved if (when := sent.get(pk)) is not None
    )
    p95 = _percentile(latencies, 0.95) if len(latencies) == len(approved) else None
    least_waiting = min(waiting for _, _, waiting in approved)
    span = moments[-1] - moments[0] if len(moments) > 1 else 0.0
    drained = approved[0][2] - approved[-1][2]
    return {
        "database": kind_of(postgres),
        "backlog": backlog,
        "approvals": len(approved),
        "sent": len(latencies),
        "spread_s": every,
        "latency_s": {
            "p50": round(_percentile(latencies, 0.5), 3) if latencies else None,
            "p95": round(p95, 3) if p95 is not None else None,
            "max": round(latencies[-1], 3) if latencies else None,
            "all": [round(s, 3) for s in latencies],
        },
        "backlog_waiting_at_approvals": [waiting for _, _, waiting in approved],
        "least_waiting": least_waiting,
        "worker_emails_per_s": round(drained / span, 1) if span else None,
        "worker_concurrency": settings.WORKER_CONCURRENCY,
        "left_waiting_at_end": end.inbound_waiting,
        "target_p95_s": TARGET_P95_S,
        "met": p95 is not None and p95 <= TARGET_P95_S and least_waiting > 0,
    }


async def _wait_for_sends(
    db: Database, replies: list[int], within: float = 60.0
) -> dict[int, datetime | None]:
    """Each reply's `sent_at`, once all are sent or `within` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        async with db.read(ALL_STORES) as session:
            statement = select(Reply.id, Reply.sent_at).where(Reply.id.in_(replies))
            rows = (await session.execute(statement)).all()
        sent: dict[int, datetime | None] = dict(rows)
        if all(sent.get(pk) is not None for pk in replies) or time.monotonic() > deadline:
            return sent
        await asyncio.sleep(0.2)


def _percentile(ordered: list[float], fraction: float) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (emptied); default: SQLite")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between approvals")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-approvals-") as tmp:
        result = asyncio.run(
            measure_approvals(
                args.postgres,
                Path(tmp),
                backlog=args.backlog,
                approvals=args.approvals,
                every=args.every,
                say=print,
            )
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
