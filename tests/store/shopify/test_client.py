"""The transport at the HTTP boundary: request shape, retries, throttling, pacing, errors."""

from __future__ import annotations

import httpx
import pytest
import respx

from app.store.protocol import ShopAuthError, ShopQueryError, ShopUnavailable
from app.store.shopify import ShopifyGraphQL, ShopifyShop
from app.store.shopify.client import MAX_WAIT_SECONDS
from app.store.shopify.queries import CUSTOMER_QUERY, quoted_email
from tests.store.shopify.wire import (
    ENDPOINT,
    SARA,
    ClientFactory,
    RecordedSleep,
    graphql_errors,
    ok,
    payload,
    sent,
    throttled,
)

# --- Request shape --------------------------------------------------------------------------------


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


async def test_a_lone_surrogate_escape_from_shopify_becomes_a_replacement_character(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    # Valid JSON, but a string holding U+D800 cannot be sent to the model, stored or mailed.
    body = rb'{"data": {"shop": {"name": "Caf\ud800", "tags": ["\udfff", "\ud83d\ude00"]}}}'
    respx_mock.post(ENDPOINT).mock(return_value=httpx.Response(200, content=body))

    data = await client.execute("query { shop { name } }")

    assert data == {"shop": {"name": "Caf\ufffd", "tags": ["\ufffd", "\U0001f600"]}}
    data["shop"]["name"].encode("utf-8")  # would raise on a surrogate


async def test_execute_without_variables_sends_an_empty_object(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL
) -> None:
    route = respx_mock.post(ENDPOINT).mock(return_value=ok({"shop": {"currencyCode": "EUR"}}))

    await client.execute("query { shop { currencyCode } }")

    assert sent(route)["variables"] == {}


# --- Throttling, outages, retries -----------------------------------------------------------------


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


# --- Pacing ---------------------------------------------------------------------------------------


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


# --- GraphQL errors -------------------------------------------------------------------------------


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
