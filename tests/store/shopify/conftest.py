"""Fixtures for the Shopify client tests: an HTTP client respx intercepts, and a fake sleep."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.store.shopify import ShopifyGraphQL, ShopifyShop, StaticToken, TokenProvider
from tests.store.shopify.wire import ENDPOINT, ClientFactory, RecordedSleep


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient, sleep: RecordedSleep) -> ClientFactory:
    def build(tokens: TokenProvider | None = None, max_attempts: int = 4) -> ShopifyGraphQL:
        return ShopifyGraphQL(
            endpoint=ENDPOINT,
            tokens=tokens or StaticToken("shpat_static_test"),
            http=http,
            max_attempts=max_attempts,
            sleep=sleep,
        )

    return build


@pytest.fixture
def client(make_client: ClientFactory) -> ShopifyGraphQL:
    return make_client()


@pytest.fixture
def shop(client: ShopifyGraphQL) -> ShopifyShop:
    return ShopifyShop(client)
