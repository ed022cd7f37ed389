"""The worker as `serve`'s child process: started, woken, restarted and stopped with it.

The first tests run the real `python -m app serve`; the others drive `WorkerProcess` with small
stand-in children, so restarts and the SIGKILL escalation take a fraction of a second.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app import cli
from app.config import Settings
from app.db.engine import Database, pool_sizes
from app.db.models import Message
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.process import WorkerProcess
from app.jobs.worker import Worker
from app.main import create_app
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory
from tests.test_cli import ROOT, cli_env

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="finds child processes through Linux's /proc",
)
WAIT_SECONDS = 30
# Longer than any wait below: work is picked up this fast only because serve wakes the worker.
SLOW_POLL = "120"
DONE = ("drafted", "answered")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children(pid: int) -> list[int]:
    """The live child processes of `pid` (from every one of its threads)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return [child for child in found if alive(child)]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def logged(log: Path) -> str:
    """What serve (and its worker, which shares its standard error) logged so far."""
    return log.read_text()


def command_line(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


async def eventually(check: Callable[[], Any], what: str, within: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def status_of(db: Database, pk: int) -> str:
    async with db.read(ALL_STORES) as session:
        status: str = (
            await session.execute(select(Message.status).where(Message.id == pk))
        ).scalar_one()
        return status


async def wait_done(db: Database, pk: int, within: float = WAIT_SECONDS) -> str:
    deadline = time.monotonic() + within
    status = await status_of(db, pk)
    while status not in DONE and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        status = await status_of(db, pk)
    return status


async def post(http: httpx.AsyncClient, message_id: str) -> int:
    payload = raw_mode_post(make_eml(message_id=message_id), verified_transport())
    response = await http.post(
        "/webhooks/sendgrid/inbound",
        content=payload.body,
        headers={"content-type": payload.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    pk: int = response.json()["id"]
    return pk


async def start_serve(env: dict[str, str], log: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    with log.open("wb") as output:
        serve = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app",
            "serve",
            "--port",
            str(port),
            cwd=ROOT,
            env=env,
            stderr=output,
        )

    async def healthy() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                response = await http.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return response.status_code == 200
        except httpx.TransportError:
            return False

    deadline = time.monotonic() + WAIT_SECONDS
    while not await healthy():
        assert serve.returncode is None, logged(log)
        assert time.monotonic() < deadline, "serve did not answer /healthz"
        await asyncio.sleep(0.05)
    return serve, port


def serve_env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return cli_env(
        database_url,
        WORKER_POLL_SECONDS=SLOW_POLL,
        MAIL_LOG_DIR=str(tmp_path / "outbox"),
        **extra,
    )


async def test_serve_runs_the_worker_as_its_child_wakes_it_restarts_it_and_stops_it(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    serve, port = await start_serve(serve_env(database_url, tmp_path), log)
    try:
        (worker,) = await eventually(lambda: children(serve.pid), "the worker process")
        assert command_line(worker)[-3:] == ["app", "worker", "--supervised"]
        # Posted once the worker idles in its (slow) poll: only serve's wake-up brings it in time.
        await eventually(lambda: "worker started" in logged(log), "the worker to start")
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            first = await post(http, "<first@example.com>")
            assert await wait_done(db, first, within=20) in DONE, logged(log)

            # A worker that dies is started again, and works as before.
            os.kill(worker, signal.SIGKILL)
            (restarted,) = await eventually(
                lambda: [pid for pid in children(serve.pid) if pid != worker], "a restart"
            )
            assert "worker process exited unexpectedly" in logged(log)
            await eventually(lambda: logged(log).count("worker started") == 2, "the new worker")
            await asyncio.sleep(0.5)
            second = await post(http, "<second@example.com>")
            assert await wait_done(db, second, within=20) in DONE, logged(log)
    finally:
        serve.send_signal(signal.SIGTERM)
        await asyncio.wait_for(serve.wait(), timeout=WAIT_SECONDS)
    # SIGTERM to serve stops the worker with it (running jobs finish), then serve exits cleanly.
    assert serve.returncode == 0, logged(log)
    assert not alive(restarted)
    assert "worker stopped" in logged(log)
    assert "worker process stopped" in logged(log)


async def test_a_worker_stops_by_itself_when_serve_is_killed(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    serve, _port = await start_serve(serve_env(database_url, tmp_path), log)
    (worker,) = await eventually(lambda: children(serve.pid), "the worker process")
    await eventually(lambda: "worker started" in logged(log), "the worker to start")
    serve.kill()
    await serve.wait()
    # Its standard input (the pipe from serve) ends: it stops like on SIGTERM.
    await eventually(lambda: not alive(worker), "the orphaned worker to stop")
    assert "the serve process is gone" in logged(log)


async def test_serve_with_worker_mode_off_starts_no_worker(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    serve, _port = await start_serve(serve_env(database_url, tmp_path, WORKER_MODE="off"), log)
    try:
        await asyncio.sleep(1)
        assert children(serve.pid) == []
    finally:
        # Ctrl-C: a graceful shutdown and a clean exit, without a KeyboardInterrupt traceback.
        serve.send_signal(signal.SIGINT)
        await asyncio.wait_for(serve.wait(), timeout=WAIT_SECONDS)
    assert serve.returncode == 0, logged(log)
    assert "Traceback" not in logged(log)


async def test_the_app_hands_its_worker_process_the_settings_it_was_built_with(
    make_settings: SettingsFactory, db: Database, tmp_path: Path
) -> None:
    # Settings made in code (as the demo and tests make them), not read from the environment:
    # the child still polls slowly and writes replies where these settings say.
    settings = make_settings(WORKER_MODE="process", WORKER_POLL_SECONDS=float(SLOW_POLL))
    app = create_app(settings, db=db)
    async with app.router.lifespan_context(app):
        state = app.state.services
        (worker,) = await eventually(lambda: children(os.getpid()), "the worker process")
        assert len(state.worker_wakeups) == 1
        await asyncio.sleep(2)  # Started and idle in its slow poll.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            pk = await post(http, "<from-code@example.com>")
        assert await wait_done(db, pk, within=20) in DONE
    assert not alive(worker)


async def test_the_app_collects_garbage_again_once_started_and_frozen(
    make_settings: SettingsFactory, db: Database
) -> None:
    app = create_app(make_settings(), db=db)
    gc.disable()  # As `python -m app` leaves it for startup.
    try:
        async with app.router.lifespan_context(app):
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable()


# --- WorkerProcess with stand-in children --------------------------------------------------------

CHILD = """
import asyncio, signal, sys
from app.jobs.process import follow_parent, read_settings

async def main() -> None:
    settings = read_settings()
    out = open(sys.argv[1], "a", buffering=1)
    print("settings", settings.STORE_NAME, settings.OPENAI_API_KEY.get_secret_value(), file=out)
    if sys.argv[2] == "crash":
        sys.exit(3)
    if sys.argv[2] == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        await asyncio.sleep(3600)
    wakeup, stop = asyncio.Event(), asyncio.Event()
    follower = asyncio.create_task(follow_parent(wakeup, stop))
    while not stop.is_set():
        woken = asyncio.create_task(wakeup.wait())
        await asyncio.wait({woken, follower}, return_when=asyncio.FIRST_COMPLETED)
        woken.cancel()
        if wakeup.is_set():
            wakeup.clear()
            print("woken", file=out)
    print("parent gone", file=out)

asyncio.run(main())
"""


def stand_in(output: Path, behaviour: str) -> list[str]:
    return [sys.executable, "-c", CHILD, str(output), behaviour]


@pytest.fixture
def child_settings() -> Settings:
    return Settings(
        _env_file=None,
        INBOUND_ALLOW_UNAUTHENTICATED=True,
        STORE_NAME="Pickled",
        OPENAI_API_KEY="sk-only-in-code",
        WORKER_STOP_SECONDS=0.5,
    )


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def test_the_child_gets_the_settings_and_is_woken(
    child_settings: Settings, tmp_path: Path
) -> None:
    output = tmp_path / "child.txt"
    worker = WorkerProcess(child_settings, command=stand_in(output, "follow"))
    await worker.start()
    try:
        await eventually(lambda: lines(output), "the child")
        assert lines(output) == ["settings Pickled sk-only-in-code"]
        worker.wake()
        await eventually(lambda: "woken" in lines(output), "the wake-up")
    finally:
        await worker.stop()


async def test_wake_ups_within_one_loop_iteration_are_one_write(
    child_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = WorkerProcess(child_settings, command=stand_in(tmp_path / "child.txt", "follow"))
    await worker.start()
    try:
        process = worker._process
        assert process is not None
        assert process.stdin is not None
        writes: list[bytes] = []
        monkeypatch.setattr(process.stdin, "write", writes.append)
        for _ in range(100):
            worker.wake()
        await asyncio.sleep(0)
        assert writes == [b"w"]
        worker.wake()
        await asyncio.sleep(0)
        assert writes == [b"w", b"w"]
    finally:
        monkeypatch.undo()
        await worker.stop()


async def test_the_child_stops_when_its_pipe_ends(child_settings: Settings, tmp_path: Path) -> None:
    output = tmp_path / "child.txt"
    worker = WorkerProcess(child_settings, command=stand_in(output, "follow"))
    await worker.start()
    try:
        await eventually(lambda: lines(output), "the child")
        process = worker._process
        assert process is not None
        assert process.stdin is not None
        process.stdin.close()
        await eventually(lambda: "parent gone" in lines(output), "the child to notice")
    finally:
        await worker.stop()


async def test_a_child_that_exits_is_started_again_with_a_delay(
    child_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    output = tmp_path / "child.txt"
    worker = WorkerProcess(
        child_settings, command=stand_in(output, "crash"), restart_delays=(0.05, 0.1)
    )
    await worker.start()
    try:
        await eventually(lambda: len(lines(output)) >= 3, "two restarts")
    finally:
        await worker.stop()
    exits = [r for r in caplog.records if "exited unexpectedly" in r.getMessage()]
    assert [r.__dict__["returncode"] for r in exits[:2]] == [3, 3]
    # The delay grows with each exit in a row, up to the last one given.
    assert "again in 0.05 s" in exits[0].getMessage()
    assert "again in 0.1 s" in exits[1].getMessage()


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(
    child_settings: Settings, tmp_path: Path
) -> None:
    output = tmp_path / "child.txt"
    worker = WorkerProcess(child_settings, command=stand_in(output, "stubborn"))
    await worker.start()
    await eventually(lambda: lines(output), "the child")
    await asyncio.sleep(0.2)  # Its SIGTERM handler is set.
    process = worker._process
    assert process is not None
    started = time.monotonic()
    await worker.stop()
    assert process.returncode == -signal.SIGKILL
    assert 0.4 <= time.monotonic() - started < 5
    assert worker.pid is None


# --- The worker command -------------------------------------------------------------------------


async def test_the_worker_freezes_what_startup_built_and_sizes_its_pool(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    async def run(self: Worker, stop: asyncio.Event, *, concurrency: int | None = None) -> None:
        seen.update(
            frozen=gc.get_freeze_count(),
            collecting=gc.isenabled(),
            concurrency=concurrency,
            pool=self.db.engine.pool,
            openai="openai" in sys.modules,
        )

    monkeypatch.setattr(Worker, "run", run)
    gc.disable()  # As `python -m app` leaves it for startup.
    try:
        await cli._work(make_settings(WORKER_CONCURRENCY=200))
    finally:
        gc.unfreeze()
        gc.enable()
    assert seen["frozen"] > 0
    assert seen["collecting"]
    assert seen["concurrency"] == 200
    # The tools' schemas are built before freezing (they load the SDK's helper).
    assert seen["openai"]
    if make_settings().DATABASE_URL.startswith("postgresql"):
        assert (seen["pool"].size(), seen["pool"]._max_overflow) == pool_sizes(200)
