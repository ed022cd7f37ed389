"""c. Emails per second when the model takes 1 s a turn and the store 150 ms a lookup.

    python -m bench.concurrency [--postgres URL] [--seconds 20]

Worker processes (`bench.sim_worker`: the real `Worker` with K jobs in flight, the scripted
model and the demo store behind those latencies, the log mail sender) drain a stored backlog of
order-status emails; every email takes two model turns and one order lookup, so one lane can do
at most one email per 2.15 s, and K lanes K / 2.15 emails/s. Emails completed are counted over
a window that starts once the lanes are full; the backlog is topped up first so the queue never
runs dry inside it.

Runs: one process at each K named (SQLite: several, the best counts; PostgreSQL: 256), and on
PostgreSQL one against four processes at a K small enough that four pools fit the server's
`max_connections` (each process may open K + 4 connections, `app.db.engine.pool_sizes`).
A run's pool is capped the same way when K alone would exceed what the server has free.
Targets: one process >= 100 emails/s on PostgreSQL, >= 50 on SQLite; 1 -> 4 processes >= 3x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.db.engine import Database, pool_sizes
from bench.backlog import store_backlog
from bench.harness import (
    POSTGRESQL,
    SQLITE,
    Say,
    bench_env,
    cpu_seconds,
    failed_jobs,
    fresh_database,
    job_counts,
    kind_of,
    max_connections,
    quiet,
    start_python,
    stop_process,
)

MODEL_LATENCY = 1.0
SHOP_LATENCY = 0.15
EMAIL_SECONDS = 2 * MODEL_LATENCY + SHOP_LATENCY
"""The least time one email spends in a lane: two model turns and one order lookup."""
TARGETS = {SQLITE: 50.0, POSTGRESQL: 100.0}
SCALING_TARGET = 3.0
SPARE_CONNECTIONS = 10
"""Connections left free on PostgreSQL: the benchmark's own, and other clients'."""
MAX_SCALING_K = 64


@dataclass(frozen=True)
class Run:
    """Worker processes to start, each with `concurrency` lanes and a pool sized for `pool`."""

    processes: int
    concurrency: int
    pool: int

    @property
    def connections(self) -> int:
        """The most connections one process may open (`pool_size + max_overflow`)."""
        kept, overflow = pool_sizes(self.pool)
        return kept + overflow


class Backlog:
    """The stored emails, topped up before each run so it cannot run dry inside the window."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.stored = 0

    async def at_least(self, waiting: int, say: Say) -> None:
        counts = await job_counts(self.db)
        missing = waiting - counts.inbound_waiting
        if missing > 0:
            say(f"storing {missing} more emails (backlog {counts.inbound_waiting})")
            await store_backlog(self.db, missing, start=self.stored)
            self.stored += missing


async def measure_run(
    db: Database,
    url: str,
    workdir: Path,
    run: Run,
    *,
    seconds: float,
    backlog: Backlog,
    say: Say = quiet,
) -> dict[str, Any]:
    """Start the run's processes, count emails done over `seconds` once lanes are full."""
    ceiling = run.processes * run.concurrency / EMAIL_SECONDS
    await backlog.at_least(int(ceiling * (seconds + 3 * EMAIL_SECONDS) * 1.2) + 50, say)
    say(f"{run.processes} process(es), K={run.concurrency}, pool for {run.pool}: starting")
    env = bench_env(url, workdir)
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    stats = [workdir / f"worker-{n}.json" for n in range(run.processes)]
    processes = [
        await start_python(
            [
                "-m",
                "bench.sim_worker",
                f"--concurrency={run.concurrency}",
                f"--pool={run.pool}",
                f"--model-latency={MODEL_LATENCY}",
                f"--shop-latency={SHOP_LATENCY}",
                f"--stats={path}",
            ],
            env,
        )
        for path in stats
    ]
    try:
        first = await job_counts(db)
        deadline = time.monotonic() + 60
        while (await job_counts(db)).inbound_done == first.inbound_done:
            if time.monotonic() > deadline or any(p.returncode is not None for p in processes):
                raise RuntimeError("the worker processes completed no email")
            await asyncio.sleep(0.2)
        # One more email's time: every lane is busy by then (the claim loop fills them at once).
        await asyncio.sleep(EMAIL_SECONDS)
        say(f"{run.processes} process(es), K={run.concurrency}: measuring {seconds:g} s")
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        stats_before = read_stats(stats)
        start, started = await job_counts(db), time.perf_counter()
        least_waiting = start.inbound_waiting
        while time.perf_counter() - started < seconds:
            await asyncio.sleep(min(1.0, seconds / 4))
            least_waiting = min(least_waiting, (await job_counts(db)).inbound_waiting)
        end = await job_counts(db)
        elapsed = time.perf_counter() - started
        cpu = [cpu_seconds(p.pid) - before for p, before in zip(processes, cpu_before, strict=True)]
        inside = stats_delta(stats_before, read_stats(stats))
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            await stop_process(process, grace=30)
    done = end.inbound_done - start.inbound_done
    rate = done / elapsed
    return {
        "processes": run.processes,
        "concurrency": run.concurrency,
        "pool_for": run.pool,
        "connections_per_process": run.connections,
        "window_s": round(elapsed, 1),
        "emails": done,
        "emails_per_s": round(rate, 1),
        "lane_ceiling_per_s": round(ceiling, 1),
        "seconds_per_email_in_a_lane": round(run.processes * run.concurrency / rate, 2)
        if rate
        else None,
        "cpu_percent_per_process": [round(c * 100 / elapsed) for c in cpu],
        "cpu_ms_per_email": round(sum(cpu) * 1000 / done, 1) if done else None,
        "queue_ran_dry": least_waiting == 0 or end.inbound_waiting == 0,
        "inside": where_time_went(inside, done, elapsed),
    }


