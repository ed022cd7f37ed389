"""The run's figures as bench/RESULTS.md: the table, what limits each target not met, raw JSON.

Every sentence about a limit is computed from the run's own figures (nothing here is a
remembered number), so a run that meets a target says nothing about it, and one that misses
says by how much and where the time went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from app.db.engine import pool_sizes
from bench.concurrency import EMAIL_SECONDS, SPARE_CONNECTIONS

DATABASES = ("sqlite", "postgresql")
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    measure: str
    target: str
    measured: str
    met: bool | None

    @property
    def verdict(self) -> str:
        """`met`, `**not met**`, or `not measured` (no figure to judge)."""
        if self.met is None:
            return NOT_MEASURED
        return "met" if self.met else "**not met**"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}x"


def _g(value: float | None) -> str:
    """A figure as `:g` formats it, or `n/a` when the run could not measure it."""
    return "n/a" if value is None else f"{value:g}"


def rows(report: dict[str, Any]) -> list[Row]:
    """The table's rows, in the order of the measures (a to e, then prompts and ceilings)."""
    found: list[Row] = []
    for db, r in _each(report, "intake"):
        intake, base = r["intake"], r["empty_quiet"]
        worker = r["worker"]
        found.append(
            Row(
                f"a. Intake throughput vs empty handler, default serve + backlog draining ({db})",
                ">= 0.5x",
                f"{_x(r['throughput_ratio'])} ({intake['rps']} vs {base['rps']} req/s; worker "
                f"finished {worker['emails_done_in_intake_windows']} emails in the windows, "
                f"never fewer than {worker['least_waiting']} waiting)",
                r["throughput_met"],
            )
        )
        found.append(
            Row(
                f"a. Intake p99 vs empty handler, same conditions ({db})",
                "<= 2x",
                f"{_x(r['p99_ratio'])} ({intake['p99_ms']} vs {base['p99_ms']} ms)",
                r["p99_met"],
            )
        )
    for db, r in _each(report, "costs"):
        pipe, base = r["pipeline"], r["no_database"]
        found.append(
            Row(
                f"b. Pipeline time per email, instant providers, vs no database ({db})",
                "<= 2x",
                f"{_x(r['ratio'])} ({pipe['ms_per_email']} vs {base['ms_per_email']} ms)",
                r["ratio_met"],
            )
        )
        found.append(
            Row(
                f"b. SQL transactions per email, auto-send path ({db})",
                "<= 4",
                f"{pipe['transactions_per_email']:g} ({pipe['statements_per_email']:g} "
                f"statements; {pipe['outcomes']})",
                r["transactions_met"],
            )
        )
    for db, r in _each(report, "concurrency"):
        best = r["best"]
        found.append(
            Row(
                f"c. Emails/s, one worker process, 1 s model turns + 150 ms store ({db})",
                f">= {r['target_per_s']:g}",
                f"{best['emails_per_s']:g} at K={best['concurrency']} "
                f"(lanes allow {best['lane_ceiling_per_s']:g})",
                r["met"],
            )
        )
        scaling = r.get("scaling")
        if scaling:
            found.append(
                Row(
                    f"c. 1 -> 4 worker processes, K={scaling['concurrency_per_process']} each "
                    f"({db})",
                    ">= 3x",
                    f"{_x(scaling['factor'])} ({scaling['one_process_per_s']:g} -> "
                    f"{scaling['four_processes_per_s']:g} emails/s)",
                    scaling["met"],
                )
            )
    for db, r in _each(report, "approvals"):
        latency = r["latency_s"]
        found.append(
            Row(
                f"d. Staff-approved reply sent during a {r['backlog']:,}-email backlog, p95 ({db})",
                "<= 1 s",
                f"{latency['p95']} s (max {latency['max']} s; {r['sent']} of {r['approvals']} "
                f"sent, never fewer than {r['least_waiting']} emails waiting)",
                r["met"],
            )
        )
    memory = report.get("memory")
    if memory:
        found.append(
            Row(
                f"e. Worker memory over {memory['emails']:,} emails ({memory['database']})",
                "within 50 MB",
                f"+{memory['growth_mb']:g} MB ({memory['rss_mb_at_a_fifth']:g} MB at a fifth, "
                f"peak {memory['rss_mb_peak_after']:g} MB)",
                memory["met"],
            )
        )
    for db, r in _each(report, "startup"):
        found.append(
            Row(
                f"e. Time to first /healthz 200, `python -m app serve` ({db})",
                "<= 0.8 s",
                f"{r['median_s']} s (median of {len(r['runs_s'])}; {r['min_s']}-{r['max_s']})",
                r["met"],
            )
        )
    for db, r in _each(report, "knowledge"):
        found.append(
            Row(
                f"k. Help-article search per query at {r['articles']:,} articles ({db})",
                "<= 10 ms (p95)",
                f"p95 {r['p95_ms']} ms (p50 {r['p50_ms']}, mean {r['mean_ms']}, "
                f"{r['queries']} queries)",
                r["met"],
            )
        )
    prompts = report.get("prompts")
    if prompts:
        biggest = max(v["max_prompt_tokens"] for v in prompts["by_intent"].values())
        found.append(
            Row(
                "First-turn prompt + tool schemas, labelled emails (cl100k)",
                "<= 2,000 tokens",
                f"{prompts['over_budget']} of {prompts['emails']} over; max {biggest}",
                prompts["over_budget"] == 0,
            )
        )
    hostile = report.get("ceilings")
    if hostile:
        found.append(
            Row(
                f"Hostile emails, worst of {len(hostile['cases'])} (worker parse)",
                "<= 5 s, <= +200 MB",
                f"{hostile['max_seconds']} s, +{hostile['max_added_mb']} MB",
                hostile["met"],
            )
        )
    for name, error in report.get("failed", {}).items():
        found.append(Row(name, "-", f"failed: {error}", None))
    return found


