"""Token providers: the client-credentials grant (cached, refreshed) and a static token."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.store.protocol import ShopAuthError, ShopUnavailable
from app.store.shopify import ShopifyGraphQL
from app.store.shopify.auth import TOKEN_REFRESH_MARGIN_SECONDS
from tests.store.shopify.wire import (
    ENDPOINT,
    TOKEN_URL,
    TRIPWIRE,
    ClientFactory,
    FakeClock,
    RecordedSleep,
    credentials,
    ok,
    sent,
    token_answer,
)


async def test_client_credentials_token_is_fetched_once_and_cached(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, make_client: ClientFactory
) -> None:
    token_route = respx_mock.post(TOKEN_URL).mock(return_value=token_answer("shpat_first"))
    route = respx_mock.post(ENDPOINT).mock(return_value=ok({"shop": {"currencyCode": "EUR"}}))
    client = make_client(tokens=credentials(http))

    await client.execute("query { shop { currencyCode } }")
    await client.execute("query { shop { currencyCode } }")

    assert token_route.call_count == 1
    token_request = token_route.calls[0].request
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client-id-123"],
        "client_secret": ["shpss_secret_456"],
    }
    assert route.call_count == 2
    assert [call.request.headers["X-Shopify-Access-Token"] for call in route.calls] == [
        "shpat_first",
        "shpat_first",
    ]


async def test_a_401_refreshes_the_token_once_and_retries(
    respx_mock: respx.MockRouter,
    http: httpx.AsyncClient,
    make_client: ClientFactory,
    sleep: RecordedSleep,
) -> None:
    token_route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("shpat_expired"), token_answer("shpat_fresh")]
    )
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(401, json={"errors": "[API] Invalid API key or access token"}),
            ok({"shop": {"currencyCode": "EUR"}}),
        ]
    )

    data = await make_client(tokens=credentials(http)).execute("query { shop { currencyCode } }")

    assert data == {"shop": {"currencyCode": "EUR"}}
    assert token_route.call_count == 2
    assert [call.request.headers["X-Shopify-Access-Token"] for call in route.calls] == [
        "shpat_expired",
        "shpat_fresh",
    ]
    assert sent(route, 0) == sent(route, 1)
    assert sleep.delays == []


async def test_a_second_401_after_the_refresh_is_an_auth_error(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, make_client: ClientFactory
) -> None:
    token_route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("shpat_one"), token_answer("shpat_two")]
    )
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(401, json={}))

    with pytest.raises(ShopAuthError, match="401"):
        await make_client(tokens=credentials(http)).execute("query { shop { currencyCode } }")

    assert token_route.call_count == 2
    assert route.call_count == 2


async def test_a_401_with_a_static_token_is_an_auth_error_at_once(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(401, json={}))

    with pytest.raises(ShopAuthError, match="401"):
        await client.execute("query { shop { currencyCode } }")

    assert route.call_count == 1
    assert sleep.delays == []


async def test_a_403_is_an_auth_error_without_refresh_or_retry(
    respx_mock: respx.MockRouter,
    http: httpx.AsyncClient,
    make_client: ClientFactory,
    sleep: RecordedSleep,
) -> None:
    token_route = respx_mock.post(TOKEN_URL).mock(return_value=token_answer("shpat_first"))
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(403, json={}))

    with pytest.raises(ShopAuthError, match="403"):
        await make_client(tokens=credentials(http)).execute("query { shop { currencyCode } }")

    assert token_route.call_count == 1
    assert route.call_count == 1
    assert sleep.delays == []


async def test_the_token_is_refreshed_before_it_expires(
    respx_mock: respx.MockRouter, http: httpx.AsyncClient, make_client: ClientFactory
) -> None:
    clock = FakeClock()
    token_route = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("shpat_day_one", 86_399), token_answer("shpat_day_two", 86_399)]
    )
    route = respx_mock.post(ENDPOINT).mock(return_value=ok({"shop": {"currencyCode": "EUR"}}))
    client = make_client(tokens=credentials(http, clock))
    refresh_after = 86_399 - TOKEN_REFRESH_MARGIN_SECONDS

    await client.execute("query { shop { currencyCode } }")
    clock.now += refresh_after - 1
    await client.execute("query { shop { currencyCode } }")
    assert token_route.call_count == 1
    clock.now += 1
    await client.execute("query { shop { currencyCode } }")

    assert token_route.call_count == 2
    assert [call.request.headers["X-Shopify-Access-Token"] for call in route.calls] == [
        "shpat_day_one",
        "shpat_day_one",
        "shpat_day_two",
    ]


@TRIPWIRE
@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_refused_client_credentials_are_an_auth_error(
    respx_mock: respx.MockRouter,
    http: httpx.AsyncClient,
    make_client: ClientFactory,
    status: int,
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(
            status, json={"error": "invalid_client", "error_description": "Client secret is wrong"}
        )
    )
    route = respx_mock.post(ENDPOINT)

    with pytest.raises(ShopAuthError, match=str(status)):
        await make_client(tokens=credentials(http)).execute("query { shop { currencyCode } }")

    assert route.call_count == 0


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(503, text="unavailable"),
        httpx.Response(429, json={"errors": "Too many requests"}),
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json={"scope": "read_orders"}),
    ],
    ids=["503", "429", "html", "no-token"],
)
@TRIPWIRE
async def test_a_token_endpoint_failure_is_unavailability(
    respx_mock: respx.MockRouter,
    http: httpx.AsyncClient,
    make_client: ClientFactory,
    answer: httpx.Response,
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=answer)
    route = respx_mock.post(ENDPOINT)

    with pytest.raises(ShopUnavailable, match="token endpoint"):
        await make_client(tokens=credentials(http)).execute("query { shop { currencyCode } }")

    assert route.call_count == 0
