"""The admin API documents itself: a typed OpenAPI schema and Swagger UI, only for staff.

The schema is built from the routes, so these tests walk the app's routes: a new admin route
without a response model fails here.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.admin.filters import QueueFilter
from app.admin.staff import staff_for_token, start_session
from app.db.engine import Database
from app.db.statuses import MessageStatus
from tests.builders import IN_DEFAULT_STORE


@pytest.fixture
async def session_cookie(db: Database, token: str) -> tuple[str, str]:
    """A logged-in browser's session cookie and its CSRF token."""
    async with db.write(IN_DEFAULT_STORE) as session:
        staff = await staff_for_token(session, token)
        assert staff is not None
        return await start_session(session, staff, hours=1)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) of the admin JSON API, included routers flattened."""
    found: list[tuple[str, str]] = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute) and route.path.startswith("/admin/api/"):
                found.extend((method.lower(), route.path) for method in sorted(route.methods or ()))

    walk(app.routes)
    return found


async def test_without_staff_credentials_there_is_no_schema_and_no_docs(
    http: httpx.AsyncClient, token: str
) -> None:
    # A browser is shown the login form (and comes back to the docs after logging in).
    for path in ("/admin/docs", "/admin/docs/swagger-ui-bundle.js"):
        refused = await http.get(path)
        assert refused.status_code == 401, path
        assert f'name="next" value="{path}"' in refused.text, path
        assert "SwaggerUIBundle" not in refused.text
    # The schema answers as the API does: JSON, and it needs a real token.
    for headers in ({}, {"Authorization": "Bearer ssm_not-a-token"}):
        refused = await http.get("/admin/openapi.json", headers=headers)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "send an API token as `Authorization: Bearer <token>`"}
    # FastAPI's own public documents are switched off.
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert (await http.get(path)).status_code == 404, path


async def test_every_admin_api_route_declares_a_typed_response(
    app: FastAPI, http: httpx.AsyncClient, token: str
) -> None:
    response = await http.get("/admin/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    schema = response.json()
    components = schema["components"]["schemas"]
    routes = api_routes(app)
    assert len(routes) >= 14
    for method, path in routes:
        operation = schema["paths"][path][method]
        body = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert set(body) == {"$ref"}, (method, path, body)
        name = body["$ref"].removeprefix("#/components/schemas/")
        component = components[name]
        typed = component.get("properties") or component.get("items", {}).get("$ref")
        assert typed, (method, path, name, component)
        assert operation["security"] == [{"apiToken": []}], (method, path)
    # The pages are for browsers: the schema lists the API (and the webhooks), not them.
    assert not [p for p in schema["paths"] if p.startswith("/admin") and "/admin/api/" not in p]


async def test_status_fields_and_filters_are_documented_as_their_enums(
    http: httpx.AsyncClient, token: str
) -> None:
    schema = (
        await http.get("/admin/openapi.json", headers={"Authorization": f"Bearer {token}"})
    ).json()
    components = schema["components"]["schemas"]
    assert components["MessageSummary"]["properties"]["status"] == {
        "$ref": "#/components/schemas/MessageStatus"
    }
    assert components["MessageStatus"]["enum"] == [s.value for s in MessageStatus]
    parameters = schema["paths"]["/admin/api/messages"]["get"]["parameters"]
    [status] = [p for p in parameters if p["name"] == "status"]
    assert {"$ref": "#/components/schemas/QueueFilter"} in status["schema"]["anyOf"]
    for word in QueueFilter:
        assert f"{word.value}: {word.meaning}" in status["description"]


async def test_staff_read_the_docs_with_their_session_and_nothing_loads_from_elsewhere(
    http: httpx.AsyncClient, session_cookie: tuple[str, str]
) -> None:
    cookie, csrf = session_cookie
    http.cookies.set("support_admin_session", cookie, path="/admin")
    page = await http.get("/admin/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "default-src 'none'" in policy
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/admin/") or s.startswith("data:") for s in sources), sources
    assert f'data-csrf-token="{csrf}"' in page.text
    for asset, kind in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("docs.js", "text/javascript"),
    ):
        served = await http.get(f"/admin/docs/{asset}")
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(kind), asset
    schema = await http.get("/admin/openapi.json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"]


async def test_the_docs_serve_only_their_own_files(http: httpx.AsyncClient, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for asset in ("index.html", "..%2F..%2Fpyproject.toml", "swagger-ui.js.map"):
        assert (await http.get(f"/admin/docs/{asset}", headers=headers)).status_code == 404
