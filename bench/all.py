"""Every benchmark in one command, each against a baseline measured in the same run.

    make bench                                   # SQLite only, about 2 minutes
    make bench ARGS="--postgres postgresql://postgres@127.0.0.1:5432/bench"
    make bench ARGS="--postgres ... --full --write bench/RESULTS.md"

`--postgres` adds the PostgreSQL runs (intake, overhead, and the 1-vs-4 worker throughput, which
needs it; one to three minutes more); give it a database of its own, the runs empty it. `--full`
drains a 10,000-email backlog for the memory figure (10 to 25 minutes) instead of 250, and
times 200 emails through the pipeline instead of 150.
`--write` saves the report.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ceilings, pipeline
from bench.intake import run_intake

ROOT = Path(__file__).parent.parent


def machine() -> str:
    """One line about where the figures come from."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(
                line.split(":", 1)[1].strip() for line in info if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as info:
            kb = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
            memory = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "commit": _commit(),
        "command": "python -m bench.all " + " ".join(sys.argv[1:]),
    }
    started = time.perf_counter()
    report["intake_sqlite"] = run_intake(seconds=3, warmup=1, rounds=2)
    if args.postgres:
        report["intake_postgresql"] = run_intake(
            seconds=3, warmup=1, rounds=2, database_url=args.postgres
        )
    emails = 200 if args.full else 150
    report["overhead_sqlite"] = asyncio.run(pipeline.overhead(emails, None))
    if args.postgres:
        report["overhead_postgresql"] = asyncio.run(pipeline.overhead(emails, args.postgres))
    report["throughput"] = asyncio.run(
        pipeline.throughput(args.postgres, seconds=10 if not args.full else 30, emails=150)
    )
    report["memory"] = asyncio.run(pipeline.memory(10_000 if args.full else 250))
    report["prompts"] = asyncio.run(pipeline.prompts())
    report["ceilings"] = ceilings.run()
    report["total_seconds"] = round(time.perf_counter() - started)
    return report


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(report: dict[str, Any]) -> str:
    """The report as bench/RESULTS.md."""
    rows = []

    def row(name: str, target: str, measured: str, met: bool | None) -> None:
        verdict = "met" if met else ("**not met**" if met is not None else "-")
        rows.append(f"| {name} | {target} | {measured} | {verdict} |")

    for db in ("sqlite", "postgresql"):
        intake = report.get(f"intake_{db}")
        if intake:
            real, base = intake["intake webhook"], intake["empty FastAPI handler"]
            row(
                f"Intake throughput vs empty handler ({db})",
                ">= 0.5x",
                f"{intake['throughput_ratio']}x ({real['rps']} vs {base['rps']} req/s)",
                intake["throughput_ratio"] >= 0.5,
            )
            row(
                f"Intake p99 vs empty handler ({db})",
                "<= 2x",
                f"{intake['p99_ratio']}x ({real['p99_ms']} vs {base['p99_ms']} ms)",
                intake["p99_ratio"] <= 2,
            )
    for db in ("sqlite", "postgresql"):
        over = report.get(f"overhead_{db}")
        if over:
            row(
                f"Pipeline time per email, instant providers ({db})",
                "<= 5 ms",
                f"{over['ms_per_email']} ms (queue alone: {over['baseline_ms_per_job']} ms/job)",
                over["met"],
            )
    flow = report["throughput"]
    row(
        f"Emails/s, 1 s model turns + 150 ms store, 1 -> 4 workers ({flow['database']})",
        ">= 3x",
        f"{flow['scaling']}x ({flow['1_worker_emails_per_s']} -> "
        f"{flow['4_worker_emails_per_s']} emails/s)",
        flow["met"],
    )
    memory = report["memory"]
    row(
        f"Memory draining {memory['emails']:,} emails",
        "flat",
        f"{memory['rss_mb_warm']} MB warm, peak {memory['rss_mb_peak']} MB "
        f"(+{memory['growth_mb']} MB)",
        memory["flat"],
    )
    prompts = report["prompts"]
    row(
        "First-turn prompt tokens, labelled set (cl100k)",
        "<= 2,000",
        f"{prompts['over_budget']} of {prompts['emails']} over; max "
        f"{max(v['max_prompt_tokens'] for v in prompts['by_intent'].values())}",
        prompts["over_budget"] == 0,
    )
    hostile = report.get("ceilings")
    if hostile:
        row(
            f"Worst of {len(hostile['cases'])} hostile emails, worker parse (bench/ceilings.py)",
            f"<= {ceilings.MAX_SECONDS:g} s, <= +{ceilings.MAX_ADDED_MB:g} MB",
            f"{hostile['max_seconds']} s, +{hostile['max_added_mb']} MB",
            hostile["met"],
        )
    intents = "\n".join(
        f"| {intent} | {v['emails']} | {v['mean_round_trips']} | {v['mean_prompt_tokens']} "
        f"| {v['max_prompt_tokens']} |"
        for intent, v in prompts["by_intent"].items()
    )
    return f"""# Benchmark results

Produced by `{report["command"]}` on {report["when"]} (commit {report["commit"]}, total
{report["total_seconds"]} s).

Machine: {report["machine"]}.

| Measure | Target | Measured | |
|---|---|---|---|
{chr(10).join(rows)}

## Model round trips and prompt tokens per email, by intent

Offline model on the 103 labelled emails (`app/agent/emails.jsonl`); tokens of the first request
(instructions, the tool schemas offered, the email).

| Intent | Emails | Round trips | Prompt tokens (mean) | (max) |
|---|---|---|---|---|
{intents}

{_limits(report)}## Raw figures

```json
{json.dumps(report, indent=2, ensure_ascii=False, default=str)}
```
"""


