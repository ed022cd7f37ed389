"""GET /metrics: every series after a real email, its token, its own port, and other processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import metrics
from app.circuit import CircuitBreaker
from app.config import Settings
from app.db.engine import Database
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from tests.builders import make_eml
from tests.conftest import BASIC_AUTH, SettingsFactory
from tests.fakes import post_email

TOKEN = "metrics-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[1]
SERIES = (
    "shopmail_deliveries_received",
    "shopmail_emails",
    "shopmail_step_seconds",
    "shopmail_db_seconds",
    "shopmail_model_turns",
    "shopmail_model_tokens",
    "shopmail_tool_calls",
    "shopmail_sends",
    "shopmail_queue_depth",
    "shopmail_queue_oldest_seconds",
    "shopmail_circuit_state",
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the exposition has no such sample)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples(text).items() if n == name and wanted <= found)


@pytest.fixture
async def metered(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    settings = make_settings(METRICS_TOKEN=TOKEN)
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, settings


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_are_not_there_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
async def test_metrics_refuse_a_missing_or_wrong_token(
    metered: tuple[httpx.AsyncClient, Settings], authorization: str | None
) -> None:
    http, _ = metered
    headers = {"Authorization": authorization} if authorization else {}
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "shopmail" not in response.text


async def test_every_series_shows_after_one_email_through_the_webhook_and_the_worker(
    metered: tuple[httpx.AsyncClient, Settings], db: Database, providers: Providers
) -> None:
    http, settings = metered
    before = await scrape(http)
    await post_email(http, make_eml(body="Hi, where is my order #1001?\n\nSara"), "example.com")
    queued = await scrape(http)
    assert value(queued, "shopmail_queue_depth", kind="process_inbound") == 1
    assert value(queued, "shopmail_queue_oldest_seconds", kind="process_inbound") >= 0
    assert value(queued, "shopmail_queue_depth", kind="send_reply") == 0

    breaker = CircuitBreaker(name="test-metrics-circuit", threshold=1)

    async def failing() -> None:
        raise OSError("down")

    with pytest.raises(OSError, match="down"):
        await breaker.call(failing, failure=(OSError,))
    assert await Worker(db=db, settings=settings, providers=providers).drain() >= 1

    after = await scrape(http)
    assert set(SERIES) <= {family.name for family in text_string_to_metric_families(after)}
    stored = {"provider": "sendgrid", "outcome": "stored"}
    assert value(after, "shopmail_deliveries_received_total", **stored) == (
        value(before, "shopmail_deliveries_received_total", **stored) + 1
    )
    offline = {"kind": "offline"}
    assert total(after, "shopmail_model_turns_total", **offline) > total(
        before, "shopmail_model_turns_total", **offline
    )
    assert total(after, "shopmail_tool_calls_total") > total(before, "shopmail_tool_calls_total")
    assert value(after, "shopmail_queue_depth", kind="process_inbound") == 0
    assert value(after, "shopmail_circuit_state", circuit="test-metrics-circuit") == 1.0


async def test_deliveries_are_counted_by_outcome(
    metered: tuple[httpx.AsyncClient, Settings],
) -> None:
    http, _ = metered
    before = await scrape(http)
    eml = make_eml(body="Where is my order #1001?")
    await post_email(http, eml, "example.com")
    await post_email_again(http, eml)
    refused = await http.post("/webhooks/sendgrid/inbound", content=b"x")
    assert refused.status_code == 401
    after = await scrape(http)
    for outcome, more in (("stored", 1), ("duplicate", 1), ("unauthorized", 1)):
        labels = {"provider": "sendgrid", "outcome": outcome}
        assert value(after, "shopmail_deliveries_received_total", **labels) == (
            value(before, "shopmail_deliveries_received_total", **labels) + more
        ), outcome


async def post_email_again(http: httpx.AsyncClient, eml: bytes) -> None:
    from app.demo.sendgrid_posts import raw_mode_post
    from tests.builders import verified_transport

    post = raw_mode_post(eml, verified_transport("example.com"))
    response = await http.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.json() == {"status": "duplicate"}


def test_the_recording_functions_reach_their_series() -> None:
    metrics.record_email("answered", "order_status")
    metrics.record_email("drafted", None)
    metrics.observe_step("agent", 0.2)
    metrics.observe_db(0.003)
    metrics.record_send("sent")
    text, _ = metrics.render([metrics.QueueRow(kind="send_reply", depth=3, oldest_seconds=7.5)])
    page = text.decode()
    assert value(page, "shopmail_emails_total", status="answered", intent="order_status") >= 1
    assert value(page, "shopmail_emails_total", status="drafted", intent="none") >= 1
    assert value(page, "shopmail_step_seconds_count", step="agent") >= 1
    assert value(page, "shopmail_db_seconds_count") >= 1
    assert value(page, "shopmail_sends_total", outcome="sent") >= 1
    assert value(page, "shopmail_queue_depth", kind="send_reply") == 3
    assert value(page, "shopmail_queue_oldest_seconds", kind="send_reply") == 7.5


def test_a_circuit_shows_closed_open_and_half_open() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        name="test-half-open", threshold=1, reset_seconds=10, clock=lambda: now[0]
    )

    def shown() -> float:
        page = metrics.render([])[0].decode()
        return value(page, "shopmail_circuit_state", circuit="test-half-open")

    assert shown() == 0.0

    async def fail() -> None:
        raise OSError("down")

    async def succeed() -> None:
        assert shown() == 0.5  # The probe runs while the circuit is half-open.

    with pytest.raises(OSError, match="down"):
        asyncio.run(breaker.call(fail, failure=(OSError,)))
    assert shown() == 1.0
    now[0] = 11.0
    asyncio.run(breaker.call(succeed, failure=(OSError,)))
    assert shown() == 0.0


# Other processes: the real `serve` and a real `worker` started beside it.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def process_env(database_url: str, db: Database, tmp_path: Path) -> dict[str, str]:
    """The environment of a `python -m app` process on the test's database."""
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_URL=database_url,
        INBOUND_BASIC_AUTH_USER=BASIC_AUTH[0],
        INBOUND_BASIC_AUTH_PASSWORD=BASIC_AUTH[1],
        WORKER_IN_PROCESS="false",
        WORKER_POLL_SECONDS="0.2",
        SUPPORT_FROM_EMAIL="support@shop.test",
        OWN_EMAIL_DOMAINS="parse.shop.test",
        MAIL_LOG_DIR=str(tmp_path / "outbox"),
        METRICS_TOKEN=TOKEN,
        METRICS_DIR=str(tmp_path / "metrics"),
    )
    return env


