"""What can be checked of the container setup without a Docker engine on this machine."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, inspect

from app.config import Settings

ROOT = Path(__file__).parent.parent


def image_command() -> str:
    """The shell line the image runs (its CMD)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    match = re.search(r'^CMD \["sh", "-c", "(.+)"\]$', dockerfile, re.M)
    assert match, "the image's CMD is a shell line"
    return match.group(1)


def test_the_images_command_migrates_then_serves(tmp_path: Path) -> None:
    command = image_command()
    assert command == "python -m app migrate && exec python -m app serve"
    database = tmp_path / "image.sqlite3"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        INBOUND_ALLOW_UNAUTHENTICATED="true",
        HOST="127.0.0.1",
        PORT=str(port),
        LOG_LEVEL="WARNING",
        # As in the image: `python` is the one with the application installed.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    server = subprocess.Popen(["sh", "-c", command], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.2)
        assert status == 200
        tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
        assert {"messages", "jobs", "replies", "staff_users", "alembic_version"} <= tables
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_migrations_once_before_the_api_and_the_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "api", "worker"}
    assert services["migrate"]["command"] == ["python", "-m", "app", "migrate"]
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
        # Workers are separate processes, so the API must not run one too.
        assert environment["WORKER_MODE"] == "off"
        # Every setting the services set is one the application reads.
        assert set(environment) <= set(Settings.model_fields)
    assert services["worker"]["command"] == ["python", "-m", "app", "worker"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
