"""A worker process whose providers take the time given: model turns and store calls.

    DATABASE_URL=... python -m bench.sim_worker --concurrency 256 --model-latency 1

Started like `python -m app worker` (the same `Worker`, K jobs in flight, `gc.freeze()` after
startup) but with the benchmark's providers (`bench.backlog.bench_providers`): the scripted
model answers each turn after `--model-latency` seconds and the demo store each order lookup
after `--shop-latency`. `--pool` sizes the PostgreSQL connection pool as for that many jobs
(`app.db.engine.pool_sizes`; default: the concurrency), so several processes fit the server's
`max_connections`. Runs until SIGTERM, letting running jobs finish.

With `--stats PATH` it writes, twice a second, running totals of where its time went: units of
work (`Database.unit`, from asking to done) and the part spent inside their transactions (the
rest is waiting: for SQLite's one writer thread, or a pooled connection), and how late the event
loop wakes a 50 ms timer (a busy loop wakes it late).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.orm import Session

from app.config import Settings
from app.db.engine import Database
from app.db.scope import StoreScope
from app.jobs.worker import Worker
from app.tools import tool_registry
from bench.backlog import bench_providers
from bench.harness import Transactions, counting

T = TypeVar("T")
LAG_PROBE_SECONDS = 0.05


@dataclasses.dataclass
class Totals:
    """Running totals a `--stats` file holds."""

    units: int = 0
    unit_s: float = 0.0
    lag_probes: int = 0
    lag_s: float = 0.0
    lag_max_s: float = 0.0


TOTALS = Totals()


class TimedDatabase(Database):
    """`Database` whose units of work add their time, from asking to done, to `TOTALS`."""

    __slots__ = ()

    async def unit(self, work: Callable[[Session], T], scope: StoreScope | None = None) -> T:
        started = time.perf_counter()
        try:
            return await super().unit(work, scope)
        finally:
            TOTALS.units += 1
            TOTALS.unit_s += time.perf_counter() - started


async def _probe_loop() -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_SECONDS)
        lag = time.perf_counter() - started - LAG_PROBE_SECONDS
        TOTALS.lag_probes += 1
        TOTALS.lag_s += lag
        TOTALS.lag_max_s = max(TOTALS.lag_max_s, lag)


async def _write_stats(path: Path, transactions: Transactions) -> None:
    while True:
        figures = dataclasses.asdict(TOTALS) | {
            "transactions": transactions.count,
            "transaction_s": transactions.seconds,
        }
        partial = path.with_suffix(".part")
        # A figure missed is reported as missing; the worker goes on either way.
        with contextlib.suppress(OSError):
            partial.write_text(json.dumps(figures))
            os.replace(partial, path)
        await asyncio.sleep(0.5)


async def work(
    concurrency: int,
    pool: int,
    model_latency: float,
    shop_latency: float,
    stats: Path | None = None,
) -> None:
    """Run one worker until SIGTERM."""
    settings = Settings(_env_file=None)
    db = TimedDatabase.connect(
        settings.DATABASE_URL,
        sqlite_busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS,
        concurrency=pool,
    )
    providers = bench_providers(
        Path(settings.MAIL_LOG_DIR), model_latency=model_latency, shop_latency=shop_latency
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    background: list[asyncio.Task[None]] = []
    try:
        with counting(db) as transactions:
            if stats is not None:
                background += [
                    asyncio.create_task(_probe_loop()),
                    asyncio.create_task(_write_stats(stats, transactions)),
                ]
            worker = Worker(db=db, settings=settings, providers=providers)
            # As `python -m app worker` does: schemas built now, startup objects out of the GC.
            for tool in tool_registry().all():
                tool.function_schema()
            gc.freeze()
            gc.enable()
            await worker.run(stop, concurrency=concurrency)
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64, help="jobs in flight (K)")
    parser.add_argument("--pool", type=int, help="size the pool for this many jobs (default K)")
    parser.add_argument("--model-latency", type=float, default=1.0, help="seconds per turn")
    parser.add_argument("--shop-latency", type=float, default=0.15, help="seconds per lookup")
    parser.add_argument("--stats", type=Path, help="write running totals here")
    args = parser.parse_args()
    asyncio.run(
        work(
            args.concurrency,
            args.pool or args.concurrency,
            args.model_latency,
            args.shop_latency,
            args.stats,
        )
    )


if __name__ == "__main__":
    main()