def _limits(report: dict[str, Any]) -> str:
    """What holds back the targets not met, from this run's figures (empty when all are met)."""
    notes = []
    intakes = [report[k] for k in ("intake_sqlite", "intake_postgresql") if k in report]
    if any(not intake["met"] for intake in intakes):
        notes.append(
            "- **Intake.** The webhook checks Basic auth, parses the multipart form, checksums "
            "the body and writes it durably before it answers; the empty handler does none of "
            "it. The write before the 200 is the requirement (nothing acknowledged may be lost): "
            "on SQLite it is group-committed by one writer thread, on PostgreSQL it is one round "
            "trip per request."
        )
    overheads = [report[k] for k in ("overhead_sqlite", "overhead_postgresql") if k in report]
    for over in overheads:
        if over["met"]:
            continue
        steps = ", ".join(f"{name} {ms}" for name, ms in over["step_ms"].items())
        if over["database"] == "sqlite":
            hop = "each statement is a hop to aiosqlite's thread and back to the event loop"
            step_next = (
                "run each step's transaction in one hop on the writer thread, as intake does"
            )
        else:
            hop = "each statement is a round trip to the server"
            step_next = (
                "fewer, larger statements per step (an UPDATE ... RETURNING, not a read and "
                "then a write)"
            )
        notes.append(
            f"- **Pipeline time per email ({over['database']}).** An email is two jobs (process, "
            f"send), each paying the queue's claim and completion ({over['baseline_ms_per_job']} "
            "ms per job in this run), and every step commits before the next so that a crash "
            "loses nothing: about 50 SQL statements in 13 transactions per email (counted with "
            f"a SQLAlchemy statement listener). Round trips, not computation, dominate: {hop}. "
            f"Step means in ms: {steps}. Next: {step_next}; send auto-approved replies inline "
            "instead of through a second job."
        )
    if not notes:
        return ""
    return "## What limits the targets not met\n\n" + "\n".join(notes) + "\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL for the PostgreSQL runs")
    parser.add_argument("--full", action="store_true", help="10,000-email memory run")
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    report = run(args)
    text = markdown(report)
    print(text.split("## Raw figures")[0])
    if args.write:
        args.write.write_text(text, encoding="utf-8")
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
