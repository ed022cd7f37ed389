"""a. The intake webhook, served by the default `python -m app serve` while its worker drains a
backlog, against an empty FastAPI handler that reads the body.

    python -m bench.intake [--postgres URL] [--seconds 5] [--rounds 3] [--backlog 3000]

A backlog of emails is stored first. The empty handler (`bench.empty_app`, uvicorn, one worker)
is measured on a quiet machine, and the webhook once with no worker (WORKER_MODE=off); then
`python -m app serve` starts with its defaults (the worker as a child process,
WORKER_MODE=process), and each round measures the webhook and then the empty handler again
while that worker drains the backlog; after serve stops, the empty handler is measured quietly
once more. The load comes from a separate process (`bench.loadgen`): 32
keep-alive connections, each request a unique ~1 kB SendGrid raw-mode post with Basic auth.

The jobs table is sampled four times a second: the figures show how many emails the worker
completed inside each measured window and the fewest still waiting (never 0: it was busy
throughout). CPU time of the server, its worker and the load generator is recorded per phase.
Targets, against the quiet empty handler: throughput >= 0.5x and p99 <= 2x.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.db.engine import Database
from app.demo.sendgrid_posts import Transport, raw_mode_post
from bench.backlog import store_backlog
from bench.harness import (
    PASSWORD,
    POSTGRESQL,
    USER,
    JobCounts,
    Sampler,
    Say,
    bench_env,
    child_pids,
    cpu_seconds,
    failed_jobs,
    fresh_database,
    job_counts,
    kind_of,
    quiet,
    start_python,
    stop_process,
)
from bench.loadgen import LoadResult, run_load

TARGET_RATIO = 0.5
P99_TARGET = 2.0
PATH = "/webhooks/sendgrid/inbound"
EML = (
    "From: Sara Ahmadi <sara@example.com>\r\nTo: support@demo-store.example\r\n"
    "Subject: Where is my order #1001?\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n"
    "Message-ID: <bench-@@@@@@@@@@@@@@@@@@@@@@@@-mail@example.com>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "Hi, I ordered a linen shirt last week (order #1001) and the tracking page has not changed "
    "since Tuesday. Could you tell me where it is? Thanks, Sara\r\n"
)
PLACEHOLDER = b"@" * 24


def request_factory(path: str) -> tuple[bytes, bytes]:
    """Return (HTTP head template, body template) for a unique-per-request SendGrid post."""
    post = raw_mode_post(EML.encode(), Transport(envelope_from="sara@example.com"))
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: {post.content_type}\r\nContent-Length: {len(post.body)}\r\n\r\n"
    ).encode()
    return head, post.body


def _loadgen_process(
    port: int, connections: int, seconds: float, warmup: float, queue: object
) -> None:
    head, body = request_factory(PATH)
    prefix = os.urandom(4).hex().encode()

    def make(n: int) -> bytes:
        # Same length every time: the Content-Length in the head stays right.
        unique = prefix + b"%016d" % n
        return head + body.replace(PLACEHOLDER, unique, 1)

    result = asyncio.run(
        run_load("127.0.0.1", port, make, connections=connections, seconds=seconds, warmup=warmup)
    )
    queue.put(result)  # type: ignore[attr-defined]


def load(port: int, *, connections: int, seconds: float, warmup: float) -> LoadResult:
    """Run the load generator in its own process and return its result (blocking)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(
        target=_loadgen_process, args=(port, connections, seconds, warmup, results)
    )
    process.start()
    result: LoadResult = results.get(timeout=seconds + warmup + 120)
    process.join()
    return result


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_server(args: list[str], env: dict[str, str]) -> tuple[Any, int]:
    """Start a server on a free port (`{port}` in `args`); return it once it answers HTTP."""
    port = free_port()
    process = await start_python([a.replace("{port}", str(port)) for a in args], env)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return process, port
            except httpx.TransportError:
                if process.returncode is not None:
                    break
                await asyncio.sleep(0.1)
    await stop_process(process)
    raise RuntimeError(f"server {args} did not start")


