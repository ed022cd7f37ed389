"""Startup benchmark: time from starting `python -m app serve` to its first 200 on /healthz.

    .venv/bin/python -m bench.startup [--runs 5] [--database-url URL]

Each run starts a fresh `python -m app serve` process on a free port (the database is migrated
once beforehand, outside the timing) and polls GET /healthz every 5 ms until it answers 200; the
figure is the median over the runs. The target is at most 0.8 s. With the default settings serve
also starts its worker process, which is not waited for: the webhook answers without it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.8
POLL_SECONDS = 0.005


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthz_ok(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def time_to_first_healthz(env: dict[str, str], *, timeout: float = 30.0) -> float:
    """Start `python -m app serve` once and return the seconds until /healthz answers 200."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not _healthz_ok(port):
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode} before answering")
            if time.perf_counter() - started > timeout:
                raise RuntimeError("serve did not answer /healthz in time")
            time.sleep(POLL_SECONDS)
        return time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure_startup(*, runs: int = 5, database_url: str | None = None) -> dict[str, object]:
    """Time `python -m app serve` to its first /healthz 200 over `runs` fresh processes.

    Returns the median, min and max in seconds, every run, and whether the median meets
    the target (`TARGET_SECONDS`). Without `database_url`, a fresh SQLite file is used.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{workdir / 'startup.sqlite3'}",
        "INBOUND_BASIC_AUTH_USER": "sendgrid",
        "INBOUND_BASIC_AUTH_PASSWORD": "bench-password-0123456789",
        "MAIL_LOG_DIR": str(workdir / "outbox"),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "-m", "app", "migrate"], env=env, check=True, capture_output=True
    )
    # One run unmeasured: the first start after installing compiles bytecode.
    time_to_first_healthz(env)
    seconds = [time_to_first_healthz(env) for _ in range(runs)]
    median = statistics.median(seconds)
    return {
        "median_s": round(median, 3),
        "min_s": round(min(seconds), 3),
        "max_s": round(max(seconds), 3),
        "runs_s": [round(s, 3) for s in seconds],
        "target_s": TARGET_SECONDS,
        "met": median <= TARGET_SECONDS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured starts (default 5)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    print(json.dumps(measure_startup(runs=args.runs, database_url=args.database_url), indent=2))


if __name__ == "__main__":
    main()
