"""`python -m app ...` as an operator runs it: real processes, real signals."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app import cli
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message
from app.db.scope import ALL_STORES
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


def test_a_bad_value_is_named_with_its_value(tmp_path: Path) -> None:
    env = {**cli_env(f"sqlite:///{tmp_path / 'x.sqlite3'}"), "PORT": "abc", "LOG_LEVEL": "loud"}
    result = run_cli("migrate", env=env)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        "configuration error:",
        "  PORT='abc': not an integer",
        "  LOG_LEVEL='loud': not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ]


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("case", ["postgresql", "sqlite-folder", "sqlite-directory"])
def test_an_unreachable_database_is_one_line_naming_it(tmp_path: Path, case: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    port = closed_port()
    url, named = {
        "postgresql": (
            f"postgresql://support:hunter2-secret@127.0.0.1:{port}/shop",
            f"cannot connect to the PostgreSQL database 127.0.0.1:{port}/shop (DATABASE_URL): "
            "connection refused",
        ),
        # The folder cannot be created: a file is in the way.
        "sqlite-folder": (
            f"sqlite:///{tmp_path / 'a-file' / 'support.sqlite3'}",
            f"cannot open the SQLite database {tmp_path / 'a-file' / 'support.sqlite3'} "
            f"(DATABASE_URL): cannot create the folder {tmp_path / 'a-file'}",
        ),
        # The path exists but is a directory, so SQLite itself cannot open it.
        "sqlite-directory": (
            f"sqlite:///{tmp_path}",
            f"cannot open the SQLite database {tmp_path} (DATABASE_URL): unable to open",
        ),
    }[case]
    result = run_cli("migrate", env=cli_env(url))
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(named)
    assert "hunter2-secret" not in result.stderr


def test_other_commands_report_an_unreachable_database_the_same_way(tmp_path: Path) -> None:
    url = f"postgresql://support:hunter2-secret@127.0.0.1:{closed_port()}/shop"
    result = run_cli("create-api-token", "--email", "a@shop.test", env=cli_env(url))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("cannot connect to the PostgreSQL database 127.0.0.1:")
    blocked = f"sqlite:///{tmp_path / 'a-file' / 'support.sqlite3'}"
    (tmp_path / "a-file").write_text("not a folder")
    result = run_cli("worker", env=cli_env(blocked))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("cannot open the SQLite database")


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
            async with db.read(ALL_STORES) as session:
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


def subcommands() -> tuple[dict[str, argparse.ArgumentParser], dict[str, str | None]]:
    """Each command's parser, and its one-line help in the top-level command list."""
    parser = cli.build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    summaries = {action.dest: action.help for action in commands._choices_actions}
    return dict(commands.choices), summaries


def test_every_command_has_a_description_and_every_option_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    commands, summaries = subcommands()
    assert {"serve", "worker", "migrate", "demo", "eval", "create-admin"} <= set(commands)
    for name, parser in commands.items():
        assert parser.description, f"{name} has no description"
        assert summaries.get(name), f"{name} has no one-line help in the command list"
        for action in parser._actions:
            option = "/".join(action.option_strings) or action.dest
            assert action.help, f"{name} {option} has no help"
            assert action.help != argparse.SUPPRESS, f"{name} {option} has no help"
        with pytest.raises(SystemExit) as exited:
            cli.main([name, "--help"])
        assert exited.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())
        assert " ".join(parser.description.split()) in shown


def test_version_prints_the_package_version() -> None:
    result = run_cli("--version", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"python -m app {version('shop-support-mail')}"


def test_version_without_package_metadata_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(cli, "version", missing)
    assert cli.package_version().startswith("unknown")


def test_eval_scores_the_offline_model_without_any_keys(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    result = run_cli("eval", env=env)
    assert result.returncode == 0, result.stderr
    assert "model: offline" in result.stdout
    assert "overall" in result.stdout


def test_an_unreachable_database_hides_the_password_without_mangling_the_reason() -> None:
    from sqlalchemy.engine import make_url

    from app.db.migrate import unreachable

    url = make_url("postgresql+asyncpg://shop:p@127.0.0.1:1/shop")
    error = unreachable(url, ConnectionRefusedError())
    assert "is the server running, and on that port?" in str(error)
    echoed = unreachable(url, OSError(), reason="bad dsn postgresql://shop:p@127.0.0.1:1/shop")
    assert ":p@" not in str(echoed)
    assert "shop:***@127.0.0.1" in str(echoed)