EMPTY_APP = [
    "-m",
    "uvicorn",
    "bench.empty_app:app",
    "--host=127.0.0.1",
    "--port={port}",
    "--log-level=warning",
    "--no-access-log",
]
SERVE = ["-m", "app", "serve", "--port={port}"]
EMPTY_QUIET = "empty handler, quiet"
INTAKE_ALONE = "intake webhook, no worker (WORKER_MODE=off)"
INTAKE_DRAINING = "intake webhook, default serve, worker draining"
EMPTY_DRAINING = "empty handler, serve's worker draining"


class Phases:
    """Measures phases one after another, each with the jobs table sampled alongside."""

    def __init__(
        self, db: Database, *, connections: int, seconds: float, warmup: float, say: Say
    ) -> None:
        self.db = db
        self.connections, self.seconds, self.warmup = connections, seconds, warmup
        self.say = say
        self.measured: list[dict[str, Any]] = []

    async def measure(
        self, name: str, port: int, server_pid: int, serve_pid: int | None = None
    ) -> dict[str, Any]:
        """One phase against the server on `port`; `serve_pid`'s children are the worker."""
        self.say(f"{name}: {self.warmup:g} s warm-up + {self.seconds:g} s")
        children = []
        if serve_pid is not None:
            children = child_pids(serve_pid)
        cpu_before = (cpu_seconds(server_pid), sum(cpu_seconds(pid) for pid in children))
        sampler = Sampler(self.db)
        stop = asyncio.Event()
        sampling = asyncio.create_task(sampler.run(stop, connections=self.db.dialect == POSTGRESQL))
        started = time.perf_counter()
        try:
            result = await asyncio.to_thread(
                load, port, connections=self.connections, seconds=self.seconds, warmup=self.warmup
            )
        finally:
            stop.set()
            await sampling
        elapsed = time.perf_counter() - started
        cpu_after = (cpu_seconds(server_pid), sum(cpu_seconds(pid) for pid in children))
        server_cpu = cpu_after[0] - cpu_before[0]
        start, end = result.window
        phase: dict[str, Any] = {
            "phase": name,
            "rps": round(result.rps),
            "p50_ms": round(result.percentile(0.50), 2),
            "p99_ms": round(result.percentile(0.99), 2),
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
            "errors": result.errors,
            "server_cpu_ms_per_request": round(server_cpu * 1000 / max(result.total, 1), 3),
            "cpu_percent": {
                "server": round(server_cpu * 100 / elapsed),
                "worker": round((cpu_after[1] - cpu_before[1]) * 100 / elapsed),
                "load_generator": round(result.cpu_seconds * 100 / elapsed),
            },
            "worker_emails_done": sampler.done_between(start, end),
            "least_waiting": sampler.least_waiting_between(start, end),
        }
        if sampler.peak_connections is not None:
            phase["peak_connections"] = sampler.peak_connections
        self.measured.append(phase)
        return phase

    def summary(self, name: str) -> dict[str, Any]:
        """The median of the phases called `name`."""
        runs = [p for p in self.measured if p["phase"] == name]
        return {
            "rps": round(statistics.median(p["rps"] for p in runs)),
            "p50_ms": round(statistics.median(p["p50_ms"] for p in runs), 2),
            "p99_ms": round(statistics.median(p["p99_ms"] for p in runs), 2),
            "server_cpu_ms_per_request": round(
                statistics.median(p["server_cpu_ms_per_request"] for p in runs), 3
            ),
            "cpu_percent": {
                name: round(statistics.median(p["cpu_percent"][name] for p in runs))
                for name in ("server", "worker", "load_generator")
            },
            "phases": len(runs),
        }