STATS_FIELDS = ("units", "unit_s", "transactions", "transaction_s", "lag_probes", "lag_s")


def read_stats(paths: list[Path]) -> dict[str, float]:
    """The sum of the worker processes' running totals (`bench.sim_worker --stats`)."""
    totals = dict.fromkeys(STATS_FIELDS, 0.0) | {"lag_max_s": 0.0}
    for path in paths:
        with contextlib.suppress(OSError, ValueError):
            figures = json.loads(path.read_text())
            for name in STATS_FIELDS:
                totals[name] += float(figures.get(name, 0))
            totals["lag_max_s"] = max(totals["lag_max_s"], float(figures.get("lag_max_s", 0)))
    return totals


def stats_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """What happened between two readings (the largest loop lag is of the whole run)."""
    return {name: after[name] - before[name] for name in STATS_FIELDS} | {
        "lag_max_s": after["lag_max_s"]
    }


def where_time_went(
    delta: dict[str, float], emails: int, seconds: float
) -> dict[str, float | None]:
    """Units of work per email and per second, their time from asking to done and inside the
    transaction, and how late the event loop ran."""
    units, probes = delta["units"], delta["lag_probes"]
    return {
        "units_per_email": round(units / emails, 2) if emails else None,
        "units_per_s": round(units / seconds, 1),
        "unit_ms": round(delta["unit_s"] * 1000 / units, 2) if units else None,
        "in_transaction_ms": round(delta["transaction_s"] * 1000 / delta["transactions"], 2)
        if delta["transactions"]
        else None,
        "loop_lag_ms": round(delta["lag_s"] * 1000 / probes, 1) if probes else None,
        "loop_lag_max_ms": round(delta["lag_max_s"] * 1000, 1),
    }


async def measure_concurrency(
    postgres: str | None,
    workdir: Path,
    *,
    seconds: float,
    sqlite_ks: tuple[int, ...] = (64, 128, 256),
    postgres_k: int = 256,
    scaling: bool = True,
    say: Say = quiet,
) -> dict[str, Any]:
    """c on one database: emails/s at each K (the best is the figure); scaling on PostgreSQL."""
    kind = kind_of(postgres)
    url = await fresh_database(postgres, workdir)
    result: dict[str, Any] = {"database": kind, "model_latency_s": MODEL_LATENCY}
    result["shop_latency_s"] = SHOP_LATENCY
    db = Database.connect(url)
    backlog = Backlog(db)
    try:
        if kind == SQLITE:
            runs = [Run(1, k, k) for k in sqlite_ks]
        else:
            limit, used = await max_connections(url)
            free = limit - used - SPARE_CONNECTIONS
            per_process = free // 4
            small_k = max(1, min(MAX_SCALING_K, per_process - 4))
            result["max_connections"] = {
                "limit": limit,
                "in_use_before": used,
                "kept_spare": SPARE_CONNECTIONS,
                "per_process_of_4": per_process,
            }
            runs = [Run(1, postgres_k, min(postgres_k, max(1, free - 4)))]
            if scaling:
                runs += [Run(1, small_k, small_k), Run(4, small_k, small_k)]
        measured = []
        for run in runs:
            measured.append(
                await measure_run(db, url, workdir, run, seconds=seconds, backlog=backlog, say=say)
            )
        failed = await failed_jobs(db)
    finally:
        await db.dispose()
    single = [m for m in measured if m["processes"] == 1]
    if kind == POSTGRESQL:
        single = single[:1]
    best = max(single, key=lambda m: m["emails_per_s"])
    result |= {
        "runs": measured,
        "best": best,
        "failed_jobs": failed,
        "target_per_s": TARGETS[kind],
        "met": best["emails_per_s"] >= TARGETS[kind] and not best["queue_ran_dry"],
    }
    if kind == POSTGRESQL and scaling:
        one, four = measured[1], measured[2]
        factor = four["emails_per_s"] / one["emails_per_s"] if one["emails_per_s"] else 0.0
        result["scaling"] = {
            "concurrency_per_process": one["concurrency"],
            "one_process_per_s": one["emails_per_s"],
            "four_processes_per_s": four["emails_per_s"],
            "factor": round(factor, 2),
            "target": SCALING_TARGET,
            "met": factor >= SCALING_TARGET,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (emptied); default: SQLite")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per run")
    parser.add_argument("--k", type=int, nargs="+", help="concurrencies to try")
    args = parser.parse_args()
    ks = tuple(args.k or (64, 128, 256))
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        result = asyncio.run(
            measure_concurrency(
                args.postgres,
                Path(tmp),
                seconds=args.seconds,
                sqlite_ks=ks,
                postgres_k=ks[-1],
                say=print,
            )
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
