"""Installing the app on a shop: Shopify's authorization code grant, faked at the HTTP boundary.

A merchant's browser hits `/shopify/install`, goes to the shop's authorize page, and comes back
to `/shopify/callback` with a signed query; the code is exchanged for a token (respx answers as
Shopify's token endpoint does) and the store is created with the token sealed.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import AuditEntry
from app.db.scope import ALL_STORES
from app.db.statuses import StoreStatus
from app.db.stores import Store
from app.main import create_app
from app.providers import Providers
from app.state import AppState
from app.store.secrets import SecretBox
from app.store.shopify_app.oauth import SCOPES
from tests.conftest import SettingsFactory
from tests.store.shopify_app.conftest import (
    APP_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    GRAPHQL_URL,
    SHOP,
    TOKEN_URL,
    now_stamp,
    shopify_payload,
    signed_query,
)

TOKEN = shopify_payload("access_token")["access_token"]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every log record's message and extra fields, as one text to search."""
    return "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in caplog.records)


class FakeShopify:
    """Shopify's token endpoint and Admin GraphQL for one shop, recording what they were sent."""

    def __init__(
        self,
        router: respx.MockRouter,
        *,
        grant: dict[str, Any] | None = None,
        token_status: int = 200,
        graphql_status: int = 200,
    ) -> None:
        self.grant = grant or shopify_payload("access_token")
        self.token_status = token_status
        self.graphql_status = graphql_status
        self.token_requests: list[dict[str, Any]] = []
        self.graphql_requests: list[httpx.Request] = []
        self.token_route = router.post(TOKEN_URL).mock(side_effect=self._token)
        self.graphql_route = router.post(GRAPHQL_URL).mock(side_effect=self._graphql)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(json.loads(request.content))
        if self.token_status != 200:
            return httpx.Response(self.token_status, json={"error": "invalid_request"})
        return httpx.Response(200, json=self.grant)

    def _graphql(self, request: httpx.Request) -> httpx.Response:
        self.graphql_requests.append(request)
        if self.graphql_status != 200:
            return httpx.Response(self.graphql_status, json={"errors": "Internal error"})
        query = json.loads(request.content)["query"]
        if "webhookSubscriptionCreate" in query:
            return httpx.Response(200, json=shopify_payload("webhook_subscription_created"))
        return httpx.Response(200, json=shopify_payload("shop_name"))

    def subscriptions(self) -> list[dict[str, Any]]:
        bodies = [json.loads(r.content) for r in self.graphql_requests]
        return [b["variables"] for b in bodies if "webhookSubscriptionCreate" in b["query"]]


async def start_install(http: httpx.AsyncClient, shop: str = SHOP) -> str:
    """Begin an install as the merchant's browser does; the state sent to Shopify."""
    response = await http.get("/shopify/install", params={"shop": shop})
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["state"][0]


def callback_query(state: str, *, shop: str = SHOP, timestamp: str | None = None) -> str:
    return signed_query(
        {
            "code": "0907a61c0c8d55e99db179b68161bc00",
            "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvbW9zYWljLXRpbGVz",
            "shop": shop,
            "state": state,
            "timestamp": timestamp or now_stamp(),
        }
    )


async def stores(db: Database) -> list[Store]:
    async with db.read(ALL_STORES) as session:
        return list((await session.execute(select(Store).order_by(Store.id))).scalars())


async def shop_store(db: Database) -> Store | None:
    return next((s for s in await stores(db) if s.shop_domain == SHOP), None)


# --- /shopify/install ----------------------------------------------------------------------------


