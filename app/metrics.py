"""Prometheus metrics: the `shopmail_*` series, recorded where things happen, and their text.

Across processes. `serve` answers `/metrics`, but the worker may run as a separate process (a
child of `serve`, or standalone beside it). Its counters must still show, so the service uses
prometheus_client's documented multiprocess mode: each process writes its values to memory-mapped
files in one directory (PROMETHEUS_MULTIPROC_DIR) and the scraping process adds them up. We chose
it over pushing numbers through the database or a socket because the library already merges
counters and histograms correctly, survives a worker's crash (its counts stay) and costs one
mmap write per increment.

The library picks the mode once, when `prometheus_client` is first imported, from that
environment variable. So this module imports it only on first use (`_series`), and the CLI calls
`use_directory` before anything records: `serve` sets the variable to METRICS_DIR (or to a fresh
temporary directory, removed at exit), and the worker it starts inherits it. Without a directory
(tests, other commands, a standalone worker without METRICS_DIR) values live in the process, and
`/metrics` shows that process's own.

What the scraping process computes itself needs no files: the queue's depth and age come from
the jobs table at scrape time (`QueueRow`, read by `app.jobs.stats`). The circuit state gauge is
written by each process's breakers ("livemax": the worst state of any live process); files of
processes that are gone are dropped at scrape time.

This module imports nothing of the app: the breakers and the tool registry import it.
"""

from __future__ import annotations

import atexit
import functools
import glob
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CIRCUIT_VALUES = {"closed": 0.0, "half_open": 0.5, "open": 1.0}
"""The circuit gauge's value for each `app.circuit.CircuitState`."""
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
DB_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_TEMPORARY_PREFIX = "shopmail-metrics-"
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One job kind's unfinished (queued or running) jobs, at scrape time."""

    kind: str
    depth: int
    oldest_seconds: float
    """Age of its oldest unfinished job (0 when there is none)."""


class _Series:
    """Every series the processes record; built once per process, on first use."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.deliveries = Counter(
            "shopmail_deliveries_received",
            "Inbound webhook posts by provider and outcome "
            "(stored, duplicate, quarantined, unauthorized, too_large, error).",
            ["provider", "outcome"],
        )
        self.emails = Counter(
            "shopmail_emails",
            "Emails the pipeline finished, by final status and intent.",
            ["status", "intent"],
        )
        self.steps = Histogram(
            "shopmail_step_seconds",
            "Time spent in each pipeline step.",
            ["step"],
            buckets=STEP_BUCKETS,
        )
        self.db = Histogram(
            "shopmail_db_seconds", "Time spent in database units of work.", buckets=DB_BUCKETS
        )
        self.model_turns = Counter(
            "shopmail_model_turns",
            "Model round trips by model kind (openai, offline), model and outcome "
            "(ok, unusable, error).",
            ["kind", "model", "outcome"],
        )
        self.model_tokens = Counter(
            "shopmail_model_tokens",
            "Tokens the model reported, by kind, model and type (prompt, completion).",
            ["kind", "model", "type"],
        )
        self.tool_calls = Counter(
            "shopmail_tool_calls",
            "The agent's tool calls by tool and outcome.",
            ["tool", "outcome"],
        )
        self.sends = Counter("shopmail_sends", "Reply send attempts by outcome.", ["outcome"])
        self.circuit = Gauge(
            "shopmail_circuit_state",
            "Circuit breakers: 0 closed, 0.5 half-open, 1 open (the worst of live processes).",
            ["circuit"],
            multiprocess_mode="livemax",
        )


@functools.cache
def _series() -> _Series:
    return _Series()


def record_delivery(provider: str, outcome: str) -> None:
    """Count one inbound webhook post."""
    _series().deliveries.labels(provider=provider, outcome=outcome).inc()


def record_email(status: str, intent: str | None) -> None:
    """Count one email the pipeline finished with `status` (intent "none" when it has none)."""
    _series().emails.labels(status=status, intent=intent or "none").inc()


def observe_step(step: str, seconds: float) -> None:
    """Record how long one pipeline step took."""
    _series().steps.labels(step=step).observe(seconds)


def observe_db(seconds: float) -> None:
    """Record how long one database unit of work took."""
    _series().db.observe(seconds)


def record_model_turn(
    kind: str, model: str, *, outcome: str, prompt_tokens: int, completion_tokens: int
) -> None:
    """Count one model round trip and the tokens it reported."""
    series = _series()
    series.model_turns.labels(kind=kind, model=model, outcome=outcome).inc()
    if prompt_tokens:
        series.model_tokens.labels(kind=kind, model=model, type="prompt").inc(prompt_tokens)
    if completion_tokens:
        series.model_tokens.labels(kind=kind, model=model, type="completion").inc(completion_tokens)


def record_tool_call(tool: str, outcome: str) -> None:
    """Count one tool call the agent made."""
    _series().tool_calls.labels(tool=tool, outcome=outcome).inc()


def record_send(outcome: str) -> None:
    """Count one attempt to send a reply."""
    _series().sends.labels(outcome=outcome).inc()


def set_circuit(name: str, state: str) -> None:
    """Publish a circuit breaker's state (a `CircuitState` value)."""
    _series().circuit.labels(circuit=name).set(CIRCUIT_VALUES[state])


