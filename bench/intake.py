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

    workdir = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
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
        for _ in range(args.rounds):
            for name, (_, port) in servers.items():
                results[name].append(
                    measure(
                        port, connections=args.connections, seconds=args.seconds, warmup=args.warmup
                    )
                )
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=10)

    size = len(request_factory("/")[1])
    print(
        f"\nIntake benchmark: {args.connections} connections, {args.rounds} x "
        f"{args.seconds:.0f} s per app, ~{size} B SendGrid raw-mode posts, "
        f"database {database_url.split(':')[0]}"
    )
    summary: dict[str, tuple[float, float, float]] = {}
    for name, runs in results.items():
        rps = statistics.median(r.rps for r in runs)
        p50 = statistics.median(r.percentile(0.50) for r in runs)
        p99 = statistics.median(r.percentile(0.99) for r in runs)
        statuses: dict[int, int] = {}
        for run in runs:
            for status, n in run.statuses.items():
                statuses[status] = statuses.get(status, 0) + n
        errors = sum(r.errors for r in runs)
        summary[name] = (rps, p50, p99)
        print(
            f"  {name:<22} {rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
            f"statuses {statuses} errors {errors}"
        )
    base, real = summary["empty FastAPI handler"], summary["intake webhook"]
    ratio = real[0] / base[0]
    print(
        f"  throughput ratio {ratio:.2f}x (target >= {TARGET_RATIO}x), "
        f"p99 ratio {real[2] / base[2]:.2f}x"
    )
    print("  PASS" if ratio >= TARGET_RATIO else "  BELOW TARGET")


if __name__ == "__main__":
    main()
