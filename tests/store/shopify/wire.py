"""Shopify's side of the wire for the client tests: payloads, answers and fakes.

Payloads are written for this project from the documented shapes (tests/payloads/shopify/).
No test sleeps: the client gets a fake sleep that records the waits it asks for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from app.store.models import Order
from app.store.shopify import ClientCredentialsToken, ShopifyGraphQL, order_from_node

ENDPOINT = "https://demo-shop.myshopify.com/admin/api/2026-10/graphql.json"
TOKEN_URL = "https://demo-shop.myshopify.com/admin/oauth/access_token"
PAYLOADS = Path(__file__).parents[2] / "payloads" / "shopify"
SARA = "sara@example.com"
COST = {
    "requestedQueryCost": 10,
    "actualQueryCost": 4,
    "throttleStatus": {
        "maximumAvailable": 2000.0,
        "currentlyAvailable": 1996,
        "restoreRate": 100.0,
    },
}


TRIPWIRE = pytest.mark.respx(assert_all_called=False)
"""For tests whose GraphQL route exists only to prove that nothing reached it."""


def payload(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return loaded


def ok(data: dict[str, Any]) -> httpx.Response:
    """A successful GraphQL answer: `data` plus the cost extension Shopify always sends."""
    return httpx.Response(200, json={"data": data, "extensions": {"cost": COST}})


def graphql_errors(*errors: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={"errors": list(errors), "extensions": {"cost": COST}})


def throttled(status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=payload("throttled.json"), headers=headers)


def token_answer(value: str, expires_in: int = 86_399) -> httpx.Response:
    body = {"access_token": value, "scope": "read_orders,read_customers", "expires_in": expires_in}
    return httpx.Response(200, json=body)


def sent(route: respx.Route, index: int = 0) -> dict[str, Any]:
    """The JSON body of the index-th request the route received."""
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


def order_node(**changes: Any) -> dict[str, Any]:
    node: dict[str, Any] = copy.deepcopy(payload("orders_1001.json")["data"]["orders"]["nodes"][0])
    node.update(changes)
    return node


def order_1001() -> Order:
    return order_from_node(order_node())


def when(text: str) -> datetime:
    """A naive ISO timestamp read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class RecordedSleep:
    """An async sleep that returns at once and remembers every requested delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


ClientFactory = Callable[..., ShopifyGraphQL]


def credentials(http: httpx.AsyncClient, clock: FakeClock | None = None) -> ClientCredentialsToken:
    return ClientCredentialsToken(
        token_url=TOKEN_URL,
        client_id="client-id-123",
        client_secret="shpss_secret_456",
        http=http,
        clock=clock or FakeClock(),
    )
