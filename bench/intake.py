"""Intake benchmark: the real webhook against an empty FastAPI handler, same server, same run.

    make bench      # or: .venv/bin/python -m bench.intake [--seconds 5] [--connections 32]
    .venv/bin/python -m bench.intake --database-url postgresql://postgres@127.0.0.1:5432/test

Both apps run under uvicorn (one worker, the same loop and HTTP implementation), one after the
other, twice each, alternating; the load comes from a separate process on loopback. Every request
is a unique ~1 kB SendGrid raw-mode post with Basic auth, so the real handler authenticates,
splits the multipart body, checksums the email, and commits the message and its job (the
in-process worker is off, so only the acknowledging path is measured). Prints requests/s,
p50/p99 latency and the ratios; the target is at least 0.5x the empty handler's throughput.
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.demo.sendgrid_posts import Transport, raw_mode_post
from bench.loadgen import LoadResult, run_load

USER, PASSWORD = "sendgrid", "bench-password-0123456789"
TARGET_RATIO = 0.5
P99_TARGET = 2.0
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
    head, body = request_factory("/webhooks/sendgrid/inbound")
    prefix = os.urandom(4).hex().encode()

    def make(n: int) -> bytes:
        # Same length every time: the Content-Length in the head stays right.
        unique = prefix + b"%016d" % n
        return head + body.replace(PLACEHOLDER, unique, 1)

    result = asyncio.run(
        run_load("127.0.0.1", port, make, connections=connections, seconds=seconds, warmup=warmup)
    )
    queue.put(result)  # type: ignore[attr-defined]


def measure(port: int, *, connections: int, seconds: float, warmup: float) -> LoadResult:
    """Run the load generator in its own process and return its result."""
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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(target: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *target,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process, port
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server {target} did not start")


def run_intake(
    *,
    seconds: float = 5.0,
    warmup: float = 1.0,
    connections: int = 32,
    rounds: int = 2,
    database_url: str | None = None,
) -> dict[str, object]:
    """Measure both apps, alternating, and return requests/s, p50/p99 and the ratios."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    database_url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "INBOUND_BASIC_AUTH_USER": USER,
        "INBOUND_BASIC_AUTH_PASSWORD": PASSWORD,
        "WORKER_IN_PROCESS": "false",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"], env=env, check=True, capture_output=True
    )
    targets = {
        "empty FastAPI handler": (["bench.empty_app:app"], env),
        "intake webhook": (["app.main:create_app", "--factory"], env),
    }
    servers = {name: start_server(target, e) for name, (target, e) in targets.items()}
    results: dict[str, list[LoadResult]] = {name: [] for name in targets}
    try:
        for _ in range(rounds):
            for name, (_, port) in servers.items():
                results[name].append(
                    measure(port, connections=connections, seconds=seconds, warmup=warmup)
                )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)
    summary: dict[str, dict[str, object]] = {}
    for name, runs in results.items():
        statuses: dict[int, int] = {}
        for run in runs:
            for status, n in run.statuses.items():
                statuses[status] = statuses.get(status, 0) + n
        summary[name] = {
            "rps": round(statistics.median(r.rps for r in runs)),
            "p50_ms": round(statistics.median(r.percentile(0.50) for r in runs), 2),
            "p99_ms": round(statistics.median(r.percentile(0.99) for r in runs), 2),
            "statuses": statuses,
            "errors": sum(r.errors for r in runs),
        }
    base, real = summary["empty FastAPI handler"], summary["intake webhook"]
    ratio = float(real["rps"]) / float(base["rps"])  # type: ignore[arg-type]
    p99_ratio = float(real["p99_ms"]) / float(base["p99_ms"])  # type: ignore[arg-type]
    return {
        "database": database_url.split(":")[0],
        "connections": connections,
        "rounds": rounds,
        "seconds": seconds,
        "request_bytes": len(request_factory("/")[1]),
        **summary,
        "throughput_ratio": round(ratio, 2),
        "p99_ratio": round(p99_ratio, 2),
        "targets": {"throughput_ratio": f">= {TARGET_RATIO}", "p99_ratio": f"<= {P99_TARGET}"},
        "met": ratio >= TARGET_RATIO and p99_ratio <= P99_TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per app")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    result = run_intake(
        seconds=args.seconds,
        warmup=args.warmup,
        connections=args.connections,
        rounds=args.rounds,
        database_url=args.database_url,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
