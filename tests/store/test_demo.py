"""`DemoShop` reads with ShopifyShop's semantics (ownership, search), its moving clock, and the
same fixtures answering the real `ShopifyShop` over HTTP."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.store.demo import ANCHOR, DemoShop
from app.store.models import same_mailbox
from app.store.protocol import Shop
from app.store.segments import DEFAULT_CUTS, Segment, place_customer
from app.store.shopify import ShopifyGraphQL, ShopifyShop, StaticToken
from tests.store.demo_nodes import DemoNodes, graphql_response, leaves
from tests.store.demo_people import EMMA, JONAS, LENA, SARA, SARA_TAGGED, TOM, own_order

ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


FIXTURES = DemoNodes(ANCHOR)
"""The fixtures' raw nodes as a `DemoShop(now=ANCHOR)` starts with them."""


# --- Reads -------------------------------------------------------------------------------------


def test_demo_shop_is_a_shop() -> None:
    store: Shop = DemoShop(now=ANCHOR)  # mypy checks the protocol here
    assert isinstance(store, DemoShop)


async def test_find_order_returns_the_senders_own_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1001", SARA)
    assert order.name == "#1001"
    assert order.customer_name == "Sara Ahmadi"


async def test_someone_elses_order_is_indistinguishable_from_a_missing_one(
    shop: DemoShop,
) -> None:
    assert (await shop.find_order("1001", customer_email=SARA)) is not None
    others = await shop.find_order("1001", customer_email=LENA)
    missing = await shop.find_order("9999", customer_email=LENA)
    assert others is None
    assert missing is None
    assert others == missing


async def test_find_order_refuses_unnormalised_numbers_like_shopify_shop(shop: DemoShop) -> None:
    with pytest.raises(ValueError, match="normalised"):
        await shop.find_order("#1001", customer_email=SARA)


@pytest.mark.parametrize("sender", ["SARA.AHMADI@EXAMPLE.COM", "Sara.Ahmadi@Example.com", SARA])
async def test_ownership_is_case_insensitive(shop: DemoShop, sender: str) -> None:
    assert (await own_order(shop, "1001", sender)).name == "#1001"
    # #1006 was placed as SARA.AHMADI@EXAMPLE.COM.
    assert (await own_order(shop, "1006", sender)).email == SARA.upper()


async def test_a_plus_tag_address_is_a_different_mailbox(shop: DemoShop) -> None:
    assert await shop.find_order("1022", customer_email=SARA) is None
    assert (await own_order(shop, "1022", SARA_TAGGED)).name == "#1022"
    assert await shop.find_order("1001", customer_email=SARA_TAGGED) is None
    plain = await shop.list_orders(customer_email=SARA, limit=10)
    assert "#1022" not in [o.name for o in plain]
    tagged = await shop.get_customer(customer_email=SARA_TAGGED)
    customer = await shop.get_customer(customer_email=SARA)
    assert tagged is not None
    assert customer is not None
    assert tagged.id != customer.id


async def test_list_orders_is_newest_first_own_only_and_limited(shop: DemoShop) -> None:
    orders = await shop.list_orders(customer_email=SARA, limit=10)
    assert [o.name for o in orders] == ["#1001", "#1010", "#1006", "#1014", "#1019", "#1025"]
    assert all(o.belongs_to(SARA) for o in orders)
    created = [o.created_at for o in orders]
    assert created == sorted(created, reverse=True)
    assert [o.name for o in await shop.list_orders(customer_email=SARA, limit=2)] == [
        "#1001",
        "#1010",
    ]
    assert await shop.list_orders(customer_email=TOM, limit=5) == []
    assert await shop.list_orders(customer_email=SARA, limit=0) == []


async def test_get_customer_matches_the_whole_address_ignoring_case(shop: DemoShop) -> None:
    customer = await shop.get_customer(customer_email="  Lena@Example.DE ")
    assert customer is not None
    assert customer.name == "Lena Fischer"
    assert customer.orders_count == 3
    assert await shop.get_customer(customer_email="lena") is None
    assert await shop.get_customer(customer_email="example.de") is None
    assert await shop.get_customer(customer_email="nobody@example.com") is None


