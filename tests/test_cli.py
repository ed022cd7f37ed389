"""`python -m app ...` as an operator runs it: real processes, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.engine import Database
from app.db.models import Message
from app.demo.sendgrid_posts import raw_mode_post
from app.main import create_app
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory

ROOT = Path(__file__).parent.parent


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(
        DATABASE_URL=database_url,
        INBOUND_BASIC_AUTH_USER=BASIC_AUTH[0],
        INBOUND_BASIC_AUTH_PASSWORD=BASIC_AUTH[1],
        LOG_LEVEL="INFO",
        **extra,
    )
    return env


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = run_cli("migrate", env=cli_env(url))
    assert result.returncode == 0, result.stderr
    assert "latest revision" in result.stdout
    again = run_cli("migrate", env=cli_env(url))
    assert again.returncode == 0, again.stderr


def test_invalid_configuration_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    del env["INBOUND_BASIC_AUTH_USER"], env["INBOUND_BASIC_AUTH_PASSWORD"]
    result = run_cli("serve", env=env)
    assert result.returncode != 0
    assert "configuration error" in result.stderr
    assert "the inbound webhook has no authentication" in result.stderr


async def test_a_standalone_worker_processes_queued_email_and_stops_on_sigterm(
    make_settings: SettingsFactory, db: Database, database_url: str, tmp_path: Path
) -> None:
    app = create_app(make_settings(), db=db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        payload = raw_mode_post(make_eml(), verified_transport())
        response = await client.post(
            "/webhooks/sendgrid/inbound",
            content=payload.body,
            headers={"content-type": payload.content_type},
            auth=BASIC_AUTH,
        )
    assert response.json()["status"] == "received"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "worker",
        cwd=ROOT,
        env=cli_env(database_url, WORKER_POLL_SECONDS="0.1", MAIL_LOG_DIR=str(tmp_path / "outbox")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        # The worker commits each stage (ready, planned...); wait for the end state.
        status = "received"
        while status not in ("drafted", "answered") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            async with db.read() as session:
                status = (await session.execute(select(Message.status))).scalar_one()
        assert status in ("drafted", "answered")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 0, stderr
    assert b"worker stopped" in stderr


@pytest.mark.parametrize("command", ["--help", "demo --help"])
def test_help_lists_the_commands(command: str) -> None:
    result = run_cli(*command.split(), env=dict(os.environ))
    assert result.returncode == 0
    if command == "--help":
        for name in ("serve", "worker", "migrate", "demo", "eval"):
            assert name in result.stdout


def test_eval_scores_the_offline_model_without_any_keys(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    result = run_cli("eval", env=env)
    assert result.returncode == 0, result.stderr
    assert "model: offline" in result.stdout
    assert "overall" in result.stdout
