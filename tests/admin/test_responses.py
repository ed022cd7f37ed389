"""What every admin answer carries: API headers on every JSON answer (errors and 500s too), and
a 404, never a 500, for a path id no record can have, on every route that takes one.

The routes are read from the app itself, so a route added later is covered without a new test.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.admin import reporting
from app.admin.auth import CSRF_FIELD, CSRF_HEADER
from app.admin.errors import API_HEADERS
from app.admin.ids import MAX_ROW_ID
from app.admin.staff import Staff, create_staff, start_session
from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from app.store.demo import DemoShop
from tests.builders import IN_DEFAULT_STORE

PARAMETER = re.compile(r"\{[^}]+\}")
# Too large for a 64-bit id column, one past its end, negative, zero, not a number.
IMPOSSIBLE_IDS = ["99999999999999999999", str(MAX_ROW_ID + 1), "-1", "0", "1e3"]


def routes_with_path_parameters() -> list[tuple[str, str]]:
    """Every (method, path template) under /admin whose path takes a parameter."""
    settings = Settings.model_construct(DATABASE_URL="sqlite+aiosqlite:///:memory:")
    app = create_app(settings, providers=Providers(shop=DemoShop(), llm=OfflineModel()))
    found: list[tuple[str, str]] = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif getattr(route, "methods", None) and PARAMETER.search(route.path):
                found.extend((method, route.path) for method in sorted(route.methods))

    walk(app.routes)
    # A store's slug is a name, not a row id: the stores tests cover unknown slugs.
    return [(m, p) for m, p in found if p.startswith("/admin/") and "{slug}" not in p]


ID_ROUTES = routes_with_path_parameters()


def with_id(template: str, value: str) -> str:
    return PARAMETER.sub(value, template)


class Staffed:
    """One client with a staff session (pages) and its CSRF token (forms and API posts)."""

    def __init__(self, http: httpx.AsyncClient, csrf: str) -> None:
        self.http = http
        self.csrf = csrf

    async def call(self, method: str, path: str) -> httpx.Response:
        if method == "GET":
            return await self.http.get(path)
        if path.startswith("/admin/api/"):
            # A body every decision accepts, so only the id can be what is wrong.
            return await self.http.request(
                method,
                path,
                json={"reason": "spam", "text": "Hello", "staff_id": None},
                headers={CSRF_HEADER: self.csrf},
            )
        return await self.http.request(
            method, path, data={CSRF_FIELD: self.csrf, "reason": "test", "text": "Hello"}
        )


async def staffed_client(app: FastAPI, db: Database) -> AsyncIterator[Staffed]:
    async with db.write(IN_DEFAULT_STORE) as session:
        user = await create_staff(session, email="ida@shop.test", password="long password 123")
        cookie, csrf = await start_session(
            session, Staff(id=user.id, email=user.email, name="Ida"), hours=1
        )
    # Unexpected errors come back as the app's own 500 answer instead of being raised here.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.cookies.set("support_admin_session", cookie)
        yield Staffed(http, csrf)


@pytest.fixture
async def staffed(settings: Settings, db: Database, providers: Providers) -> AsyncIterator[Staffed]:
    async for client in staffed_client(create_app(settings, db=db, providers=providers), db):
        yield client


def test_the_id_routes_are_enumerated() -> None:
    assert ("GET", "/admin/api/messages/{message_pk}") in ID_ROUTES
    assert ("POST", "/admin/replies/{reply_pk}/approve") in ID_ROUTES
    assert ("POST", "/admin/api/jobs/{job_pk}/retry") in ID_ROUTES
    assert len(ID_ROUTES) >= 14


# --- ids no record can have ---------------------------------------------------------------------


@pytest.mark.parametrize(("method", "template"), ID_ROUTES)
async def test_an_impossible_id_is_a_404_on_every_route(
    staffed: Staffed, method: str, template: str
) -> None:
    for value in IMPOSSIBLE_IDS:
        response = await staffed.call(method, with_id(template, value))

        assert response.status_code == 404, (method, template, value, response.text[:300])


@pytest.mark.parametrize(("method", "template"), ID_ROUTES)
async def test_the_largest_id_a_column_holds_is_looked_up_and_not_found(
    staffed: Staffed, method: str, template: str
) -> None:
    # Within range, the id reaches the database (a bigint on PostgreSQL): no row, no overflow.
    response = await staffed.call(method, with_id(template, str(MAX_ROW_ID)))

    assert response.status_code == 404, (method, template, response.text[:300])


async def test_a_page_answers_an_impossible_id_with_its_not_found_page(staffed: Staffed) -> None:
    response = await staffed.http.get("/admin/messages/99999999999999999999")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Not found" in response.text


async def test_an_impossible_id_without_credentials_is_still_a_401(
    client: httpx.AsyncClient,
) -> None:
    # The login comes first: an unauthenticated caller learns nothing about ids.
    response = await client.get("/admin/api/messages/99999999999999999999")

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/admin/api/messages", "/admin/api/conversations", "/admin"])
async def test_an_impossible_paging_cursor_is_refused_not_a_crash(
    staffed: Staffed, path: str
) -> None:
    response = await staffed.http.get(path, params={"before_id": "99999999999999999999"})

    assert response.status_code == 422


async def test_the_largest_paging_cursor_pages_from_the_start(staffed: Staffed) -> None:
    response = await staffed.http.get("/admin/api/messages", params={"before_id": MAX_ROW_ID})

    assert response.status_code == 200
    assert response.json()["items"] == []


# --- headers on every JSON answer ---------------------------------------------------------------


def assert_api_headers(response: httpx.Response) -> None:
    for name, value in API_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)


def test_the_api_headers_are_no_store_and_nosniff() -> None:
    assert API_HEADERS == {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/admin/api/me", 200),
        ("/admin/api/messages", 200),
        ("/admin/api/summary", 200),
        ("/admin/openapi.json", 200),
        ("/admin/api/messages/123456", 404),  # no such record
        ("/admin/api/messages/99999999999999999999", 404),  # no record can have it
        ("/admin/api/messages?limit=0", 422),
        ("/admin/api/no-such-route", 404),
    ],
)
async def test_api_answers_carry_the_headers(staffed: Staffed, path: str, status: int) -> None:
    response = await staffed.http.get(path)

    assert response.status_code == status
    assert_api_headers(response)


async def test_api_refusals_carry_the_headers(staffed: Staffed, client: httpx.AsyncClient) -> None:
    unauthenticated = await client.get("/admin/api/messages")
    without_csrf = await staffed.http.post("/admin/api/replies/1/reject", json={"reason": "x"})
    not_found = await staffed.call("POST", "/admin/api/replies/1/reject")

    assert [r.status_code for r in (unauthenticated, without_csrf, not_found)] == [401, 403, 404]
    for response in (unauthenticated, without_csrf, not_found):
        assert_api_headers(response)


async def test_an_unexpected_api_error_is_a_500_with_the_headers(
    staffed: Staffed, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reporting, "list_messages", broken)

    response = await staffed.http.get("/admin/api/messages")

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal Server Error"}
    assert "database" not in response.text
    assert_api_headers(response)


async def test_an_unexpected_page_error_is_a_500_page_that_tells_nothing(
    staffed: Staffed, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reporting, "message_trace", broken)

    page = await staffed.http.get("/admin/messages/1")

    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text
    assert "database" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