async def test_install_sends_the_browser_to_the_shops_authorize_page(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/shopify/install", params={"shop": SHOP})

    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("https", SHOP, "/admin/oauth/authorize")
    query = parse_qs(target.query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(SCOPES)]
    assert query["redirect_uri"] == [f"{APP_URL}/shopify/callback"]
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=600" in cookie
    assert "Path=/shopify" in cookie
    # The nonce goes to Shopify; the cookie holds it signed, never the client secret.
    assert query["state"][0] in cookie
    assert CLIENT_SECRET not in cookie


def test_the_scopes_cover_what_the_tools_do() -> None:
    # Orders with fulfillments and refunds, customers, products, policies; staff-approved
    # cancels, refunds, address changes and return requests.
    for needed in (
        "read_content",
        "read_orders",
        "read_customers",
        "read_products",
        "read_fulfillments",
        "read_legal_policies",
        "read_returns",
        "write_orders",
        "write_returns",
    ):
        assert needed in SCOPES
    assert len(set(SCOPES)) == len(SCOPES)


async def test_a_shop_domain_is_lower_cased(http: httpx.AsyncClient) -> None:
    response = await http.get("/shopify/install", params={"shop": " Mosaic-Tiles.MyShopify.COM "})

    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).netloc == SHOP


@pytest.mark.parametrize(
    "shop",
    [
        "evil.com",
        "mosaic-tiles.myshopify.com.evil.com",
        "evil.com/.myshopify.com",
        "mosaic-tiles.myshopify.com@evil.com",
        "mosaic-tiles.myshopify.com/admin",
        "https://mosaic-tiles.myshopify.com",
        "-mosaic.myshopify.com",
        "mosaic_tiles.myshopify.com",
        "a.b.myshopify.com",
        "myshopify.com",
        ".myshopify.com",
        "mosaic-tiles.myshopify.com%2F",
        "",
    ],
)
async def test_anything_but_a_myshopify_domain_is_refused(
    http: httpx.AsyncClient, shop: str
) -> None:
    response = await http.get("/shopify/install", params={"shop": shop})

    assert response.status_code == 400
    assert "location" not in response.headers


async def test_install_without_a_shop_is_refused(http: httpx.AsyncClient) -> None:
    assert (await http.get("/shopify/install")).status_code == 400


async def test_shopifys_signed_install_link_is_accepted(http: httpx.AsyncClient) -> None:
    query = signed_query({"shop": SHOP, "timestamp": now_stamp()})

    response = await http.get(f"/shopify/install?{query}")

    assert response.status_code == 303


@pytest.mark.parametrize(
    "query",
    [
        # Signed with another secret.
        signed_query({"shop": SHOP, "timestamp": now_stamp()}, secret="not-the-secret"),
        # Signed for another shop.
        signed_query({"shop": "other.myshopify.com", "timestamp": now_stamp()}).replace(
            "other.myshopify.com", SHOP
        ),
        # Signed an hour ago.
        signed_query({"shop": SHOP, "timestamp": now_stamp(-3600)}),
    ],
    ids=["wrong-secret", "tampered-shop", "stale"],
)
async def test_a_signed_install_link_must_verify(http: httpx.AsyncClient, query: str) -> None:
    response = await http.get(f"/shopify/install?{query}")

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({}, "SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET, SHOPIFY_APP_URL, STORE_SECRET_KEYS"),
        (
            # A single store's custom app: client credentials for its own shop, no app URL.
            {
                "SHOPIFY_CLIENT_ID": CLIENT_ID,
                "SHOPIFY_CLIENT_SECRET": CLIENT_SECRET,
                "SHOPIFY_SHOP_DOMAIN": SHOP,
            },
            "SHOPIFY_APP_URL, STORE_SECRET_KEYS",
        ),
    ],
    ids=["nothing-set", "single-store"],
)
async def test_not_an_app_without_its_settings(
    make_settings: SettingsFactory,
    db: Database,
    providers: Providers,
    overrides: dict[str, Any],
    named: str,
) -> None:
    app = create_app(make_settings(**overrides), db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as http:
        install = await http.get("/shopify/install", params={"shop": SHOP})
        callback = await http.get(f"/shopify/callback?{callback_query('x')}")

    for response in (install, callback):
        assert response.status_code == 404
        assert response.json()["detail"].endswith("set " + named)


# --- /shopify/callback ---------------------------------------------------------------------------


async def test_callback_installs_the_store_with_its_token_sealed(
    http: httpx.AsyncClient,
    app: FastAPI,
    db: Database,
    respx_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)

    with caplog.at_level(logging.DEBUG):
        response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/stores"
    # The state cookie is cleared: this install cannot be finished twice.
    assert 'shopify_oauth_state=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert shopify.token_requests == [
        {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": "0907a61c0c8d55e99db179b68161bc00",
        }
    ]
    store = await shop_store(db)
    assert store is not None
    assert (store.slug, store.name, store.status) == (
        "mosaic-tiles",
        "Mosaic Tiles Co",
        StoreStatus.ACTIVE,
    )
    assert store.installed_at is not None
    assert store.uninstalled_at is None
    assert set(store.scopes.split(",")) >= set(SCOPES)
    assert store.credentials is not None
    assert TOKEN.encode() not in store.credentials
    box = SecretBox.from_setting(app.state.services.settings.STORE_SECRET_KEYS)
    assert box.open(store.credentials) == {"admin_api_token": TOKEN}
    # The token is nowhere but sealed in its row.
    assert TOKEN not in response.text
    assert TOKEN not in str(response.headers)
    assert TOKEN not in logged(caplog)
    assert CLIENT_SECRET not in logged(caplog)
    # The directory knows the store at once, and Shopify was asked for app/uninstalled.
    services: AppState = app.state.services
    config = await services.stores.by_shop_domain(SHOP)
    assert config is not None
    assert config.id == store.id
    assert shopify.subscriptions() == [
        {"topic": "APP_UNINSTALLED", "webhookSubscription": {"uri": f"{APP_URL}/webhooks/shopify"}}
    ]
    assert all(r.headers["X-Shopify-Access-Token"] == TOKEN for r in shopify.graphql_requests)
    async with db.read(ALL_STORES) as session:
        audit = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(a.action, a.store_id, a.staff_email) for a in audit] == [
        ("store.installed", store.id, "shopify")
    ]