def _each(report: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
    measured = report.get(key) or {}
    return [(db, measured[db]) for db in DATABASES if db in measured]


def _intake_limits(db: str, r: dict[str, Any], cores: int) -> list[str]:
    if r["throughput_met"] and r["p99_met"]:
        return []
    alone, intake, base = r["intake_no_worker"], r["intake"], r["empty_quiet"]
    busy, worker = r["empty_while_draining"], r["worker"]
    text = (
        f"**a. Intake ({db}).** With no worker at all the webhook does {alone['rps']} req/s "
        f"({_x(r['throughput_ratio_no_worker'])} the empty handler's {base['rps']}, p99 "
        f"{alone['p99_ms']} vs {base['p99_ms']} ms): it costs "
        f"{alone['server_cpu_ms_per_request']} ms of server CPU per request against "
        f"{base['server_cpu_ms_per_request']} ms for the empty handler (Basic auth, the "
        "multipart split, the checksum and the durable write before the 200). While serve's "
        f"worker drains the backlog ({worker['emails_per_s']:g} emails/s) the webhook does "
        f"{intake['rps']} req/s (p99 {intake['p99_ms']} ms), with the {cores} cores used "
        f"{intake['cpu_percent']['server']}% by the server, {intake['cpu_percent']['worker']}% "
        f"by the worker and {intake['cpu_percent']['load_generator']}% by the load generator "
        f"(percent of one core); the empty handler does {busy['rps']} req/s while the worker "
        f"drains (p99 {busy['p99_ms']} ms), so against that baseline the webhook does "
        f"{_x(r['throughput_ratio_vs_empty_while_draining'])} (p99 "
        f"{_x(r['p99_ratio_vs_empty_while_draining'])})."
    )
    if intake["cpu_percent"]["server"] < 80:
        waits = (
            "its group commits wait for SQLite's write lock, which the worker process takes "
            "for each of its units of work (one writer at a time per database file)"
            if db == "sqlite"
            else "its group commits wait for PostgreSQL, which commits the worker's "
            "transactions too, on the same machine"
        )
        text += f" The server is not CPU-bound ({intake['cpu_percent']['server']}%): {waits}."
    if r.get("failed_jobs"):
        text += f" {r['failed_jobs']} of the worker's jobs failed at least once."
    if not worker["busy_throughout"]:
        text += (
            " The worker was not busy in every measured window (fewest waiting "
            f"{worker['least_waiting']}): a larger backlog is needed for a fair figure."
        )
    if not r.get("all_acknowledged", True):
        statuses = [p["statuses"] for p in r["phases"] if p["phase"].startswith("intake")]
        text += f" Not every post was acknowledged with a 2xx: {statuses}."
    peaks = [p["peak_connections"] for p in r["phases"] if "peak_connections" in p]
    if peaks:
        text += f" At most {max(peaks)} connections were open to the database."
    return [text]


def _costs_limits(db: str, r: dict[str, Any]) -> list[str]:
    notes = []
    pipe, base = r["pipeline"], r["no_database"]
    if not r["ratio_met"]:
        # The policy step is timed inside the filing transaction (it files the reply row).
        own = {k: v for k, v in pipe["step_ms"].items() if k not in ("database", "policy")}
        own_ms = sum(own.values())
        inside = pipe["ms_in_transactions_per_email"]
        rest = pipe["ms_per_email"] - own_ms - inside
        units = ", ".join(
            f"{name} {u['ms']:g} ms ({u['statements']:g} statements)"
            for name, u in pipe["units"].items()
        )
        largest = max(pipe["units"].items(), key=lambda u: float(u[1]["ms"]), default=None)
        around = (
            "the hops to SQLite's writer thread and back to the event loop"
            if db == "sqlite"
            else "the event loop between the awaited statements"
        )
        steps = ", ".join(f"{name} {ms:g}" for name, ms in own.items())
        parts = ", ".join(f"{name} {ms:g}" for name, ms in base["part_ms"].items())
        notes.append(
            f"**b. Pipeline time per email ({db}).** {pipe['ms_per_email']:g} ms per email "
            f"against {base['ms_per_email']:g} ms for the same work with no database ({parts}). "
            f"Of the {pipe['ms_per_email']:g} ms, {inside:g} ms are spent inside its "
            f"{pipe['transactions_per_email']:g} transactions ({units or 'units not told apart'})"
            f"; the steps' own work outside them adds up to {own_ms:.2f} ms ({steps}); the "
            f"remaining {rest:.2f} ms is the worker around them: {around}, the thread pool "
            "(parse, the reply's file), the job's lease heartbeat task, logging and metrics."
        )
        if largest is not None:
            name, unit = largest
            notes[-1] += (
                f" The largest unit is {name}: {unit['ms']:g} ms for {unit['statements']:g} "
                f"statements, which take {unit['statement_ms']:g} ms from being sent to their "
                f"result; the other {unit['ms'] - unit['statement_ms']:.2f} ms is Python inside "
                "the unit of work: building the rows (the run's turns and tool calls, the "
                "reply), the ORM flushing them, and on PostgreSQL the event loop between "
                "statements."
            )
    if not r["transactions_met"]:
        notes.append(
            f"**b. Transactions per email ({db}).** {pipe['transactions_per_email']:g} per "
            f"email ({pipe['statements_per_email']:g} statements); outcomes {pipe['outcomes']}, "
            f"{pipe['replies_sent']} replies sent"
            + ("" if r["auto_send_path"] else ": not every email took the auto-send path")
            + "."
        )
    return notes


def _concurrency_limits(db: str, r: dict[str, Any], cores: int) -> list[str]:
    notes = []
    best = r["best"]
    if not r["met"]:
        inside = best["inside"]
        cpu = best["cpu_percent_per_process"][0]
        text = (
            f"**c. One worker process ({db}).** At K={best['concurrency']} it did "
            f"{best['emails_per_s']:g} emails/s; its lanes allow "
            f"{best['lane_ceiling_per_s']:g} (K / {EMAIL_SECONDS:g} s). Each email spent "
            f"{_g(best['seconds_per_email_in_a_lane'])} s in its lane instead of "
            f"{EMAIL_SECONDS:g} s. The process used {cpu}% of a core, "
            f"{_g(best['cpu_ms_per_email'])} ms of CPU per email"
        )
        if best["cpu_ms_per_email"]:
            text += f" (one core allows at most {1000 / best['cpu_ms_per_email']:.0f} emails/s)"
        text += "."
        figures = (inside["unit_ms"], inside["in_transaction_ms"], inside["units_per_email"])
        if None not in (*figures, inside["loop_lag_ms"]):
            waited = inside["unit_ms"] - inside["in_transaction_ms"]
            per_email = waited * inside["units_per_email"] / 1000
            text += (
                f" Its units of work ({inside['units_per_s']:g} a second, "
                f"{inside['units_per_email']:g} per email in the window) took "
                f"{inside['unit_ms']:g} ms each from asking to done, "
                f"{inside['in_transaction_ms']:g} ms of it inside the transaction; the event "
                f"loop woke a 50 ms timer {inside['loop_lag_ms']:g} ms late on average "
                f"(at worst {inside['loop_lag_max_ms']:g})."
            )
            if db == "sqlite":
                text += (
                    f" On SQLite units run one at a time through one writer thread: each "
                    f"waited {waited:.0f} ms for its turn, about {per_email:.2f} s of each "
                    "email's time in its lane."
                )
            else:
                text += (
                    f" On PostgreSQL each unit waited {waited:.0f} ms for a pooled connection "
                    f"and the loop (about {per_email:.2f} s per email), and its transaction "
                    "runs on the event loop (`run_sync`): every statement waits for a loop "
                    "busy with the other lanes' work, which stretches the transaction."
                )
        if cpu >= 85:
            text += " CPU is the limit: a faster pipeline per email, not a larger K, raises it."
        if r.get("failed_jobs"):
            text += f" {r['failed_jobs']} jobs failed at least once during the runs."
        others = [m for m in r["runs"] if m != best and db == "sqlite"]
        if others:
            text += " Other K: " + ", ".join(
                f"K={m['concurrency']}: {m['emails_per_s']:g}/s" for m in others
            )
            text += "."
        notes.append(text)
    scaling = r.get("scaling")
    if scaling and not scaling["met"]:
        four = r["runs"][2]
        notes.append(
            f"**c. 1 -> 4 processes ({db}).** {scaling['one_process_per_s']:g} -> "
            f"{scaling['four_processes_per_s']:g} emails/s ({_x(scaling['factor'])}) at "
            f"K={scaling['concurrency_per_process']} each; the four processes' lanes allow "
            f"{four['lane_ceiling_per_s']:g}. Together they used "
            f"{sum(four['cpu_percent_per_process'])}% CPU of the {cores} cores, beside "
            "PostgreSQL itself; each email spent "
            f"{_g(four['seconds_per_email_in_a_lane'])} s in its lane ({EMAIL_SECONDS:g} s at "
            f"best), units took {_g(four['inside']['unit_ms'])} ms "
            f"({_g(four['inside']['in_transaction_ms'])} inside the transaction)."
        )
    return notes


def _approvals_limits(db: str, r: dict[str, Any]) -> list[str]:
    if r["met"]:
        return []
    latency, rate = r["latency_s"], r["worker_emails_per_s"]
    text = (
        f"**d. Approved replies ({db}).** p95 {latency['p95']} s, max {latency['max']} s over "
        f"{r['approvals']} approvals ({r['sent']} sent). The worker ran "
        f"{r['worker_concurrency']} jobs at once and finished {rate} emails/s"
    )
    if rate:
        text += (
            f", so a lane came free every {1000 / rate:.0f} ms on average: a send is claimed "
            "first, but only once a lane is free"
        )
    if not r["least_waiting"]:
        text += "; the backlog ran out during the approvals, so the run proves less"
    return [text + "."]


def _memory_limits(report: dict[str, Any]) -> list[str]:
    notes = []
    memory = report.get("memory")
    if memory and not memory["met"]:
        notes.append(
            f"**e. Memory ({memory['database']}).** The worker grew {memory['growth_mb']:g} MB "
            f"after a fifth of {memory['emails']:,} emails ({memory['rss_mb_at_a_fifth']:g} -> "
            f"{memory['rss_mb_peak_after']:g} MB, {memory['rss_mb_end']:g} MB at the end): "
            f"samples (emails done, MB): {memory['samples_done_mb']}."
        )
    for db, r in _each(report, "startup"):
        if not r["met"]:
            alone, imports = r.get("python_alone_s"), r.get("imports_s")
            text = (
                f"**e. Startup ({db}).** {r['median_s']} s to the first 200 (runs: {r['runs_s']})"
            )
            if alone is not None and imports is not None:
                rest = r["median_s"] - imports
                text += (
                    f": the interpreter alone takes {alone} s, importing what serve imports "
                    f"(`app.cli`, `app.main`, `app.jobs.process`, uvicorn) {imports} s in all"
                )
                text += (
                    f", which leaves {rest:.3f} s for building the app, opening the database, "
                    "starting the worker process and uvicorn's first answer"
                    if rest > 0
                    else ": the imports alone take as long as the whole start did (separate "
                    "processes on a busy machine), so importing is the limit"
                )
            notes.append(text + ".")
    return notes


def _other_limits(report: dict[str, Any]) -> list[str]:
    notes = []
    prompts = report.get("prompts")
    if prompts and prompts["over_budget"]:
        over = [i for i, v in prompts["by_intent"].items() if v["max_prompt_tokens"] > 2000]
        notes.append(
            f"**Prompt tokens.** {prompts['over_budget']} first requests over 2,000 tokens, "
            f"in: {', '.join(over)}."
        )
    hostile = report.get("ceilings")
    if hostile and not hostile["met"]:
        cases = "; ".join(
            f"{c['case']}: {c['seconds']} s, +{c['added_mb']} MB ({c['outcome']})"
            for c in hostile["cases"]
            if not c["met"]
        )
        notes.append(f"**Hostile emails.** Over a ceiling: {cases}.")
    return notes


def limits(report: dict[str, Any]) -> list[str]:
    """One paragraph per target not met, from this run's figures (empty when all are met)."""
    cores = int(report.get("cores") or 1)
    notes: list[str] = []
    for db, r in _each(report, "intake"):
        notes += _intake_limits(db, r, cores)
    for db, r in _each(report, "costs"):
        notes += _costs_limits(db, r)
    for db, r in _each(report, "concurrency"):
        notes += _concurrency_limits(db, r, cores)
    for db, r in _each(report, "approvals"):
        notes += _approvals_limits(db, r)
    return notes + _memory_limits(report) + _other_limits(report)


def choices(report: dict[str, Any]) -> list[str]:
    """How this run chose what it measured (the concurrency, the pools)."""
    found = []
    for db, r in _each(report, "concurrency"):
        if db == "sqlite":
            tried = ", ".join(f"K={m['concurrency']}" for m in r["runs"])
            found.append(
                f"**c (sqlite).** One process at {tried}; the best, K="
                f"{r['best']['concurrency']}, is the figure (SQLite has no pool to size: its "
                "units of work share one writer thread)."
            )
            continue
        runs = ", ".join(
            f"{m['processes']}x K={m['concurrency']} (pool for {m['pool_for']} jobs: up to "
            f"{m['connections_per_process']} connections each)"
            for m in r["runs"]
        )
        text = f"**c ({db}).** Runs: {runs}."
        limit = r.get("max_connections")
        if limit:
            text += (
                f" PostgreSQL's `max_connections` is {limit['limit']}, {limit['in_use_before']} "
                f"were in use before the run and {SPARE_CONNECTIONS} are kept spare, so four "
                f"processes get {limit['per_process_of_4']} connections each. A worker at K "
                "may open K + 4 (`app.db.engine.pool_sizes`, at most 128), hence "
                f"K={r['runs'][-1]['concurrency']} per process for the 1 -> 4 comparison."
            )
            best = r["best"]
            if best["pool_for"] < best["concurrency"]:
                kept, overflow = pool_sizes(best["concurrency"])
                text += (
                    f" At K={best['concurrency']} the app would size one process's pool at "
                    f"{kept + overflow} connections, more than the server has free, so that "
                    f"run's pool was sized for {best['pool_for']} jobs "
                    f"({best['connections_per_process']} connections): lanes wait for a "
                    "connection only while another lane is inside a unit of work. The app has "
                    "no setting for a pool smaller than its concurrency."
                )
        found.append(text)
    return found


def markdown(report: dict[str, Any]) -> str:
    """The whole report."""
    table = "\n".join(
        f"| {row.measure} | {row.target} | {row.measured} | {row.verdict} |" for row in rows(report)
    )
    found = limits(report)
    limit_text = "\n\n".join(found) if found else "Every target measured was met."
    note_text = "\n\n".join(choices(report))
    sections = [
        "# Benchmark results",
        f"Produced by `{report['command']}` on {report['when']} (commit {report['commit']}, "
        f"{report['total_seconds']} s{', quick sizes' if report.get('quick') else ''}).",
        f"Machine: {report['machine']}." + _load(report),
        "| Measure | Target | Measured | Verdict |\n|---|---|---|---|\n" + table,
        "## What limits each target not met\n\n" + limit_text,
    ]
    if note_text:
        sections.append("## How this run chose its concurrency\n\n" + note_text)
    sections += _detail_tables(report)
    raw = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    sections.append(f"## Raw figures\n\n```json\n{raw}\n```")
    return "\n\n".join(sections) + "\n"


def _load(report: dict[str, Any]) -> str:
    before, after = report.get("load_average_before"), report.get("load_average_after")
    if not before or not after:
        return ""
    return (
        f" Load average (1, 5, 15 min) before the run {before}, after it {after}: other "
        "work on the machine shares its cores with the figures below."
    )


def _detail_tables(report: dict[str, Any]) -> list[str]:
    found = []
    prompts = report.get("prompts")
    if prompts:
        lines = "\n".join(
            f"| {intent} | {v['emails']} | {v['mean_round_trips']} | {v['mean_prompt_tokens']} "
            f"| {v['max_prompt_tokens']} |"
            for intent, v in prompts["by_intent"].items()
        )
        found.append(
            "## Model round trips and prompt tokens per email, by intent\n\n"
            "The offline model on the labelled emails (`app/agent/emails.jsonl`); tokens of the "
            "first request (instructions, the tool schemas offered, the email), cl100k.\n\n"
            "| Intent | Emails | Round trips | Prompt tokens (mean) | (max) |\n"
            "|---|---|---|---|---|\n" + lines
        )
    hostile = report.get("ceilings")
    if hostile:
        lines = "\n".join(
            f"| {c['case']} | {c['post_mb']} | {c['seconds']} | +{c['added_mb']} | {c['outcome']} |"
            for c in hostile["cases"]
        )
        found.append(
            "## Hostile emails through the worker's parse (`bench/ceilings.py`)\n\n"
            "| Case | Post (MB) | Seconds | Memory (MB) | Outcome |\n|---|---|---|---|---|\n"
            + lines
        )
    return found