async def test_search_matches_every_word_of_the_title(shop: DemoShop) -> None:
    assert [p.title for p in await shop.search_products("linen shirt", limit=5)] == ["Linen Shirt"]
    assert [p.title for p in await shop.search_products("LINEN", limit=5)] == [
        "Linen Shirt",
        "Linen Trousers",
        "Linen Dress",
    ]
    assert [p.title for p in await shop.search_products("t-shirt", limit=5)] == [
        "Organic Cotton T-Shirt"
    ]
    assert [p.title for p in await shop.search_products("leather shoes", limit=5)] == [
        "Leather Derby Shoes"
    ]
    assert len(await shop.search_products("linen", limit=2)) == 2
    assert await shop.search_products("linen sofa", limit=5) == []


async def test_search_hides_draft_and_archived_products(shop: DemoShop) -> None:
    assert await shop.search_products("linen blazer", limit=5) == []
    assert await shop.search_products("blazer", limit=5) == []
    assert await shop.search_products("straw hat", limit=5) == []
    assert "Linen Blazer" not in [p.title for p in await shop.search_products("linen", limit=20)]


@pytest.mark.parametrize(
    "text", ["", "***", "status:DRAFT", "linen status:DRAFT", "title:*", "AND OR NOT", "*"]
)
async def test_search_syntax_cannot_widen_a_search(shop: DemoShop, text: str) -> None:
    assert await shop.search_products(text, limit=50) == []


async def test_search_results_carry_prices_and_stock(shop: DemoShop) -> None:
    (tote,) = await shop.search_products("canvas tote", limit=5)
    variants = {v.title: v for v in tote.variants}
    assert variants["Green"].available_for_sale is False
    assert variants["Green"].inventory_quantity == 0
    assert variants["Natural"].available_for_sale is True
    assert str(variants["Natural"].price) == "29.00 EUR"
    assert tote.url == "https://demo-store.example/products/canvas-tote"


# --- Time --------------------------------------------------------------------------------------


def _timestamps(value: Any) -> list[datetime]:
    return [
        datetime.fromisoformat(v.replace("Z", "+00:00"))
        for _, v in leaves(value)
        if isinstance(v, str) and ISO_Z.fullmatch(v)
    ]


def test_every_timestamp_moves_with_now() -> None:
    base = DemoNodes(ANCHOR)
    later = DemoNodes(ANCHOR + timedelta(days=30))
    for before, after in [
        (base.order_nodes(), later.order_nodes()),
        (base.customer_nodes(), later.customer_nodes()),
    ]:
        old, new = _timestamps(before), _timestamps(after)
        assert len(old) == len(new) > 30
        assert all(b - a == timedelta(days=30) for a, b in zip(old, new, strict=True))
    assert base.product_nodes() == later.product_nodes()
    assert base.shop_node() == later.shop_node()


async def test_mapped_dates_move_with_now() -> None:
    base = await own_order(DemoShop(now=ANCHOR), "1001", SARA)
    later = await own_order(DemoShop(now=ANCHOR + timedelta(days=30)), "1001", SARA)
    assert later.created_at - base.created_at == timedelta(days=30)
    assert base.created_at == datetime(2026, 11, 17, 15, 1, 48, tzinfo=UTC)
    (shipment,) = later.shipments
    assert shipment.estimated_delivery_at == datetime(2026, 12, 21, 18, tzinfo=UTC)
    customer = await DemoShop(now=ANCHOR + timedelta(days=30)).get_customer(customer_email=SARA)
    assert customer is not None
    assert customer.last_order_at == later.created_at


async def test_segments_do_not_age_when_now_moves() -> None:
    when = ANCHOR + timedelta(days=400)
    shop = DemoShop(now=when)
    for email, segment in [(SARA, Segment.CHAMPIONS), (EMMA, Segment.AT_RISK)]:
        customer = await shop.get_customer(customer_email=email)
        assert customer is not None
        assert place_customer(customer, DEFAULT_CUTS, now=when).segment is segment


async def test_now_defaults_to_the_current_time() -> None:
    before = datetime.now(UTC)
    shop = DemoShop()
    after = datetime.now(UTC)
    assert before <= shop.now <= after
    order = await own_order(shop, "1001", SARA)
    fixture_age = ANCHOR - datetime(2026, 11, 17, 15, 1, 48, tzinfo=UTC)
    assert abs((shop.now - order.created_at) - fixture_age) <= timedelta(seconds=1)
    assert all(ISO_Z.fullmatch(n["createdAt"]) for n in DemoNodes(shop.now).order_nodes())


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        DemoShop(now=datetime(2026, 11, 20, 12))  # noqa: DTZ001 - the point of the test