def start(env: dict[str, str], *command: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # The child writes to its own copy of the file.
        return subprocess.Popen(
            [sys.executable, "-m", "app", *command],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for(url: str, headers: dict[str, str], *, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as http:
        while True:
            try:
                response = await http.get(url, headers=headers)
                if response.status_code == 200:
                    return response.text
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer")
            await asyncio.sleep(0.2)


async def test_a_worker_process_counts_show_on_the_servers_metrics(
    process_env: dict[str, str], tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    env = {**process_env, "PORT": str(port), "METRICS_PORT": str(metrics_port)}
    server = start(env, "serve", log=tmp_path / "serve.log")
    worker: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_for(f"{base}/healthz", {})
        async with httpx.AsyncClient(base_url=base) as http:
            await post_email(http, make_eml(body="Where is my order #1001?"), "example.com")
        # The server itself runs no worker (WORKER_IN_PROCESS=false): the model runs over there.
        worker = start(process_env, "worker", log=tmp_path / "worker.log")
        deadline = time.monotonic() + 60
        while True:
            page = await wait_for(f"{base}/metrics", AUTH)
            if total(page, "shopmail_model_turns_total") > 0 and (
                value(page, "shopmail_queue_depth", kind="process_inbound") == 0
            ):
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            await asyncio.sleep(0.3)
        assert (
            value(page, "shopmail_deliveries_received_total", provider="sendgrid", outcome="stored")
            == 1
        )
        assert total(page, "shopmail_tool_calls_total") > 0
        # The same numbers on the metrics port, without a token.
        plain = await wait_for(f"http://127.0.0.1:{metrics_port}/metrics", {})
        assert total(plain, "shopmail_model_turns_total") == total(
            page, "shopmail_model_turns_total"
        )
    finally:
        if worker is not None:
            stop(worker)
        stop(server)
    # A clean shutdown (uvicorn ends by re-raising the SIGTERM it handled).
    assert server.returncode in (0, -signal.SIGTERM), (tmp_path / "serve.log").read_text()


def test_a_finished_process_keeps_its_counts_but_not_its_circuit_state(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    script = (
        "from app import metrics\n"
        "metrics.record_send('sent')\n"
        "metrics.set_circuit('elsewhere', 'open')\n"
        "print(metrics.multiprocess_directory())\n"
    )
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True, cwd=ROOT
    )
    assert done.stdout.decode().strip() == str(directory)
    reader = (
        "import sys\nfrom app import metrics\nsys.stdout.write(metrics.render([])[0].decode())\n"
    )
    page = subprocess.run(
        [sys.executable, "-c", reader], env=env, capture_output=True, check=True, cwd=ROOT
    ).stdout.decode()
    assert value(page, "shopmail_sends_total", outcome="sent") == 1
    assert value(page, "shopmail_circuit_state", circuit="elsewhere") == 0.0
    assert "elsewhere" not in page


def test_a_metrics_directory_chosen_after_the_first_value_is_reported(tmp_path: Path) -> None:
    script = (
        "from app import metrics\n"
        "metrics.record_send('sent')\n"
        f"metrics.use_directory({str(tmp_path)!r})\n"
    )
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0
    assert b"metrics of this process stay in memory" in done.stderr


def test_serve_without_a_directory_shares_a_temporary_one_with_its_children(
    tmp_path: Path,
) -> None:
    child = "from app import metrics; print(metrics.use_directory('/nowhere/else'))"
    script = (
        "import os, subprocess, sys\n"
        "from app import metrics\n"
        "path = metrics.use_directory(None, temporary_if_unset=True)\n"
        "metrics.record_send('sent')\n"
        "print(path, os.path.isdir(path), metrics.multiprocess_directory() == path)\n"
        f"sys.stdout.flush(); subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True, cwd=ROOT
    )
    parent, inherited = done.stdout.decode().splitlines()
    path, existed, active = parent.split()
    assert (existed, active) == ("True", "True")
    assert inherited == path
    assert not Path(path).exists(), "the temporary directory outlived its process"


@pytest.mark.parametrize("token", ["short", "change-me"])
def test_a_guessable_metrics_token_is_refused(make_settings: SettingsFactory, token: str) -> None:
    with pytest.raises(ValueError, match="METRICS_TOKEN"):
        make_settings(METRICS_TOKEN=token)


def test_log_format_is_text_or_json(make_settings: SettingsFactory) -> None:
    assert make_settings().LOG_FORMAT == "text"
    assert make_settings(LOG_FORMAT="json").LOG_FORMAT == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        make_settings(LOG_FORMAT="xml")


def test_a_killed_servers_temporary_directory_is_removed_by_the_next(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    script = (
        "import os, signal\n"
        "from app import metrics\n"
        "print(metrics.use_directory(None, temporary_if_unset=True), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, cwd=ROOT)
    left = Path(killed.stdout.decode().strip())
    assert left.parent == tmp_path
    assert left.is_dir()
    script = "from app import metrics; print(metrics.use_directory(None, temporary_if_unset=True))"
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=ROOT)
    assert not left.exists()
    assert list(tmp_path.iterdir()) == []
