"""Every benchmark of the fast pipeline in one run, side by side on SQLite and PostgreSQL.

    make bench ARGS="--postgres postgresql://postgres@127.0.0.1:5432/bench"   # the full run
    python -m bench.all --postgres URL                  # the same; writes bench/RESULTS.md
    python -m bench.all --quick                         # small sizes, SQLite only: ~2 min
    python -m bench.all --quick --postgres URL          # small sizes, both databases: ~3.5 min
    python -m bench.all --only a,c --postgres URL       # some measures (printed, not written)

Measures (each against a baseline or a target in the same run; see each module):

    a  intake (`bench.intake`): the webhook under the default `python -m app serve`, its worker
       process draining a stored backlog, vs an empty FastAPI handler: >= 0.5x, p99 <= 2x
    b  costs (`bench.costs`): time per email through the worker with instant providers vs the
       same functions with no database: <= 2x; SQL transactions per email: <= 4
    c  concurrency (`bench.concurrency`): one worker process with 1 s model turns and 150 ms
       store calls: >= 100 emails/s on PostgreSQL (K=256), >= 50 on SQLite (best of several K);
       1 -> 4 processes >= 3x on PostgreSQL (K sized to fit `max_connections`)
    d  approvals (`bench.approvals`): staff-approved replies sent within 1 s (p95) while
       `python -m app worker` drains a 2,000-email backlog
    e  memory and startup (`bench.memory`, `bench.startup`): a worker's memory flat (within
       50 MB) over 10,000 emails; `serve` to its first /healthz 200 <= 0.8 s
    p  prompts (`bench.prompts`): first-turn tokens per intent <= 2,000
    h  hostile emails (`bench.ceilings`): each parsed or refused within 5 s and +200 MB
    k  knowledge search (`bench.knowledge`): help-article search <= 10 ms per query (p95) at
       10,000 articles

Without `--postgres` only SQLite runs. With it, each measure empties that database (its
`public` schema is dropped and migrated again; it is created if missing): give it a database of
its own. A line is printed as each step starts (elapsed time, measure, database, step).

Durations on 2 shared cores (estimated from the quick runs' per-email and per-phase times):
the full run takes about 15 minutes with `--postgres` (intake 3 min, costs 1, concurrency
3.5, approvals 1, memory 5 for 10,000 emails on SQLite, startup, prompts and hostile emails 1)
and about 10 without; a busy machine makes it longer. `--write PATH` saves the report (default
bench/RESULTS.md for a full run of every measure; `--quick` and `--only` runs only print it
unless `--write` is given). Every run also saves its raw figures as JSON in the temporary
directory; `--from-json PATH` renders such a file again without measuring.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ceilings
from bench.approvals import measure_approvals
from bench.concurrency import measure_concurrency
from bench.costs import measure_costs
from bench.harness import (
    POSTGRESQL,
    ROOT,
    SQLITE,
    Progress,
    commit,
    ensure_postgres_database,
    machine,
    quiet_logs,
)
from bench.intake import run_intake
from bench.knowledge import measure_search
from bench.memory import measure_memory, measure_startup_on
from bench.prompts import prompts
from bench.report import limits, markdown, rows

MEASURES = {
    "a": "intake",
    "b": "costs",
    "c": "concurrency",
    "d": "approvals",
    "e": "memory + startup",
    "p": "prompts",
    "h": "hostile emails",
    "k": "knowledge search",
}
DEFAULT_REPORT = ROOT / "bench" / "RESULTS.md"


@dataclass(frozen=True)
class Sizes:
    """How much each measure does: the full run's sizes, or `--quick`'s."""

    intake_backlog: int = 3000
    intake_seconds: float = 5.0
    intake_warmup: float = 1.0
    intake_rounds: int = 3
    cost_emails: int = 300
    concurrency_seconds: float = 20.0
    sqlite_ks: tuple[int, ...] = (64, 128, 256)
    postgres_k: int = 256
    approvals_backlog: int = 2000
    approvals: int = 20
    approvals_every: float = 0.5
    memory_emails: int = 10_000
    startup_runs: int = 5
    knowledge_articles: int = 10_000


FULL = Sizes()
QUICK = Sizes(
    intake_backlog=600,
    intake_seconds=2.0,
    intake_warmup=0.5,
    intake_rounds=1,
    cost_emails=40,
    concurrency_seconds=5.0,
    sqlite_ks=(128,),
    approvals_backlog=500,
    approvals=5,
    approvals_every=0.4,
    memory_emails=600,
    startup_runs=3,
    knowledge_articles=2_000,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; `--only` becomes a list of measure letters in run order."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.all",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL database")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument(
        "--only", metavar="LETTERS", help="comma-separated measures: " + ", ".join(MEASURES)
    )
    parser.add_argument("--write", metavar="PATH", type=Path, help="save the Markdown report")
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        type=Path,
        help="measure nothing: render the raw figures an earlier run saved",
    )
    args = parser.parse_args(argv)
    letters = [x.strip() for x in args.only.split(",")] if args.only else list(MEASURES)
    unknown = [x for x in letters if x not in MEASURES]
    if unknown:
        parser.error(f"unknown measure(s) {', '.join(unknown)}: use {', '.join(MEASURES)}")
    args.only = [x for x in MEASURES if x in letters]
    full_run = not args.quick and args.from_json is None and len(args.only) == len(MEASURES)
    if args.write is None and full_run:
        args.write = DEFAULT_REPORT
    return args


Step = Callable[[str | None, Path, Callable[[str], None]], Awaitable[Any]]
EACH, NONE = "each", "none"
"""Where a step runs: on each database, on SQLite only (`SQLITE`), or on none."""


def steps(sizes: Sizes) -> dict[str, list[tuple[str, str, Step]]]:
    """Per measure letter: (report key, where it runs, how to run it)."""
    s = sizes
    return {
        "a": [
            (
                "intake",
                EACH,
                lambda pg, work, say: run_intake(
                    pg,
                    work,
                    backlog=s.intake_backlog,
                    seconds=s.intake_seconds,
                    warmup=s.intake_warmup,
                    rounds=s.intake_rounds,
                    say=say,
                ),
            )
        ],
        "b": [
            (
                "costs",
                EACH,
                lambda pg, work, say: measure_costs(pg, work, emails=s.cost_emails, say=say),
            )
        ],
        "c": [
            (
                "concurrency",
                EACH,
                lambda pg, work, say: measure_concurrency(
                    pg,
                    work,
                    seconds=s.concurrency_seconds,
                    sqlite_ks=s.sqlite_ks,
                    postgres_k=s.postgres_k,
                    say=say,
                ),
            )
        ],
        "d": [
            (
                "approvals",
                EACH,
                lambda pg, work, say: measure_approvals(
                    pg,
                    work,
                    backlog=s.approvals_backlog,
                    approvals=s.approvals,
                    every=s.approvals_every,
                    say=say,
                ),
            )
        ],
        "e": [
            (
                "memory",
                SQLITE,
                lambda pg, work, say: measure_memory(None, work, emails=s.memory_emails, say=say),
            ),
            ("startup", EACH, lambda pg, work, say: _startup(pg, s.startup_runs, say)),
        ],
        "p": [("prompts", NONE, lambda pg, work, say: prompts())],
        "h": [("ceilings", NONE, lambda pg, work, say: asyncio.to_thread(ceilings.run))],
        "k": [
            (
                "knowledge",
                EACH,
                lambda pg, work, say: measure_search(
                    pg, work, articles=s.knowledge_articles, say=say
                ),
            )
        ],
    }


async def _startup(postgres: str | None, runs: int, say: Callable[[str], None]) -> Any:
    if postgres is not None:
        await ensure_postgres_database(postgres)
    return await asyncio.to_thread(measure_startup_on, postgres, runs=runs, say=say)


async def run(args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    """Run the chosen measures on each database; a measure that fails is reported, not fatal."""
    sizes = QUICK if args.quick else FULL
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "cores": os.cpu_count(),
        "commit": commit(),
        "command": "python -m bench.all " + " ".join(sys.argv[1:]),
        "quick": args.quick,
        "measures": args.only,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    databases: list[tuple[str, str | None]] = [(SQLITE, None)]
    if args.postgres:
        databases.append((POSTGRESQL, args.postgres))
    started = time.perf_counter()
    plan = steps(sizes)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for letter in args.only:
            for key, where, step in plan[letter]:
                for kind, url in databases if where == EACH else databases[:1]:
                    name = f"{letter} {key}"
                    say = progress.say(name, "-" if where == NONE else kind)
                    began = time.perf_counter()
                    say("start")
                    workdir = Path(tmp) / f"{letter}-{key}-{kind}"
                    try:
                        result = await step(url, workdir, say)
                    except Exception as exc:
                        traceback.print_exc()
                        report.setdefault("failed", {})[f"{name} ({kind})"] = repr(exc)[:300]
                        continue
                    finally:
                        say(f"done in {time.perf_counter() - began:.0f} s")
                    if where == EACH:
                        report.setdefault(key, {})[kind] = result
                    else:
                        report[key] = result
    report["total_seconds"] = round(time.perf_counter() - started)
    report["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.from_json is not None:
        report = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        quiet_logs()
        report = asyncio.run(run(args, Progress()))
        # Kept before rendering, so a report that cannot be rendered loses no figures.
        raw = Path(tempfile.gettempdir()) / f"bench-{report['when'].replace(':', '')}.json"
        raw.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
        print(f"raw figures saved to {raw} (render again: --from-json {raw})")
    text = markdown(report)
    print()
    print("| Measure | Target | Measured | Verdict |")
    for row in rows(report):
        print(f"| {row.measure} | {row.target} | {row.measured} | {row.verdict} |")
    print()
    for paragraph in limits(report):
        print(paragraph, end="\n\n")
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
