"""Liveness and readiness probes."""

from __future__ import annotations

import httpx

from app.db.engine import Database
from app.main import create_app
from tests.conftest import SettingsFactory


async def test_healthz_answers_while_the_process_is_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_database(client: httpx.AsyncClient, db: Database) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": db.dialect}


async def test_readyz_is_503_when_the_database_is_unreachable(
    make_settings: SettingsFactory,
) -> None:
    unreachable = Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(make_settings(), db=unreachable)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.get("/readyz")
    await unreachable.dispose()
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
