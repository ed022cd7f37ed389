"""The benchmark's own logic: verdicts, what a missed target says, the counters, a tiny run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.db.engine import Database
from app.jobs.worker import Worker
from bench.all import DEFAULT_REPORT, parse_args
from bench.backlog import bench_providers, store_backlog
from bench.costs import UNITS, by_unit, measure_costs
from bench.harness import JobCounts, Sampler, bench_settings, counting, kind_of
from bench.memory import memory_figures
from bench.report import Row, choices, limits, markdown, rows

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")


def costs_result(*, ratio: float, transactions: float = 4.0) -> dict[str, Any]:
    """A `bench.costs.measure_costs` result as a run would make it."""
    return {
        "database": "sqlite",
        "pipeline": {
            "emails": 300,
            "ms_per_email": 25.06,
            "transactions_per_email": transactions,
            "statements_per_email": 26.0,
            "ms_in_transactions_per_email": 12.59,
            "ms_in_statements_per_email": 0.77,
            "units": {
                "claim + load": {"ms": 0.85, "statements": 2.0, "statement_ms": 0.08},
                "open the agent's run": {"ms": 0.9, "statements": 2.0, "statement_ms": 0.06},
                "file the email and reply": {"ms": 8.07, "statements": 13.0, "statement_ms": 0.4},
                "send outcome + job": {"ms": 2.77, "statements": 5.0, "statement_ms": 0.13},
            },
            "outcomes": {"answered": 300},
            "replies_sent": 300,
            "step_ms": {"parse": 2.03, "agent": 0.94, "policy": 1.03, "database": 1.8},
        },
        "no_database": {
            "emails": 300,
            "ms_per_email": 8.11,
            "part_ms": {"parse": 1.85, "agent": 1.25},
            "would_send": 300,
        },
        "ratio": ratio,
        "auto_send_path": True,
        "ratio_met": ratio <= 2,
        "transactions_met": transactions <= 4,
    }


def report_with(**measures: Any) -> dict[str, Any]:
    return {
        "when": "2026-11-22T12:00:00+00:00",
        "machine": "2 cores",
        "cores": 2,
        "commit": "abc1234",
        "command": "python -m bench.all",
        "total_seconds": 1,
        **measures,
    }


def test_a_row_says_met_not_met_or_not_measured() -> None:
    assert Row("m", "<= 2x", "1x", True).verdict == "met"
    assert Row("m", "<= 2x", "3x", False).verdict == "**not met**"
    assert Row("m", "-", "failed", None).verdict == "not measured"


def test_a_missed_target_says_what_limits_it_with_the_runs_own_figures() -> None:
    report = report_with(costs={"sqlite": costs_result(ratio=3.09)})
    [ratio_row, transactions_row] = rows(report)
    assert ratio_row.verdict == "**not met**"
    assert "3.09x (25.06 vs 8.11 ms)" in ratio_row.measured
    assert transactions_row.verdict == "met"
    [paragraph] = limits(report)
    assert paragraph.startswith("**b. Pipeline time per email (sqlite).**")
    # The figures of this run, where the time went, and the largest unit of work.
    for figure in ("25.06 ms", "8.11 ms", "12.59 ms", "file the email and reply: 8.07 ms"):
        assert figure in paragraph
    # The steps' own work outside transactions (parse + agent) and what remains around them.
    assert "2.97 ms" in paragraph
    assert f"{25.06 - 2.97 - 12.59:.2f} ms" in paragraph
    assert "## What limits each target not met\n\n**b. Pipeline" in markdown(report)


def test_targets_met_say_nothing_but_that() -> None:
    report = report_with(costs={"sqlite": costs_result(ratio=1.5)})
    assert [row.verdict for row in rows(report)] == ["met", "met"]
    assert limits(report) == []
    assert "Every target measured was met." in markdown(report)


def test_too_many_transactions_are_a_missed_target_of_their_own() -> None:
    report = report_with(costs={"postgresql": costs_result(ratio=1.5, transactions=5.0)})
    assert [row.verdict for row in rows(report)] == ["met", "**not met**"]
    [paragraph] = limits(report)
    assert "**b. Transactions per email (postgresql).** 5 per email" in paragraph


def intake_result(*, server_cpu: int) -> dict[str, Any]:
    def phase(rps: int, p99: float, cpu_ms: float) -> dict[str, Any]:
        return {
            "rps": rps,
            "p50_ms": p99 / 3,
            "p99_ms": p99,
            "server_cpu_ms_per_request": cpu_ms,
            "cpu_percent": {"server": server_cpu, "worker": 87, "load_generator": 20},
            "phases": 1,
        }

    return {
        "empty_quiet": phase(9660, 6.44, 0.08),
        "intake": phase(1253, 139.12, 0.4),
        "empty_while_draining": phase(7189, 9.91, 0.08),
        "intake_no_worker": phase(2100, 20.0, 0.35),
        "throughput_ratio": 0.13,
        "p99_ratio": 21.6,
        "throughput_ratio_no_worker": 0.22,
        "throughput_ratio_vs_empty_while_draining": 0.17,
        "p99_ratio_vs_empty_while_draining": 14.04,
        "worker": {
            "emails_done_in_intake_windows": 69,
            "emails_per_s": 34.5,
            "least_waiting": 1472,
            "busy_throughout": True,
        },
        "phases": [],
        "throughput_met": False,
        "p99_met": False,
    }


def test_intake_limits_name_the_write_lock_when_the_server_waits_instead_of_working() -> None:
    waiting = limits(report_with(intake={"sqlite": intake_result(server_cpu=35)}))
    [paragraph] = waiting
    for figure in ("2100 req/s", "0.35 ms of server CPU", "1253 req/s", "34.5 emails/s"):
        assert figure in paragraph
    assert "not CPU-bound (35%)" in paragraph
    assert "SQLite's write lock" in paragraph
    [busy] = limits(report_with(intake={"sqlite": intake_result(server_cpu=95)}))
    assert "write lock" not in busy
    [row, p99_row] = rows(report_with(intake={"sqlite": intake_result(server_cpu=35)}))
    assert "0.13x (1253 vs 9660 req/s; worker finished 69 emails" in row.measured
    assert p99_row.verdict == "**not met**"


def test_the_report_says_why_postgresql_runs_used_the_concurrency_they_did() -> None:
    def run(processes: int, k: int, pool: int, connections: int) -> dict[str, Any]:
        return {
            "processes": processes,
            "concurrency": k,
            "pool_for": pool,
            "connections_per_process": connections,
            "emails_per_s": 30.0,
            "lane_ceiling_per_s": k * processes / 2.15,
        }

    best = run(1, 256, 81, 85)
    result = {
        "target_per_s": 100.0,
        "best": best,
        "runs": [best, run(1, 17, 17, 21), run(4, 17, 17, 21)],
        "max_connections": {
            "limit": 100,
            "in_use_before": 5,
            "kept_spare": 10,
            "per_process_of_4": 21,
        },
    }
    [note] = choices(report_with(concurrency={"postgresql": result}))
    assert "`max_connections` is 100, 5 were in use" in note
    assert "K=17 per process" in note
    assert "size one process's pool at 128 connections" in note
    assert "sized for 81 jobs" in note


def test_only_picks_measures_in_run_order_and_a_full_run_writes_the_results() -> None:
    assert parse_args(["--only", "c,a"]).only == ["a", "c"]
    assert parse_args(["--only", "c,a"]).write is None
    assert parse_args(["--quick"]).write is None
    assert parse_args([]).write == DEFAULT_REPORT
    assert parse_args(["--from-json", "run.json"]).write is None
    with pytest.raises(SystemExit):
        parse_args(["--only", "a,z"])


def test_the_sampler_counts_emails_done_inside_a_window_and_the_fewest_waiting() -> None:
    sampler = Sampler(db=None)  # type: ignore[arg-type]  # Only the samples are read here.
    sampler.samples = [
        JobCounts(at=10.0, inbound_done=0, inbound_waiting=100, sends_done=0),
        JobCounts(at=11.0, inbound_done=5, inbound_waiting=95, sends_done=0),
        JobCounts(at=12.0, inbound_done=20, inbound_waiting=80, sends_done=0),
        JobCounts(at=13.0, inbound_done=30, inbound_waiting=70, sends_done=0),
    ]
    assert sampler.done_between(11.0, 12.5) == 25
    assert sampler.least_waiting_between(10.5, 12.5) == 80


def test_memory_is_flat_within_fifty_mb_of_the_figure_at_a_fifth() -> None:
    samples = [(0, 90.0), (200, 120.0), (500, 130.0), (1000, 125.0)]
    flat = memory_figures(samples, emails=1000, seconds=10.0, database="sqlite")
    assert (flat["rss_mb_at_a_fifth"], flat["rss_mb_peak_after"], flat["met"]) == (
        120.0,
        130.0,
        True,
    )
    grown = memory_figures([*samples, (1000, 171.0)], emails=1000, seconds=10.0, database="x")
    assert (grown["growth_mb"], grown["met"]) == (51.0, False)


async def test_the_counter_sees_each_transaction_and_statement_of_a_couple_of_emails(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    await store_backlog(db, 3)
    settings = bench_settings(database_url, tmp_path)
    worker = Worker(db=db, settings=settings, providers=bench_providers(tmp_path / "outbox"))
    await worker.run_once()  # Fills the caches (stores, policies).
    with counting(db) as counter:
        await worker.run_once()
        await worker.run_once()
    assert 2 <= counter.count <= 2 * len(UNITS)
    assert len(counter.spans) == counter.count
    assert counter.statements >= counter.count
    assert counter.seconds >= counter.statement_seconds > 0
    units = by_unit(counter.spans, 2)
    if counter.count == 2 * len(UNITS):
        assert list(units) == list(UNITS)
        assert all(unit["statements"] >= 1 for unit in units.values())
    else:
        assert units == {}


@pytest.mark.parametrize(
    "postgres",
    [
        None,
        pytest.param(
            TEST_DATABASE_URL,
            marks=pytest.mark.skipif(
                kind_of(TEST_DATABASE_URL) != "postgresql", reason="TEST_DATABASE_URL is not PG"
            ),
        ),
    ],
    ids=["sqlite", "postgresql"],
)
async def test_a_tiny_costs_run_measures_and_reports(postgres: str | None, tmp_path: Path) -> None:
    result = await measure_costs(postgres, tmp_path, emails=3, warmup=1)
    kind = kind_of(postgres)
    assert result["database"] == kind
    assert result["auto_send_path"]
    assert result["pipeline"]["outcomes"] == {"answered": 3}
    assert result["pipeline"]["transactions_per_email"] <= 4
    assert result["transactions_met"]
    assert result["ratio"] > 0
    assert result["no_database"]["would_send"] == 3
    text = markdown(report_with(costs={kind: result}))
    assert f"| b. SQL transactions per email, auto-send path ({kind}) | <= 4 |" in text
