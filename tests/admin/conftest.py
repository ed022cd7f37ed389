"""Fixtures shared by the admin tests: the app, an HTTP client, a staff member's API token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.admin.staff import create_api_token, create_staff
from app.config import Settings
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from tests.admin.two_stores import TwoStores, build_two_stores
from tests.builders import IN_DEFAULT_STORE

PASSWORD = "correct horse battery staple"
STAFF = "agent@shop.test"


@pytest.fixture
def app(settings: Settings, db: Database, providers: Providers) -> FastAPI:
    return create_app(settings, db=db, providers=providers)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def token(db: Database) -> str:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=PASSWORD, name="Ava")
        return await create_api_token(session, email=STAFF, name="tests")


@pytest.fixture
async def stores(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> TwoStores:
    """Two stores with look-alike data, and staff of each (`tests.admin.two_stores`)."""
    return await build_two_stores(client, db, settings, providers)
