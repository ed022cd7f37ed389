"""What makes the worker fast to start and wide by default: WORKER_MODE and WORKER_CONCURRENCY,
the PostgreSQL pool sized from the concurrency, and no OpenAI SDK or password hash at import."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy.pool import QueuePool

from app.admin import staff
from app.config import ConfigError, Settings, load_settings
from app.db.engine import Database, pool_sizes
from app.jobs.process import worker_mode
from tests.test_cli import ROOT


def test_worker_mode_defaults_to_a_process_and_is_validated() -> None:
    base: dict[str, Any] = {"_env_file": None, "INBOUND_ALLOW_UNAUTHENTICATED": True}
    assert Settings(**base).WORKER_MODE == "process"
    assert Settings(**base).WORKER_CONCURRENCY == 64
    for mode in ("process", "inline", "off"):
        assert Settings(**base, WORKER_MODE=mode).WORKER_MODE == mode
    with pytest.raises(ConfigError) as error:
        load_settings(**base, WORKER_MODE="thread")
    assert "WORKER_MODE='thread': must be 'process', 'inline' or 'off'" in str(error.value)
    assert Settings(**base, WORKER_CONCURRENCY=1024).WORKER_CONCURRENCY == 1024
    with pytest.raises(ConfigError, match="WORKER_CONCURRENCY=1025: must be at most 1024"):
        load_settings(**base, WORKER_CONCURRENCY=1025)


def test_the_deprecated_worker_in_process_maps_onto_worker_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base: dict[str, Any] = {"_env_file": None, "INBOUND_ALLOW_UNAUTHENTICATED": True}
    assert worker_mode(Settings(**base)) == "process"
    monkeypatch.setenv("WORKER_IN_PROCESS", "false")
    assert worker_mode(Settings(**base)) == "off"
    monkeypatch.setenv("WORKER_IN_PROCESS", "true")
    assert worker_mode(Settings(**base)) == "process"
    # WORKER_MODE, when set, wins.
    monkeypatch.setenv("WORKER_MODE", "inline")
    assert worker_mode(Settings(**base)) == "inline"
    assert worker_mode(Settings(**base, WORKER_MODE="process")) == "process"
    monkeypatch.delenv("WORKER_MODE")
    monkeypatch.setenv("WORKER_IN_PROCESS", "perhaps")
    with pytest.raises(ConfigError, match="WORKER_IN_PROCESS='perhaps': not a boolean"):
        load_settings(**base)


@pytest.mark.parametrize(
    ("concurrency", "sizes"),
    [(None, (10, 20)), (1, (5, 0)), (4, (5, 3)), (64, (16, 52)), (256, (32, 96)), (1024, (32, 96))],
)
def test_the_postgresql_pool_is_sized_from_the_concurrency(
    concurrency: int | None, sizes: tuple[int, int]
) -> None:
    assert pool_sizes(concurrency) == sizes
    pool_size, max_overflow = sizes
    if concurrency is not None:
        # Enough for every lane and a few lease renewals, up to the cap; never below the floor.
        assert pool_size + max_overflow == min(concurrency + 4, 128) or pool_size == 5
    db = Database.connect("postgresql://u@127.0.0.1:1/none", concurrency=concurrency)
    pool = db.engine.pool
    assert isinstance(pool, QueuePool)
    assert (pool.size(), pool._max_overflow) == sizes


def test_importing_the_app_loads_no_openai_sdk_and_hashes_no_password() -> None:
    probe = (
        "import sys, argon2\n"
        "hashed = []\n"
        "real = argon2.PasswordHasher.hash\n"
        "def counted(self, *args, **kwargs):\n"
        "    hashed.append(1)\n"
        "    return real(self, *args, **kwargs)\n"
        "argon2.PasswordHasher.hash = counted\n"
        "import app.main\n"
        "from app.config import Settings\n"
        "app.main.create_app(Settings(_env_file=None, INBOUND_ALLOW_UNAUTHENTICATED=True))\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
        "assert hashed == [], 'hashed at import'\n"
        "from app.admin.staff import dummy_hash\n"
        "assert dummy_hash() == dummy_hash() and hashed == [1], hashed\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in Settings.model_fields},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip() == "ok", result.stderr


async def test_a_login_for_an_unknown_email_is_checked_against_the_dummy_hash(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = PasswordHasher.verify

    def verify(self: Any, hashed: str, password: str) -> bool:
        checked.append(hashed)
        return bool(real(self, hashed, password))

    monkeypatch.setattr(PasswordHasher, "verify", verify)
    assert await staff.authenticate(db, "nobody@example.com", "a-password-long-enough") is None
    assert checked == [staff.dummy_hash()]