async def run_intake(
    postgres: str | None,
    workdir: Path,
    *,
    backlog: int = 3000,
    seconds: float = 5.0,
    warmup: float = 1.0,
    rounds: int = 3,
    connections: int = 32,
    say: Say = quiet,
) -> dict[str, Any]:
    """a on one database: the phases, their medians, the ratios and what the worker did."""
    url = await fresh_database(postgres, workdir)
    env = bench_env(url, workdir)
    db = Database.connect(url)
    phases = Phases(db, connections=connections, seconds=seconds, warmup=warmup, say=say)
    try:
        say(f"storing a backlog of {backlog} emails")
        await store_backlog(db, backlog)
        empty, empty_port = await start_server(EMPTY_APP, env)
        try:
            await phases.measure(EMPTY_QUIET, empty_port, empty.pid)
            say("starting `python -m app serve` with WORKER_MODE=off")
            alone, alone_port = await start_server(SERVE, env | {"WORKER_MODE": "off"})
            try:
                await phases.measure(INTAKE_ALONE, alone_port, alone.pid)
            finally:
                await stop_process(alone)
            say("starting `python -m app serve` (the default: its worker as a child process)")
            serve, serve_port = await start_server(SERVE, env)
            try:
                await _wait_for_draining(db)
                for _ in range(rounds):
                    await phases.measure(INTAKE_DRAINING, serve_port, serve.pid, serve.pid)
                    await phases.measure(EMPTY_DRAINING, empty_port, empty.pid, serve.pid)
            finally:
                await stop_process(serve)
            await phases.measure(EMPTY_QUIET, empty_port, empty.pid)
        finally:
            await stop_process(empty)
        end = await job_counts(db)
        failed = await failed_jobs(db)
    finally:
        await db.dispose()
    return summarise(phases, database=kind_of(postgres), backlog=backlog, left=end) | {
        "failed_jobs": failed
    }


def summarise(phases: Phases, *, database: str, backlog: int, left: JobCounts) -> dict[str, Any]:
    """The medians, the ratios, the worker's figures and the verdict."""
    quiet_base = phases.summary(EMPTY_QUIET)
    busy_base = phases.summary(EMPTY_DRAINING)
    intake = phases.summary(INTAKE_DRAINING)
    alone = phases.summary(INTAKE_ALONE)
    measured = [p for p in phases.measured if p["phase"] == INTAKE_DRAINING]
    done = sum(p["worker_emails_done"] for p in measured)
    busy = all(p["worker_emails_done"] > 0 and p["least_waiting"] > 0 for p in measured)
    ratio = intake["rps"] / quiet_base["rps"]
    p99_ratio = intake["p99_ms"] / quiet_base["p99_ms"]
    ok = all(set(p["statuses"]) <= {"200", "202"} and not p["errors"] for p in measured)
    return {
        "database": database,
        "connections": phases.connections,
        "seconds": phases.seconds,
        "backlog_stored": backlog,
        "empty_quiet": quiet_base,
        "intake": intake,
        "empty_while_draining": busy_base,
        "intake_no_worker": alone,
        "throughput_ratio_no_worker": round(alone["rps"] / quiet_base["rps"], 2),
        "p99_ratio_no_worker": round(alone["p99_ms"] / quiet_base["p99_ms"], 2),
        "throughput_ratio": round(ratio, 2),
        "p99_ratio": round(p99_ratio, 2),
        "throughput_ratio_vs_empty_while_draining": round(intake["rps"] / busy_base["rps"], 2),
        "p99_ratio_vs_empty_while_draining": round(intake["p99_ms"] / busy_base["p99_ms"], 2),
        "worker": {
            "emails_done_in_intake_windows": done,
            "emails_per_s": round(done / (phases.seconds * len(measured)), 1),
            "least_waiting": min(p["least_waiting"] for p in measured),
            "busy_throughout": busy,
            "left_queued_at_end": left.inbound_waiting,
        },
        "all_acknowledged": ok,
        "phases": phases.measured,
        "targets": {"throughput_ratio": f">= {TARGET_RATIO}", "p99_ratio": f"<= {P99_TARGET}"},
        "throughput_met": ratio >= TARGET_RATIO and busy and ok,
        "p99_met": p99_ratio <= P99_TARGET and busy and ok,
    }


async def _wait_for_draining(db: Database, within: float = 60.0) -> None:
    """Until serve's worker has completed its first email."""
    deadline = time.monotonic() + within
    while (await job_counts(db)).inbound_done == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("serve's worker completed no email")
        await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (emptied); default: SQLite")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        result = asyncio.run(
            run_intake(
                args.postgres,
                Path(tmp),
                backlog=args.backlog,
                seconds=args.seconds,
                warmup=args.warmup,
                rounds=args.rounds,
                connections=args.connections,
                say=print,
            )
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