def use_directory(directory: str | None, *, temporary_if_unset: bool = False) -> str | None:
    """Make this process (and the processes it starts) write metrics to a shared directory.

    Call it before anything records a metric. An inherited PROMETHEUS_MULTIPROC_DIR wins (the
    worker `serve` started shares `serve`'s); else `directory` (METRICS_DIR) is created if
    missing; else, with `temporary_if_unset`, a fresh directory removed when the process exits.
    Returns the directory, or None when values stay in this process. Called after the first
    value, it warns: this process's values stay in memory.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        if directory:
            path = directory
        elif temporary_if_unset:
            path = _temporary_directory()
        else:
            return None
        os.environ[MULTIPROC_ENV] = path
    os.makedirs(path, exist_ok=True)
    if "prometheus_client" in sys.modules and multiprocess_directory() is None:
        # Too late for this process (a command run inside another program, such as a test);
        # the processes it starts still share the directory.
        logger.warning(
            "metrics of this process stay in memory: prometheus_client was imported before "
            "app.metrics.use_directory",
            extra={"directory": path},
        )
    return path


def multiprocess_directory() -> str | None:
    """The directory this process's values are written to, or None when they live in memory."""
    from prometheus_client import values

    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ.get(MULTIPROC_ENV)
    return None


class Scrape:
    """Everything `/metrics` shows, collected when scraped (a prometheus_client Collector).

    `queue` reads the jobs table; it is called on each scrape, so the gauges are current.
    """

    def __init__(self, queue: Callable[[], Sequence[QueueRow]]) -> None:
        self._queue = queue

    def collect(self) -> Iterable[Metric]:
        _series()  # Every series is declared, even before its first value.
        yield from self._recorded().collect()
        yield from queue_families(self._queue())

    def _recorded(self) -> Collector:
        from prometheus_client import REGISTRY
        from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

        directory = multiprocess_directory()
        if directory is None:
            return REGISTRY
        for pid in _gone_processes(directory):
            mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        return MultiProcessCollector(None, directory)  # type: ignore[no-untyped-call]


def queue_families(rows: Sequence[QueueRow]) -> list[Metric]:
    """The queue gauges for `rows`."""
    from prometheus_client.core import GaugeMetricFamily

    depth = GaugeMetricFamily(
        "shopmail_queue_depth", "Jobs queued or running, by kind.", labels=["kind"]
    )
    oldest = GaugeMetricFamily(
        "shopmail_queue_oldest_seconds",
        "Age of the oldest queued or running job, by kind (0 when none).",
        labels=["kind"],
    )
    for row in rows:
        depth.add_metric([row.kind], row.depth)
        oldest.add_metric([row.kind], row.oldest_seconds)
    return [depth, oldest]


def render(queue: Sequence[QueueRow]) -> tuple[bytes, str]:
    """The text exposition of every series, with the queue gauges for `queue`."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(Scrape(lambda: queue)), CONTENT_TYPE_LATEST


def serve_port(host: str, port: int, scrape: Scrape) -> Callable[[], None]:
    """Serve the metrics on their own port (no token) in a thread; returns how to stop it."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=host, registry=scrape)
    logger.info("metrics served", extra={"host": host, "port": port})

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def _temporary_directory() -> str:
    """A fresh directory named after this process, removed at exit.

    A process killed by a signal runs no exit handlers (uvicorn ends by re-raising SIGTERM), so
    the directories of processes that no longer run are removed here too.
    """
    root = tempfile.gettempdir()
    for leftover in glob.glob(os.path.join(root, f"{_TEMPORARY_PREFIX}*-*")):
        owner = os.path.basename(leftover)[len(_TEMPORARY_PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            shutil.rmtree(leftover, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"{_TEMPORARY_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _gone_processes(directory: str) -> set[int]:
    """Processes whose live-gauge files remain but which no longer run."""
    gone: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        match = _LIVE_GAUGE_FILE.search(os.path.basename(path))
        if match and not _running(int(match.group(1))):
            gone.add(int(match.group(1)))
    return gone


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
