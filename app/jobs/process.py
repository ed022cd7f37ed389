"""The worker as a child process of `serve`: started, woken, restarted and stopped with it.

With `WORKER_MODE=process` (the default), `python -m app serve` starts
`python -m app worker --supervised` beside the web app, so the pipeline's CPU work never runs on
the webhook's event loop. A child process rather than `multiprocessing`: it is the documented
worker command (the same code path, and what `ps` shows), it starts from a clean interpreter
instead of a copy of a process with a running loop and the SQLite writer thread, and asyncio
owns it (`await process.wait()`) without helper threads or sentinels.

The child's standard input is a pipe from the parent, and carries three things:

- first, the parent's `Settings`, pickled and length-prefixed, so the child runs on exactly the
  settings the web app was built with, also when they were made in code (the demo, tests) rather
  than read from the environment; only the parent writes to the pipe;
- then one byte whenever work is queued (`WorkerProcess.wake`, coalesced per loop iteration): the
  child wakes its lanes at once instead of waiting up to `WORKER_POLL_SECONDS`;
- its end: when the parent is gone (even after SIGKILL) the child reads end-of-file and stops as
  on SIGTERM, letting running jobs finish, so no worker outlives its `serve`.

The child runs in its own session, so a terminal's Ctrl-C reaches only `serve`, which then stops
the child: SIGTERM, up to `WORKER_STOP_SECONDS` for running jobs, then SIGKILL. A child that exits
on its own is logged and started again after a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import signal
import struct
import sys
import time
from collections.abc import Sequence
from typing import Literal

from app.config import Settings

logger = logging.getLogger(__name__)

SUPERVISED_FLAG = "--supervised"
WORKER_COMMAND = (sys.executable, "-m", "app", "worker", SUPERVISED_FLAG)
"""The child's command line: the standalone worker, told to follow its parent on stdin."""
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before starting a child again after successive unexpected exits."""
STABLE_SECONDS = 60.0
"""A child that ran this long before it exited starts again after the first delay."""
_LENGTH = struct.Struct(">Q")
_WAKE = b"w"
_MAX_UNREAD_WAKES = 1024
"""Bytes left unread in the pipe beyond which more wake-ups would tell the child nothing."""


def worker_mode(settings: Settings) -> Literal["process", "inline", "off"]:
    """Who works through the queue for `serve`: `WORKER_MODE`, unless only the old setting is set.

    `WORKER_IN_PROCESS=true` meant "serve runs the worker": now as its child process; `false`
    meant "run workers yourself": `off`.
    """
    legacy = settings.WORKER_IN_PROCESS
    if legacy is None or "WORKER_MODE" in settings.model_fields_set:
        return settings.WORKER_MODE
    return "process" if legacy else "off"


def encode_settings(settings: Settings) -> bytes:
    """The settings as the child reads them first from its standard input."""
    payload = pickle.dumps(settings, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


def read_settings(fd: int = 0) -> Settings:
    """In the child: read the settings the parent wrote first to standard input (`fd`).

    Read with `os.read`, byte-exact: what follows belongs to `follow_parent`.
    """
    (length,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size))
    # The pipe comes from the parent process alone, which pickled its own Settings.
    settings = pickle.loads(_read_exactly(fd, length))  # noqa: S301
    if not isinstance(settings, Settings):
        raise TypeError(f"expected Settings on standard input, got {type(settings).__name__}")
    return settings


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            raise EOFError("standard input ended before the settings were read")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


async def follow_parent(wakeup: asyncio.Event, stop: asyncio.Event, fd: int = 0) -> None:
    """In the child: set `wakeup` for every byte from the parent, and `stop` when it is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", buffering=0, closefd=False)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        while not stop.is_set():
            if not await reader.read(4096):
                logger.warning("the serve process is gone: stopping the worker")
                stop.set()
                return
            wakeup.set()
    finally:
        transport.close()


class WorkerProcess:
    """Runs, wakes, restarts and stops one worker child process for `serve`."""

    def __init__(
        self,
        settings: Settings,
        *,
        command: Sequence[str] = WORKER_COMMAND,
        restart_delays: Sequence[float] = RESTART_DELAYS,
    ) -> None:
        self.settings = settings
        self.command = tuple(command)
        self.restart_delays = tuple(restart_delays)
        self.starts = 0
        """How many children have been started (1 after `start`; more after restarts)."""
        self._process: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake_pending = False

    @property
    def pid(self) -> int | None:
        """The running child's process id, or None between a crash and its restart."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    async def start(self) -> None:
        """Start the child and keep it running until `stop`."""
        if self._supervisor is not None:
            raise RuntimeError("the worker process is already started")
        process = await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(process), name="worker-process")

    def wake(self) -> None:
        """Tell the child work is queued (cheap: at most one write per loop iteration)."""
        if self._wake_pending or self._process is None:
            return
        self._wake_pending = True
        asyncio.get_running_loop().call_soon(self._send_wake)

    def _send_wake(self) -> None:
        self._wake_pending = False
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            return
        stdin = process.stdin
        if stdin.is_closing() or stdin.transport.get_write_buffer_size() > _MAX_UNREAD_WAKES:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            stdin.write(_WAKE)

    async def stop(self) -> None:
        """Stop the child: SIGTERM, running jobs finish; SIGKILL after `WORKER_STOP_SECONDS`."""
        self._stopping.set()
        if self._supervisor is not None:
            await self._supervisor

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            # Its own session: a terminal's Ctrl-C reaches serve, which stops the child itself.
            start_new_session=True,
        )
        self._process = process
        self.starts += 1
        if process.stdin is None:  # pragma: no cover - a pipe is asked for above.
            raise RuntimeError("the worker process has no standard input")
        process.stdin.write(encode_settings(self.settings))
        logger.info("worker process started", extra={"pid": process.pid})
        return process

    async def _supervise(self, process: asyncio.subprocess.Process) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            exited = asyncio.create_task(process.wait())
            stopping = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if self._stopping.is_set():
                exited.cancel()
                await self._terminate(process)
                return
            stopping.cancel()
            code = process.returncode
            failures = 1 if time.monotonic() - started >= STABLE_SECONDS else failures + 1
            delay = self.restart_delays[min(failures, len(self.restart_delays)) - 1]
            logger.error(
                "worker process exited unexpectedly (code %s); starting it again in %g s",
                code,
                delay,
                extra={"pid": process.pid, "returncode": code},
            )
            self._process = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            if self._stopping.is_set():
                return
            process = await self._spawn()

    async def _terminate(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=self.settings.WORKER_STOP_SECONDS)
            except TimeoutError:
                logger.error(
                    "worker process did not stop within %s s: killing it",
                    self.settings.WORKER_STOP_SECONDS,
                    extra={"pid": process.pid},
                )
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if process.stdin is not None:
            process.stdin.close()
        logger.info(
            "worker process stopped", extra={"pid": process.pid, "returncode": process.returncode}
        )