async def test_a_forged_callback_is_refused_before_any_token_request(
    http: httpx.AsyncClient, db: Database, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)
    query = callback_query(state).replace("code=0907a61c0c8d55e99db179b68161bc00", "code=attacker")

    response = await http.get(f"/shopify/callback?{query}")

    assert response.status_code == 400
    assert "hmac" in response.json()["detail"]
    assert not shopify.token_route.called
    assert await shop_store(db) is None


async def test_a_callback_signed_with_another_secret_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)
    query = signed_query(
        {"code": "c0de", "shop": SHOP, "state": state, "timestamp": now_stamp()}, secret="guess"
    )

    assert (await http.get(f"/shopify/callback?{query}")).status_code == 400
    assert not shopify.token_route.called


async def test_a_callback_without_hmac_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)
    query = callback_query(state).split("&hmac=")[0]

    assert (await http.get(f"/shopify/callback?{query}")).status_code == 400
    assert not shopify.token_route.called


async def test_a_callback_without_the_state_cookie_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)
    http.cookies.clear()

    response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 400
    assert "state" in response.json()["detail"]
    assert not shopify.token_route.called


async def test_a_callback_with_another_state_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    await start_install(http)

    response = await http.get(f"/shopify/callback?{callback_query('a-state-we-never-issued')}")

    assert response.status_code == 400
    assert not shopify.token_route.called


async def test_a_state_issued_for_another_shop_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    FakeShopify(respx_mock)
    other = "other-shop.myshopify.com"
    other_token = respx_mock.post(f"https://{other}/admin/oauth/access_token")
    state = await start_install(http, shop=SHOP)

    response = await http.get(f"/shopify/callback?{callback_query(state, shop=other)}")

    assert response.status_code == 400
    assert not other_token.called


async def test_a_forged_state_cookie_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    await start_install(http)
    forged = f"{SHOP}|chosen-nonce|9999999999|" + "0" * 64
    http.cookies.set("shopify_oauth_state", forged, domain="support.example", path="/shopify")

    response = await http.get(f"/shopify/callback?{callback_query('chosen-nonce')}")

    assert response.status_code == 400
    assert not shopify.token_route.called