# --- GraphQL-shaped responses: the same fixtures through the real client -----------------------


def test_graphql_response_wraps_data_with_the_cost_extension() -> None:
    body = graphql_response({"orders": {"nodes": []}})
    assert body == {
        "data": {"orders": {"nodes": []}},
        "extensions": {
            "cost": {
                "requestedQueryCost": 10,
                "actualQueryCost": 10,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": 1990.0,
                    "restoreRate": 100.0,
                },
            }
        },
    }
    lower = graphql_response({}, requested_cost=52, actual_cost=12)["extensions"]["cost"]
    assert lower["actualQueryCost"] == 12
    assert lower["throttleStatus"]["currentlyAvailable"] == 1988.0


def test_response_helpers_select_nodes() -> None:
    orders = FIXTURES.orders_response("#1001", "#1005")["data"]["orders"]["nodes"]
    assert [n["name"] for n in orders] == ["#1001", "#1005"]
    assert len(FIXTURES.orders_response()["data"]["orders"]["nodes"]) == 30
    customers = FIXTURES.customers_response("LENA@example.de")["data"]["customers"]["nodes"]
    assert [n["displayName"] for n in customers] == ["Lena Fischer"]
    products = FIXTURES.products_response("canvas tote")["data"]["products"]["nodes"]
    assert [n["title"] for n in products] == ["Canvas Tote"]
    assert FIXTURES.policies_response()["data"]["shop"]["currencyCode"] == "EUR"


def _fake_shopify(demo: DemoNodes, requests: list[dict[str, Any]]) -> httpx.MockTransport:
    """Shopify's side of the wire, answering from the demo fixtures (a rough search)."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        query, variables = body["query"], body["variables"]
        search = str(variables.get("query", ""))
        if "SupportOrders" in query:
            if search.startswith("name:"):
                number = search.split()[0].removeprefix("name:")
                payload = demo.orders_response(f"#{number}")
            else:
                email = search.removeprefix("email:").strip('"')
                nodes = [
                    n
                    for n in demo.order_nodes()
                    if same_mailbox(n["email"], email)
                    or same_mailbox(n["customer"]["defaultEmailAddress"]["emailAddress"], email)
                ]
                payload = graphql_response({"orders": {"nodes": nodes[: variables["first"]]}})
        elif "SupportCustomer" in query:
            payload = demo.customers_response(search.removeprefix("email:").strip('"'))
        elif "SupportProducts" in query:
            payload = demo.products_response("Linen Shirt", "Canvas Tote")
        elif "SupportPolicies" in query:
            payload = demo.policies_response()
        elif "SupportCurrency" in query:
            payload = graphql_response({"shop": {"currencyCode": "EUR"}})
        else:
            return httpx.Response(400)
        return httpx.Response(200, json=payload)

    return httpx.MockTransport(answer)


async def test_shopify_shop_over_the_fixtures_answers_like_the_demo(shop: DemoShop) -> None:
    requests: list[dict[str, Any]] = []
    async with httpx.AsyncClient(transport=_fake_shopify(DemoNodes(shop.now), requests)) as http:
        client = ShopifyGraphQL(
            endpoint="https://demo-store.myshopify.com/admin/api/2026-10/graphql.json",
            tokens=StaticToken("shpat_test"),
            http=http,
        )
        real = ShopifyShop(client)
        for number, email in [("1001", SARA), ("1001", LENA), ("1006", SARA), ("1022", SARA)]:
            assert await real.find_order(number, customer_email=email) == await shop.find_order(
                number, customer_email=email
            )
        for email, limit in [(SARA, 10), (SARA, 3), (JONAS, 5), (TOM, 5)]:
            assert await real.list_orders(customer_email=email, limit=limit) == (
                await shop.list_orders(customer_email=email, limit=limit)
            )
        for email in [SARA, SARA_TAGGED, TOM, "nobody@example.com"]:
            assert await real.get_customer(customer_email=email) == await shop.get_customer(
                customer_email=email
            )
        assert await real.get_policies() == await shop.get_policies()
        expected = await shop.search_products("linen shirt", limit=5)
        expected += await shop.search_products("canvas tote", limit=5)
        assert await real.search_products("linen shirt", limit=5) == expected
    assert requests[-1]["variables"] == {"query": "linen shirt status:ACTIVE", "first": 5}
