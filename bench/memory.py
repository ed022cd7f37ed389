"""e. Memory flat over a long drain, and the time `serve` takes to its first /healthz 200.

    python -m bench.memory [--emails 10000] [--postgres URL]

Memory: a backlog of order-status emails is stored, then one worker process
(`bench.sim_worker` with providers that answer at once, so every email takes the auto-send
path, K=64) drains it; its resident memory and the emails done are sampled twice a second.
The baseline is the first sample once a fifth of the backlog is done (imports, caches and
pools warm); flat means no later sample exceeds it by more than 50 MB.

Startup: `bench.startup` (the median of fresh `python -m app serve` processes to their first
/healthz 200). Target: at most 0.8 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.db.engine import Database
from bench.backlog import store_backlog
from bench.harness import (
    ROOT,
    Say,
    bench_env,
    fresh_database,
    job_counts,
    kind_of,
    quiet,
    rss_mb,
    start_python,
    stop_process,
)
from bench.startup import measure_startup

FLAT_MB = 50.0


async def measure_memory(
    postgres: str | None, workdir: Path, *, emails: int, say: Say = quiet
) -> dict[str, Any]:
    """Resident memory of one worker process while it drains `emails` emails."""
    url = await fresh_database(postgres, workdir)
    db = Database.connect(url)
    samples: list[tuple[int, float]] = []
    try:
        say(f"storing {emails} emails")
        await store_backlog(db, emails)
        say(f"one worker draining {emails} emails")
        worker = await start_python(
            ["-m", "bench.sim_worker", "--model-latency=0", "--shop-latency=0"],
            bench_env(url, workdir),
        )
        started = last_said = time.perf_counter()
        try:
            while True:
                await asyncio.sleep(0.5)
                counts = await job_counts(db)
                rss = rss_mb(worker.pid)
                if rss is None or worker.returncode is not None:
                    raise RuntimeError("the worker process exited")
                samples.append((counts.inbound_done, rss))
                if counts.inbound_waiting == 0:
                    break
                if time.perf_counter() - last_said >= 30:
                    last_said = time.perf_counter()
                    say(f"{counts.inbound_done} done, {samples[-1][1]:.0f} MB")
        finally:
            await stop_process(worker)
        elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    return memory_figures(samples, emails=emails, seconds=elapsed, database=kind_of(postgres))


def memory_figures(
    samples: list[tuple[int, float]], *, emails: int, seconds: float, database: str
) -> dict[str, Any]:
    """The baseline (a fifth done), the peak after it, and whether it stayed flat."""
    index = next((i for i, (done, _) in enumerate(samples) if done >= emails // 5), 0)
    baseline = samples[index][1]
    peak = max(mb for _, mb in samples[index:])
    step = max(1, len(samples) // 20)
    return {
        "database": database,
        "emails": emails,
        "seconds": round(seconds, 1),
        "emails_per_s": round(samples[-1][0] / seconds, 1) if seconds else None,
        "rss_mb_at_a_fifth": round(baseline, 1),
        "rss_mb_peak_after": round(peak, 1),
        "rss_mb_end": round(samples[-1][1], 1),
        "growth_mb": round(peak - baseline, 1),
        "samples_done_mb": [(done, round(mb, 1)) for done, mb in samples[::step]],
        "target_mb": FLAT_MB,
        "met": peak - baseline <= FLAT_MB,
    }


def measure_startup_on(postgres: str | None, *, runs: int, say: Say = quiet) -> dict[str, Any]:
    """`bench.startup` on one database (a fresh SQLite file, or the PostgreSQL database), and
    what part of it is the interpreter alone and importing what serve imports."""
    say(f"{runs} starts of `python -m app serve`")
    result = measure_startup(runs=runs, database_url=postgres)
    say("the interpreter alone, and importing the app")
    parts = {
        "python_alone_s": _median_run(["-c", "pass"], runs),
        "imports_s": _median_run(["-c", IMPORTS], runs),
    }
    return {"database": kind_of(postgres)} | result | parts


IMPORTS = "import gc; gc.disable(); import app.cli, app.main, app.jobs.process, uvicorn"
"""What `python -m app serve` imports before it builds the app and listens (with the collector
paused, as `python -m app` pauses it)."""


def _median_run(args: list[str], runs: int) -> float:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, cwd=ROOT)
        seconds.append(time.perf_counter() - started)
    return round(statistics.median(seconds), 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (emptied); default: SQLite")
    parser.add_argument("--emails", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        result = asyncio.run(
            measure_memory(args.postgres, Path(tmp), emails=args.emails, say=print)
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