async def test_a_state_works_once(
    http: httpx.AsyncClient, db: Database, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)
    query = callback_query(state)
    assert (await http.get(f"/shopify/callback?{query}")).status_code == 303

    replayed = await http.get(f"/shopify/callback?{query}")

    assert replayed.status_code == 400
    assert shopify.token_route.call_count == 1
    assert len([s for s in await stores(db) if s.shop_domain == SHOP]) == 1


async def test_a_stale_callback_is_refused(
    http: httpx.AsyncClient, respx_mock: respx.MockRouter
) -> None:
    shopify = FakeShopify(respx_mock)
    state = await start_install(http)

    response = await http.get(
        f"/shopify/callback?{callback_query(state, timestamp=now_stamp(-11 * 60))}"
    )

    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    assert not shopify.token_route.called


async def test_a_grant_short_of_the_needed_scopes_is_refused(
    http: httpx.AsyncClient,
    db: Database,
    respx_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    shopify = FakeShopify(
        respx_mock, grant={"access_token": TOKEN, "scope": "read_orders,read_products"}
    )
    state = await start_install(http)

    with caplog.at_level(logging.DEBUG):
        response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "read_customers" in detail
    assert "write_orders" in detail
    assert shopify.token_route.called
    assert await shop_store(db) is None
    assert TOKEN not in response.text
    assert TOKEN not in logged(caplog)


async def test_a_refused_code_installs_nothing(
    http: httpx.AsyncClient, db: Database, respx_mock: respx.MockRouter
) -> None:
    FakeShopify(respx_mock, token_status=400)
    state = await start_install(http)

    response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 502
    assert "HTTP 400" in response.json()["detail"]
    assert await shop_store(db) is None


async def test_the_install_stands_when_the_webhook_subscription_fails(
    http: httpx.AsyncClient,
    db: Database,
    respx_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    FakeShopify(respx_mock, graphql_status=500)
    state = await start_install(http)

    with caplog.at_level(logging.WARNING):
        response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 303
    store = await shop_store(db)
    assert store is not None
    # Without the shop's name from Shopify, the shop's own name stands in.
    assert store.name == "mosaic-tiles"
    assert "app/uninstalled subscription failed" in logged(caplog)
    assert TOKEN not in logged(caplog)


async def test_reinstalling_an_uninstalled_store_reactivates_it(
    http: httpx.AsyncClient, app: FastAPI, db: Database, respx_mock: respx.MockRouter
) -> None:
    FakeShopify(respx_mock)
    async with db.write(ALL_STORES) as session:
        old = Store(
            slug="mosaic",
            shop_domain=SHOP,
            name="Mosaic (old name)",
            status=StoreStatus.UNINSTALLED,
            support_email="help@mosaic-tiles.example",
            support_addresses=["help@mosaic-tiles.example"],
            scopes="",
            credentials=None,
        )
        session.add(old)
        await session.flush()
        old_id = old.id

    state = await start_install(http)
    response = await http.get(f"/shopify/callback?{callback_query(state)}")

    assert response.status_code == 303
    [store] = [s for s in await stores(db) if s.shop_domain == SHOP]
    assert store.id == old_id
    assert store.status is StoreStatus.ACTIVE
    assert store.uninstalled_at is None
    # Its settings are its own still; only the name follows Shopify.
    assert (store.slug, store.support_email) == ("mosaic", "help@mosaic-tiles.example")
    assert store.name == "Mosaic Tiles Co"
    box = SecretBox.from_setting(app.state.services.settings.STORE_SECRET_KEYS)
    assert box.open(store.credentials)["admin_api_token"] == TOKEN
    async with db.read(ALL_STORES) as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert actions == ["store.reinstalled"]


async def test_a_taken_slug_gets_a_number(
    http: httpx.AsyncClient, db: Database, respx_mock: respx.MockRouter
) -> None:
    FakeShopify(respx_mock)
    async with db.write(ALL_STORES) as session:
        session.add(
            Store(
                slug="mosaic-tiles", shop_domain=None, name="Another", support_email="a@b.example"
            )
        )

    state = await start_install(http)
    assert (await http.get(f"/shopify/callback?{callback_query(state)}")).status_code == 303

    store = await shop_store(db)
    assert store is not None
    assert store.slug == "mosaic-tiles-2"
