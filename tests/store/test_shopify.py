"""The Shopify Admin GraphQL client at the HTTP boundary: respx answers as Shopify would.

Payloads are written for this project from the documented shapes (tests/payloads/shopify/).
No test sleeps: the client gets a fake sleep that records the waits it asks for.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from app.store.models import (
    ActionResult,
    Address,
    LineItem,
    Money,
    Order,
    OrderStatus,
    PolicyKind,
    Refund,
    Return,
    Tracking,
)
from app.store.protocol import ShopAuthError, ShopQueryError, ShopUnavailable
from app.store.shopify.shop import (
    CANCEL_MUTATION,
    CUSTOMER_QUERY,
    MAX_WAIT_SECONDS,
    ORDERS_QUERY,
    PRODUCTS_QUERY,
    REFUND_MUTATION,
    RETURN_MUTATION,
    RETURNABLE_QUERY,
    SUGGESTED_REFUND_QUERY,
    TOKEN_REFRESH_MARGIN_SECONDS,
    ClientCredentialsToken,
    ShopifyGraphQL,
    ShopifyShop,
    StaticToken,
    TokenProvider,
    order_from_node,
    order_name_query,
    order_status,
    quoted_email,
    search_words,
)

ENDPOINT = "https://demo-shop.myshopify.com/admin/api/2026-10/graphql.json"
TOKEN_URL = "https://demo-shop.myshopify.com/admin/oauth/access_token"
PAYLOADS = Path(__file__).parents[1] / "payloads" / "shopify"
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


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


ClientFactory = Callable[..., ShopifyGraphQL]


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


def credentials(http: httpx.AsyncClient, clock: FakeClock | None = None) -> ClientCredentialsToken:
    return ClientCredentialsToken(
        token_url=TOKEN_URL,
        client_id="client-id-123",
        client_secret="shpss_secret_456",
        http=http,
        clock=clock or FakeClock(),
    )


# --- Request shape -----------------------------------------------------------------------------


async def test_execute_posts_query_and_variables_with_the_token_header(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=ok({"shop": {"currencyCode": "EUR"}}))

    data = await client.execute("query Q($n: Int!) { shop { currencyCode } }", {"n": 3})

    assert data == {"shop": {"currencyCode": "EUR"}}
    assert route.call_count == 1
    request = route.calls[0].request
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["X-Shopify-Access-Token"] == "shpat_static_test"
    assert request.headers["Content-Type"] == "application/json"
    assert sent(route) == {
        "query": "query Q($n: Int!) { shop { currencyCode } }",
        "variables": {"n": 3},
    }


async def test_execute_without_variables_sends_an_empty_object(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=ok({"shop": {"currencyCode": "EUR"}}))

    await client.execute("query { shop { currencyCode } }")

    assert sent(route)["variables"] == {}


async def test_find_order_keeps_the_email_out_of_the_request(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json=payload("orders_1001.json"))
    )

    order = await shop.find_order("1001", customer_email=SARA)

    assert order is not None
    body = sent(route)
    assert body["query"] == ORDERS_QUERY
    assert body["variables"] == {"query": "name:1001 OR name:#1001", "first": 5}
    # The ownership check happens on our side: the address never travels to Shopify.
    assert SARA not in route.calls[0].request.content.decode()


@TRIPWIRE
async def test_find_order_refuses_an_unnormalised_number_before_any_request(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT)

    with pytest.raises(ValueError, match="normalised"):
        await shop.find_order("1001 OR email:*", customer_email=SARA)

    assert route.call_count == 0


async def test_list_orders_puts_the_quoted_email_only_in_variables(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json=payload("orders_1001.json"))
    )

    orders = await shop.list_orders(customer_email=SARA, limit=10)

    assert [order.name for order in orders] == ["#1001"]
    body = sent(route)
    assert body["query"] == ORDERS_QUERY
    assert SARA not in body["query"]
    # Three times the limit: the search is fuzzy, and other customers' orders are dropped.
    assert body["variables"] == {"query": 'email:"sara@example.com"', "first": 30}


async def test_list_orders_drops_fuzzy_matches_of_other_customers(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    mine = order_node()
    theirs = order_node(
        id="gid://shopify/Order/5813920120920",
        name="#1002",
        email="sara.bakker@example.com",
        customer={
            "id": "gid://shopify/Customer/1",
            "displayName": "Sara Bakker",
            "defaultEmailAddress": {"emailAddress": "sara.bakker@example.com"},
        },
    )
    respx_mock.post(ENDPOINT).mock(return_value=ok({"orders": {"nodes": [theirs, mine]}}))

    orders = await shop.list_orders(customer_email="SARA@example.com ", limit=5)

    assert [order.name for order in orders] == ["#1001"]


async def test_get_customer_puts_the_quoted_email_only_in_variables(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json=payload("customers_sara.json"))
    )

    await shop.get_customer(customer_email=SARA)

    body = sent(route)
    assert body["query"] == CUSTOMER_QUERY
    assert SARA not in body["query"]
    assert body["variables"] == {"query": 'email:"sara@example.com"'}


async def test_search_products_sends_plain_words_only(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            ok({"shop": {"currencyCode": "EUR"}}),
            httpx.Response(200, json=payload("products_shirt.json")),
        ]
    )

    await shop.search_products('shirt" OR email:* (tag:x)', limit=5)

    assert route.call_count == 2
    body = sent(route, 1)
    assert body["query"] == PRODUCTS_QUERY
    assert body["variables"] == {"query": "shirt email tag x status:ACTIVE", "first": 5}
    words = body["variables"]["query"].removesuffix(" status:ACTIVE")
    for unsafe in ('"', "'", ":", "(", ")", "*", "\\"):
        assert unsafe not in words
    assert "OR" not in words.split()


@TRIPWIRE
async def test_search_products_with_nothing_searchable_asks_nothing(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT)

    assert await shop.search_products('"*:() OR AND NOT --', limit=5) == []

    assert route.call_count == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('shirt" OR email:* (tag:x)', "shirt email tag x"),
        ("linen shirt", "linen shirt"),
        ("t-shirt size M", "t-shirt size M"),
        # A leading "-" negates a term: "-zzz" would match every product but zzz.
        ("-zzz", "zzz"),
        ("-- -shirt --", "shirt"),
        # Shopify quotes with single quotes too: an open quote could swallow status:ACTIVE.
        ("shirt' status:DRAFT", "shirt status DRAFT"),
        ("NOT red AND blue", "red blue"),
        ("vendor:acme title:*", "vendor acme title"),
        ("back\\slash", "back slash"),
        ("größe café", "größe café"),
    ],
)
def test_search_words(text: str, expected: str) -> None:
    assert search_words(text) == expected


def test_search_words_never_cuts_a_word_into_an_operator() -> None:
    # 77 letters, a space, then "ORANGE": cutting at 80 characters used to leave "... OR".
    words = search_words("a" * 77 + " ORANGE")

    assert words == "a" * 77
    assert len(search_words("word " * 40)) <= 80
    assert len(search_words("x" * 200)) == 80


def test_quoted_email_cannot_escape_its_quotes() -> None:
    assert quoted_email(SARA) == '"sara@example.com"'
    assert quoted_email('sara"@example.com OR "x\\') == '"sara@example.comORx"'


def test_order_name_query_accepts_only_normalised_numbers() -> None:
    assert order_name_query("1001-A") == "name:1001-A OR name:#1001-A"
    for hostile in ("1001 OR name:*", "#1001", "1001)", "", "x" * 31):
        with pytest.raises(ValueError, match="normalised"):
            order_name_query(hostile)


# --- Throttling, outages, retries --------------------------------------------------------------


async def test_throttled_http_200_waits_for_the_bucket_then_succeeds(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[throttled(), ok({"shop": {"currencyCode": "EUR"}})]
    )

    data = await client.execute("query { shop { currencyCode } }")

    assert data == {"shop": {"currencyCode": "EUR"}}
    assert route.call_count == 2
    # (requestedQueryCost - currentlyAvailable) / restoreRate = (752 - 666) / 50
    assert sleep.delays == [pytest.approx((752 - 666) / 50)]


async def test_throttle_wait_is_capped(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    body = payload("throttled.json")
    body["extensions"]["cost"]["requestedQueryCost"] = 1000
    body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] = 0.0
    respx_mock.post(ENDPOINT).mock(
        side_effect=[httpx.Response(200, json=body), ok({"shop": {"currencyCode": "EUR"}})]
    )

    await client.execute("query { shop { currencyCode } }")

    assert (1000 - 0) / 50 > MAX_WAIT_SECONDS
    assert sleep.delays == [MAX_WAIT_SECONDS]


async def test_throttled_http_429_honours_retry_after(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            throttled(429, headers={"Retry-After": "2"}),
            ok({"shop": {"currencyCode": "EUR"}}),
        ]
    )

    await client.execute("query { shop { currencyCode } }")

    assert route.call_count == 2
    assert sleep.delays == [2.0]


async def test_throttled_http_429_without_retry_after_waits_on_the_cost(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    respx_mock.post(ENDPOINT).mock(
        side_effect=[throttled(429), ok({"shop": {"currencyCode": "EUR"}})]
    )

    await client.execute("query { shop { currencyCode } }")

    assert sleep.delays == [pytest.approx(1.72)]


async def test_throttle_waits_for_the_longer_of_retry_after_and_cost(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    respx_mock.post(ENDPOINT).mock(
        side_effect=[
            throttled(429, headers={"Retry-After": "1"}),
            throttled(200, headers={"Retry-After": "4"}),
            ok({"shop": {"currencyCode": "EUR"}}),
        ]
    )

    await client.execute("query { shop { currencyCode } }")

    assert sleep.delays == [pytest.approx(1.72), 4.0]


async def test_503_is_retried_with_bounded_backoff(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(503, text="<html>Service Unavailable</html>"),
            ok({"shop": {"currencyCode": "EUR"}}),
        ]
    )

    data = await client.execute("query { shop { currencyCode } }")

    assert data == {"shop": {"currencyCode": "EUR"}}
    assert route.call_count == 2
    assert len(sleep.delays) == 1
    assert 0.25 <= sleep.delays[0] <= 0.5  # first backoff step, with jitter


async def test_persistent_500_becomes_shop_unavailable_after_max_attempts(
    respx_mock: respx.MockRouter, make_client: ClientFactory, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(500, json={}))
    client = make_client(max_attempts=3)

    with pytest.raises(ShopUnavailable, match="after 3 attempts"):
        await client.execute("query { shop { currencyCode } }")

    assert route.call_count == 3
    assert len(sleep.delays) == 2
    assert all(0 < delay <= MAX_WAIT_SECONDS for delay in sleep.delays)


async def test_a_timeout_is_retried(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[httpx.ReadTimeout, ok({"shop": {"currencyCode": "EUR"}})]
    )

    data = await client.execute("query { shop { currencyCode } }")

    assert data == {"shop": {"currencyCode": "EUR"}}
    assert route.call_count == 2
    assert len(sleep.delays) == 1


async def test_repeated_timeouts_become_shop_unavailable(
    respx_mock: respx.MockRouter, make_client: ClientFactory, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(ShopUnavailable, match="timeout"):
        await make_client(max_attempts=2).execute("query { shop { currencyCode } }")

    assert route.call_count == 2
    assert len(sleep.delays) == 1


async def test_a_connection_error_is_retried(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[httpx.ConnectError, ok({"shop": {"currencyCode": "EUR"}})]
    )

    assert await client.execute("query { shop { currencyCode } }") == {
        "shop": {"currencyCode": "EUR"}
    }
    assert route.call_count == 2


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text="<html><body>Bad gateway</body></html>"),
        httpx.Response(200, content=b"\xff\xfe{"),
        httpx.Response(200, json=["not", "an", "object"]),
    ],
    ids=["html", "undecodable", "json-list"],
)
async def test_a_200_that_is_not_a_json_object_is_retried(
    respx_mock: respx.MockRouter,
    client: ShopifyGraphQL,
    sleep: RecordedSleep,
    bad: httpx.Response,
) -> None:
    route = respx_mock.post(ENDPOINT).mock(side_effect=[bad, ok({"shop": {"currencyCode": "EUR"}})])

    assert await client.execute("query { shop { currencyCode } }") == {
        "shop": {"currencyCode": "EUR"}
    }
    assert route.call_count == 2
    assert len(sleep.delays) == 1


async def test_find_order_under_persistent_throttling_raises_instead_of_not_found(
    respx_mock: respx.MockRouter, shop: ShopifyShop, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=throttled())

    with pytest.raises(ShopUnavailable, match="THROTTLED"):
        await shop.find_order("1001", customer_email=SARA)

    assert route.call_count == 4
    assert sleep.delays == [pytest.approx(1.72)] * 3


# --- Auth --------------------------------------------------------------------------------------


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


# --- GraphQL errors ----------------------------------------------------------------------------


async def test_a_graphql_error_is_a_query_error_with_the_message(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=graphql_errors(
            {
                "message": "Field 'x' doesn't exist on type 'Order'",
                "locations": [{"line": 1, "column": 30}],
                "path": ["query", "orders", "nodes", "x"],
                "extensions": {"code": "undefinedField", "typeName": "Order", "fieldName": "x"},
            }
        )
    )

    with pytest.raises(ShopQueryError, match="Field 'x' doesn't exist on type 'Order'"):
        await client.execute("query { orders(first: 1) { nodes { x } } }")

    assert route.call_count == 1
    assert sleep.delays == []


async def test_access_denied_is_an_auth_error(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": {"customers": None},
                "errors": [
                    {
                        "message": "Access denied for customers field. Required access: "
                        "`read_customers` access scope.",
                        "path": ["customers"],
                        "extensions": {
                            "code": "ACCESS_DENIED",
                            "documentation": "https://shopify.dev/api/usage/access-scopes",
                            "requiredAccess": "`read_customers` access scope.",
                        },
                    }
                ],
            },
        )
    )

    with pytest.raises(ShopAuthError, match="denied"):
        await client.execute(CUSTOMER_QUERY, {"query": quoted_email(SARA)})


async def test_errors_that_are_not_a_list_are_still_a_query_error(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json={"errors": 'Parse error on "}" (RCURLY)'})
    )

    with pytest.raises(ShopQueryError, match="Parse error"):
        await client.execute("query { shop { currencyCode }} }")


async def test_an_answer_without_data_is_a_query_error(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json={"data": None}))

    with pytest.raises(ShopQueryError, match="without data"):
        await client.execute("query { shop { currencyCode } }")


async def test_a_404_is_a_query_error_not_a_retry(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(404, json={"errors": "Not Found"})
    )

    with pytest.raises(ShopQueryError, match="404"):
        await client.execute("query { shop { currencyCode } }")

    assert route.call_count == 1
    assert sleep.delays == []


# --- Mapping -----------------------------------------------------------------------------------


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def test_find_order_maps_a_realistic_order(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json=payload("orders_1001.json"))
    )

    order = await shop.find_order("1001", customer_email="Sara@Example.COM")

    assert order is not None
    assert order.id == "gid://shopify/Order/5813920120919"
    assert order.name == "#1001"
    assert order.customer_email == SARA
    assert order.customer_name == "Sara Ahmadi"
    assert order.created_at == when("2026-10-02T09:14:31")
    assert order.cancelled_at is None
    assert order.financial_status == "PARTIALLY_REFUNDED"
    assert order.fulfillment_status == "FULFILLED"
    assert order.return_status == "NO_RETURN"
    # One parcel delivered, one on its way; a partial refund and a declined return change nothing.
    assert order.status is OrderStatus.IN_TRANSIT
    assert order.status_page_url is not None
    assert order.status_page_url.startswith("https://demo-shop.myshopify.com/")
    assert order.total == Money(amount=Decimal("84.50"), currency="EUR")
    assert isinstance(order.total.amount, Decimal)
    assert order.shipping_address == Address(
        name="Sara Ahmadi",
        address1="Keizersgracht 123",
        address2="3 hoog",
        city="Amsterdam",
        province_code="NH",
        zip="1015 CJ",
        country_code="NL",
    )
    assert order.items == (
        LineItem(
            title="Linen Shirt - M / Sand",
            variant="M / Sand",
            sku="LS-M-SAND",
            quantity=2,
            current_quantity=1,
        ),
        LineItem(title="Canvas Tote", variant=None, sku=None, quantity=1, current_quantity=1),
    )

    delivered, moving = order.shipments
    assert delivered.status == "DELIVERED"
    assert delivered.shipped_at == when("2026-10-03T10:02:11")
    assert delivered.in_transit_at == when("2026-10-03T16:20:00")
    assert delivered.delivered_at == when("2026-10-05T11:02:45")
    assert delivered.estimated_delivery_at == when("2026-10-05T18:00:00")
    assert delivered.tracking == (
        Tracking(
            company="PostNL",
            number="3SDEMO0123456789",
            url="https://jouw.postnl.nl/track-and-trace/3SDEMO0123456789-NL-1015CJ",
        ),
    )
    assert moving.status == "IN_TRANSIT"
    assert moving.delivered_at is None
    assert moving.estimated_delivery_at == when("2026-10-09T17:00:00")
    assert moving.tracking == (
        Tracking(
            company="DHL Express",
            number="1234567890",
            url="https://www.dhl.com/nl-en/home/tracking.html?tracking-id=1234567890",
        ),
        Tracking(company="DHL Express", number="1234567891", url=None),
    )

    assert order.refunds == (
        Refund(
            created_at=when("2026-10-07T08:30:00"),
            amount=Money(amount=Decimal("29.95"), currency="EUR"),
            note="One shirt arrived damaged",
        ),
    )
    assert order.refunds[0].amount.amount == Decimal("29.95")
    assert order.returns == (Return(name="#1001-R1", status="DECLINED"),)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"returnStatus": "RETURN_REQUESTED"}, OrderStatus.RETURN_IN_PROGRESS),
        ({"cancelledAt": "2026-10-02T10:00:00Z"}, OrderStatus.CANCELLED),
        ({"displayFinancialStatus": "REFUNDED"}, OrderStatus.REFUNDED),
        ({"fulfillments": []}, OrderStatus.SHIPPED),
        ({"displayFulfillmentStatus": "UNFULFILLED", "fulfillments": []}, OrderStatus.PROCESSING),
    ],
)
def test_order_mapping_derives_the_status(changes: dict[str, Any], expected: OrderStatus) -> None:
    assert order_from_node(order_node(**changes)).status is expected


def test_order_mapping_tolerates_missing_optional_parts() -> None:
    order = order_from_node(
        order_node(
            email=None,
            customer=None,
            shippingAddress=None,
            statusPageUrl=None,
            fulfillments=None,
            refunds=None,
            returns=None,
            lineItems={"nodes": []},
        )
    )

    assert order.customer_email is None
    assert order.shipping_address is None
    assert (order.shipments, order.refunds, order.returns, order.items) == ((), (), (), ())
    assert order.belongs_to(SARA) is False


@pytest.mark.parametrize(
    ("cancelled", "financial", "fulfillment", "return_status", "shipments", "expected"),
    [
        (True, "REFUNDED", "FULFILLED", "RETURNED", ["DELIVERED"], OrderStatus.CANCELLED),
        (False, "REFUNDED", "FULFILLED", "RETURNED", ["DELIVERED"], OrderStatus.REFUNDED),
        (False, "PARTIALLY_REFUNDED", "FULFILLED", "RETURNED", [], OrderStatus.RETURNED),
        (
            False,
            "PAID",
            "FULFILLED",
            "RETURN_REQUESTED",
            ["DELIVERED"],
            OrderStatus.RETURN_IN_PROGRESS,
        ),
        (False, "PAID", "FULFILLED", "IN_PROGRESS", ["DELIVERED"], OrderStatus.RETURN_IN_PROGRESS),
        (False, "PAID", "FULFILLED", "INSPECTION_COMPLETE", [], OrderStatus.RETURN_IN_PROGRESS),
        (False, "PAID", "ON_HOLD", "NO_RETURN", [], OrderStatus.ON_HOLD),
        (False, "PAID", "FULFILLED", None, ["DELIVERED", "DELAYED"], OrderStatus.DELAYED),
        (False, "PAID", "FULFILLED", None, ["ATTEMPTED_DELIVERY"], OrderStatus.DELAYED),
        (False, "PAID", "PARTIALLY_FULFILLED", None, ["FAILURE"], OrderStatus.DELAYED),
        (False, "PAID", "FULFILLED", None, ["NOT_DELIVERED"], OrderStatus.DELAYED),
        (False, "PAID", "FULFILLED", None, ["DELIVERED", "DELIVERED"], OrderStatus.DELIVERED),
        (False, "PAID", "FULFILLED", "NO_RETURN", ["PICKED_UP"], OrderStatus.DELIVERED),
        (
            False,
            "PAID",
            "FULFILLED",
            None,
            ["DELIVERED", "OUT_FOR_DELIVERY"],
            OrderStatus.OUT_FOR_DELIVERY,
        ),
        (False, "PAID", "PARTIALLY_FULFILLED", None, ["DELIVERED"], OrderStatus.PARTIALLY_SHIPPED),
        (False, "PAID", "PARTIALLY_FULFILLED", None, ["IN_TRANSIT"], OrderStatus.PARTIALLY_SHIPPED),
        (False, "PAID", "FULFILLED", None, ["DELIVERED", "IN_TRANSIT"], OrderStatus.IN_TRANSIT),
        (False, "PAID", "FULFILLED", None, [], OrderStatus.SHIPPED),
        (False, "PAID", "FULFILLED", None, ["MARKED_AS_FULFILLED"], OrderStatus.SHIPPED),
        (False, "PAID", "FULFILLED", None, ["FULFILLED"], OrderStatus.SHIPPED),
        (False, "PAID", "UNFULFILLED", None, ["LABEL_PRINTED"], OrderStatus.IN_TRANSIT),
        (False, "PAID", "UNFULFILLED", None, [], OrderStatus.PROCESSING),
        (False, "PENDING", "UNFULFILLED", "NO_RETURN", [], OrderStatus.PROCESSING),
        # A cancelled fulfilment or a voided label shipped nothing.
        (False, "PAID", "UNFULFILLED", None, ["CANCELED"], OrderStatus.PROCESSING),
        (False, "PAID", "UNFULFILLED", None, ["LABEL_VOIDED"], OrderStatus.PROCESSING),
        (False, "PAID", "FULFILLED", None, ["CANCELED", "DELIVERED"], OrderStatus.DELIVERED),
    ],
)
def test_order_status_decision_table(
    cancelled: bool,
    financial: str,
    fulfillment: str,
    return_status: str | None,
    shipments: list[str],
    expected: OrderStatus,
) -> None:
    status = order_status(
        cancelled=cancelled,
        financial=financial,
        fulfillment=fulfillment,
        return_status=return_status,
        shipment_statuses=shipments,
    )

    assert status is expected


async def test_find_order_cannot_tell_someone_elses_order_from_no_order(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(200, json=payload("orders_1001.json")),
            ok({"orders": {"nodes": []}}),
        ]
    )

    someone_elses = await shop.find_order("1001", customer_email="mallory@example.net")
    missing = await shop.find_order("1001", customer_email="mallory@example.net")

    assert someone_elses is None
    assert missing is None
    assert someone_elses == missing
    assert route.call_count == 2


async def test_find_order_skips_a_fuzzy_match_with_another_number(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=ok({"orders": {"nodes": [order_node(name="#10010")]}})
    )

    assert await shop.find_order("1001", customer_email=SARA) is None


async def test_find_order_accepts_the_customer_accounts_address(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    # A guest-checkout address differs from the account's; either one proves ownership.
    node = order_node(email="old-address@example.org")
    respx_mock.post(ENDPOINT).mock(return_value=ok({"orders": {"nodes": [node]}}))

    order = await shop.find_order("1001", customer_email=SARA)

    assert order is not None
    assert order.email == "old-address@example.org"


async def test_get_customer_maps_the_exact_customer(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=httpx.Response(200, json=payload("customers_sara.json"))
    )

    customer = await shop.get_customer(customer_email=SARA)

    assert customer is not None
    assert customer.id == "gid://shopify/Customer/7290135478359"
    assert customer.name == "Sara Ahmadi"
    assert customer.email == "Sara@Example.com"
    assert customer.orders_count == 25  # UnsignedInt64 arrives as the string "25"
    assert customer.amount_spent == Money(amount=Decimal("1234.56"), currency="EUR")
    assert isinstance(customer.amount_spent.amount, Decimal)
    assert customer.created_at == when("2024-03-11T12:00:00")
    assert customer.first_order_at == when("2024-03-11T12:05:09")
    assert customer.last_order_at == when("2026-10-02T09:14:31")


async def test_get_customer_returns_none_for_fuzzy_matches_only(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    body = payload("customers_sara.json")
    body["data"]["customers"]["nodes"] = body["data"]["customers"]["nodes"][:1]
    respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, json=body))

    assert await shop.get_customer(customer_email=SARA) is None


async def test_search_products_prices_in_the_shop_currency(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            ok({"shop": {"currencyCode": "EUR"}}),
            httpx.Response(200, json=payload("products_shirt.json")),
            httpx.Response(200, json=payload("products_shirt.json")),
        ]
    )

    products = await shop.search_products("linen shirt", limit=5)
    await shop.search_products("shirt", limit=5)

    assert "currencyCode" in sent(route, 0)["query"]
    assert route.call_count == 3  # the currency is asked once, then remembered
    (product,) = products
    assert product.id == "gid://shopify/Product/8812345678935"
    assert product.title == "Linen Shirt"
    assert product.handle == "linen-shirt"
    assert product.url == "https://demo-shop.example/products/linen-shirt"
    assert product.status == "ACTIVE"
    assert product.total_inventory == 12
    small, medium = product.variants
    assert small.title == "S / Sand"
    assert small.sku == "LS-S-SAND"
    assert small.price == Money(amount=Decimal("29.95"), currency="EUR")
    assert isinstance(small.price.amount, Decimal)
    assert small.available_for_sale is True
    assert small.inventory_quantity == 12
    assert medium.price == Money(amount=Decimal("31.50"), currency="EUR")
    assert medium.available_for_sale is False
    assert medium.inventory_quantity == 0


async def test_get_policies_reduces_html_to_text(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            httpx.Response(200, json=payload("policies.json")),
            httpx.Response(200, json=payload("products_shirt.json")),
        ]
    )

    refund, legal = await shop.get_policies()
    products = await shop.search_products("shirt", limit=5)

    assert refund.kind is PolicyKind.REFUND
    assert refund.title == "Refund policy"
    assert refund.url == "https://demo-shop.example/policies/refund-policy"
    assert "within 30 days of delivery" in refund.text
    assert "Keep the original tags" in refund.text
    assert "<" not in refund.text
    assert "alert" not in refund.text
    assert legal.kind is PolicyKind.OTHER  # LEGAL_NOTICE is not a kind we answer from
    assert legal.text == "Demo Shop B.V., Keizersgracht 1, Amsterdam"
    # The policies query also told us the currency: no separate currency query.
    assert route.call_count == 2
    assert products[0].variants[0].price.currency == "EUR"


# --- Mutations ---------------------------------------------------------------------------------


async def test_cancel_order_sends_the_variables_and_returns_the_job(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=ok(
            {
                "orderCancel": {
                    "job": {
                        "id": "gid://shopify/Job/4f6c1a2b-7d3e-4c1f-9a8b-2e5d6c7b8a90",
                        "done": False,
                    },
                    "orderCancelUserErrors": [],
                }
            }
        )
    )

    result = await shop.cancel_order(
        order_1001(), reason="CUSTOMER", staff_note="Customer asked by email"
    )

    body = sent(route)
    assert body["query"] == CANCEL_MUTATION
    assert body["variables"] == {
        "orderId": "gid://shopify/Order/5813920120919",
        "reason": "CUSTOMER",
        "staffNote": "Customer asked by email",
    }
    assert result == ActionResult(
        ok=True,
        summary="#1001 cancellation started",
        reference="gid://shopify/Job/4f6c1a2b-7d3e-4c1f-9a8b-2e5d6c7b8a90",
    )


async def test_cancel_order_user_errors_are_a_failed_result(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=ok(
            {
                "orderCancel": {
                    "job": None,
                    "orderCancelUserErrors": [
                        {
                            "field": ["orderId"],
                            "message": "Cannot cancel an order that has been fulfilled",
                            "code": "INVALID",
                        }
                    ],
                }
            }
        )
    )

    result = await shop.cancel_order(order_1001(), reason="CUSTOMER", staff_note="")

    assert result.ok is False
    assert result.reference is None
    assert result.user_errors == ("orderId: Cannot cancel an order that has been fulfilled",)


async def test_update_shipping_address_sends_the_whole_address(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        return_value=ok(
            {
                "orderUpdate": {
                    "order": {"id": "gid://shopify/Order/5813920120919"},
                    "userErrors": [],
                }
            }
        )
    )
    address = Address(
        name="Sara van den Berg",
        address1="Prinsengracht 263",
        address2=None,
        city="Amsterdam",
        province_code="NH",
        zip="1016 GV",
        country_code="NL",
    )

    result = await shop.update_shipping_address(order_1001(), address=address)

    assert result.ok is True
    assert sent(route)["variables"] == {
        "input": {
            "id": "gid://shopify/Order/5813920120919",
            "shippingAddress": {
                "firstName": "Sara van den",
                "lastName": "Berg",
                "address1": "Prinsengracht 263",
                "address2": None,
                "city": "Amsterdam",
                "provinceCode": "NH",
                "zip": "1016 GV",
                "countryCode": "NL",
            },
        }
    }


async def test_update_shipping_address_user_errors_are_a_failed_result(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        return_value=ok(
            {
                "orderUpdate": {
                    "order": None,
                    "userErrors": [
                        {"field": ["shippingAddress", "zip"], "message": "Zip is invalid"}
                    ],
                }
            }
        )
    )
    address = Address(
        name="Sara",
        address1="Prinsengracht 263",
        address2=None,
        city="Amsterdam",
        province_code=None,
        zip="ZZZ",
        country_code="NL",
    )

    result = await shop.update_shipping_address(order_1001(), address=address)

    assert result.ok is False
    assert result.user_errors == ("shippingAddress.zip: Zip is invalid",)


def returnable(*lines: tuple[str, str, int]) -> httpx.Response:
    """A returnableFulfillments answer: (fulfillment line item id, line item name, quantity)."""
    return ok(
        {
            "returnableFulfillments": {
                "nodes": [
                    {
                        "returnableFulfillmentLineItems": {
                            "nodes": [
                                {
                                    "quantity": quantity,
                                    "fulfillmentLineItem": {
                                        "id": line_id,
                                        "lineItem": {"name": name},
                                    },
                                }
                                for line_id, name, quantity in lines
                            ]
                        }
                    }
                ]
            }
        }
    )


RETURNABLE = (
    ("gid://shopify/FulfillmentLineItem/1101", "Linen Shirt - M / Sand", 1),
    ("gid://shopify/FulfillmentLineItem/1102", "Canvas Tote", 1),
)


async def test_request_return_includes_only_the_requested_titles(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            returnable(*RETURNABLE),
            ok(
                {
                    "returnRequest": {
                        "return": {
                            "id": "gid://shopify/Return/945815640",
                            "name": "#1001-R2",
                            "status": "REQUESTED",
                        },
                        "userErrors": [],
                    }
                }
            ),
        ]
    )

    result = await shop.request_return(
        order_1001(), item_titles=[" canvas tote "], note="The strap broke"
    )

    lookup, mutation = sent(route, 0), sent(route, 1)
    assert lookup["query"] == RETURNABLE_QUERY
    assert lookup["variables"] == {"orderId": "gid://shopify/Order/5813920120919"}
    assert mutation["query"] == RETURN_MUTATION
    assert mutation["variables"] == {
        "input": {
            "orderId": "gid://shopify/Order/5813920120919",
            "returnLineItems": [
                {
                    "fulfillmentLineItemId": "gid://shopify/FulfillmentLineItem/1102",
                    "quantity": 1,
                    "returnReason": "OTHER",
                    "customerNote": "The strap broke",
                }
            ],
        }
    }
    assert result == ActionResult(
        ok=True, summary="return #1001-R2 requested", reference="gid://shopify/Return/945815640"
    )


async def test_request_return_without_titles_includes_every_returnable_item(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            returnable(*RETURNABLE),
            ok({"returnRequest": {"return": {"id": "r", "name": "#1001-R2"}, "userErrors": []}}),
        ]
    )

    await shop.request_return(order_1001(), item_titles=None, note="x" * 500)

    lines = sent(route, 1)["variables"]["input"]["returnLineItems"]
    assert [line["fulfillmentLineItemId"] for line in lines] == [
        "gid://shopify/FulfillmentLineItem/1101",
        "gid://shopify/FulfillmentLineItem/1102",
    ]
    assert all(len(line["customerNote"]) == 300 for line in lines)


async def test_request_return_user_errors_are_a_failed_result(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        side_effect=[
            returnable(*RETURNABLE),
            ok(
                {
                    "returnRequest": {
                        "return": None,
                        "userErrors": [
                            {
                                "field": ["input", "returnLineItems", "0", "quantity"],
                                "message": "Quantity is not returnable",
                            }
                        ],
                    }
                }
            ),
        ]
    )

    result = await shop.request_return(order_1001(), item_titles=["Canvas Tote"], note="")

    assert result.ok is False
    assert result.reference is None
    assert result.user_errors == ("input.returnLineItems.0.quantity: Quantity is not returnable",)


@pytest.mark.parametrize(
    ("lines", "titles"),
    [((), None), (RETURNABLE, ["Wool Scarf"])],
    ids=["nothing-returnable", "no-title-matches"],
)
async def test_request_return_with_nothing_returnable_never_calls_the_mutation(
    respx_mock: respx.MockRouter,
    shop: ShopifyShop,
    lines: tuple[tuple[str, str, int], ...],
    titles: list[str] | None,
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=returnable(*lines))

    result = await shop.request_return(order_1001(), item_titles=titles, note="")

    assert result.ok is False
    assert result.user_errors == ("no returnable items matched",)
    assert route.call_count == 1
    assert sent(route)["query"] == RETURNABLE_QUERY


def suggested_refund(*transactions: dict[str, Any]) -> httpx.Response:
    return ok(
        {
            "order": {
                "suggestedRefund": {
                    "amountSet": {"shopMoney": {"amount": "54.55", "currencyCode": "EUR"}},
                    "suggestedTransactions": list(transactions),
                }
            }
        }
    )


CARD_TRANSACTION = {
    "gateway": "shopify_payments",
    "kind": "SUGGESTED_REFUND",
    "amountSet": {"shopMoney": {"amount": "54.55"}},
    "parentTransaction": {"id": "gid://shopify/OrderTransaction/6874563214567"},
}


async def test_refund_order_turns_suggested_transactions_into_refunds(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    gift_card = {
        "gateway": "gift_card",
        "kind": "SUGGESTED_REFUND",
        "amountSet": {"shopMoney": {"amount": "10.00"}},
        "parentTransaction": {"id": "gid://shopify/OrderTransaction/6874563214568"},
    }
    route = respx_mock.post(ENDPOINT).mock(
        side_effect=[
            suggested_refund(CARD_TRANSACTION, gift_card),
            ok(
                {
                    "refundCreate": {
                        "refund": {
                            "id": "gid://shopify/Refund/912345678",
                            "totalRefundedSet": {
                                "shopMoney": {"amount": "64.55", "currencyCode": "EUR"}
                            },
                        },
                        "userErrors": [],
                    }
                }
            ),
        ]
    )

    result = await shop.refund_order(order_1001(), note="Parcel lost in transit")

    suggestion, mutation = sent(route, 0), sent(route, 1)
    assert suggestion["query"] == SUGGESTED_REFUND_QUERY
    assert suggestion["variables"] == {"orderId": "gid://shopify/Order/5813920120919"}
    assert mutation["query"] == REFUND_MUTATION
    assert mutation["variables"] == {
        "input": {
            "orderId": "gid://shopify/Order/5813920120919",
            "note": "Parcel lost in transit",
            "notify": True,
            "shipping": {"fullRefund": True},
            "transactions": [
                {
                    "orderId": "gid://shopify/Order/5813920120919",
                    "gateway": "shopify_payments",
                    "kind": "REFUND",
                    "amount": "54.55",
                    "parentId": "gid://shopify/OrderTransaction/6874563214567",
                },
                {
                    "orderId": "gid://shopify/Order/5813920120919",
                    "gateway": "gift_card",
                    "kind": "REFUND",
                    "amount": "10.00",
                    "parentId": "gid://shopify/OrderTransaction/6874563214568",
                },
            ],
        }
    }
    assert result == ActionResult(
        ok=True, summary="64.55 EUR refunded on #1001", reference="gid://shopify/Refund/912345678"
    )


async def test_refund_order_user_errors_are_a_failed_result(
    respx_mock: respx.MockRouter, shop: ShopifyShop
) -> None:
    respx_mock.post(ENDPOINT).mock(
        side_effect=[
            suggested_refund(CARD_TRANSACTION),
            ok(
                {
                    "refundCreate": {
                        "refund": None,
                        "userErrors": [
                            {
                                "field": ["transactions", "0", "amount"],
                                "message": "Amount cannot exceed the refundable amount",
                            }
                        ],
                    }
                }
            ),
        ]
    )

    result = await shop.refund_order(order_1001(), note="")

    assert result.ok is False
    assert result.reference is None
    assert result.user_errors == (
        "transactions.0.amount: Amount cannot exceed the refundable amount",
    )


@pytest.mark.parametrize(
    "transactions",
    [
        (),
        (
            {
                "gateway": "shopify_payments",
                "kind": "SUGGESTED_REFUND",
                "amountSet": {"shopMoney": {"amount": "0.00"}},
                "parentTransaction": {"id": "gid://shopify/OrderTransaction/1"},
            },
        ),
        ({"gateway": "manual", "kind": "SUGGESTED_REFUND", "amountSet": {"shopMoney": None}},),
    ],
    ids=["none", "zero", "no-amount"],
)
async def test_refund_order_with_nothing_to_refund_never_calls_the_mutation(
    respx_mock: respx.MockRouter, shop: ShopifyShop, transactions: tuple[dict[str, Any], ...]
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=suggested_refund(*transactions))

    result = await shop.refund_order(order_1001(), note="")

    assert result.ok is False
    assert result.user_errors == ("no refundable transaction",)
    assert route.call_count == 1


def test_a_cancelled_fulfilment_and_its_tracking_are_never_shown() -> None:
    node = order_node()
    voided = {
        "status": "CANCELLED",
        "displayStatus": "LABEL_VOIDED",
        "createdAt": "2026-11-10T09:00:00Z",
        "inTransitAt": None,
        "deliveredAt": None,
        "estimatedDeliveryAt": None,
        "trackingInfo": [{"company": "DHL", "number": "VOIDED123", "url": "https://www.dhl.de/x"}],
    }
    node["fulfillments"] = [*node["fulfillments"], voided]
    order = order_from_node(node)
    numbers = [t.number for s in order.shipments for t in s.tracking]
    assert "VOIDED123" not in numbers
    assert len(order.shipments) == len(order_from_node(order_node()).shipments)


def low_bucket(available: float, requested: float = 52) -> httpx.Response:
    cost = {
        "requestedQueryCost": requested,
        "actualQueryCost": requested,
        "throttleStatus": {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": available,
            "restoreRate": 100.0,
        },
    }
    return httpx.Response(
        200, json={"data": {"orders": {"nodes": []}}, "extensions": {"cost": cost}}
    )


async def test_requests_are_paced_by_the_bucket_the_last_answer_reported(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, sleep: RecordedSleep
) -> None:
    """Shared by every process on the app: waiting beforehand beats being throttled."""
    respx_mock.post(ENDPOINT).mock(side_effect=[low_bucket(2.0), low_bucket(1500.0)])
    clock = [100.0]
    client.pacer.clock = lambda: clock[0]
    query = "query SupportOrders { orders(first: 5) { nodes { id } } }"

    await client.execute(query)
    assert sleep.delays == []  # Nothing known about the bucket before the first answer.
    clock[0] += 0.1  # 10 points restored; the query costs 52 and 2 were left.
    await client.execute(query)
    assert sleep.delays == [pytest.approx(0.40)]
    assert client.pacer.wait_needed(query) == 0.0  # The last answer showed a full bucket.
