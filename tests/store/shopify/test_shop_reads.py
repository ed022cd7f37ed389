"""`ShopifyShop` reads: what each question sends, and how ownership filters the answers."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
import respx

from app.store.models import Money, PolicyKind
from app.store.shopify import ShopifyShop
from app.store.shopify.queries import CUSTOMER_QUERY, ORDERS_QUERY, PRODUCTS_QUERY
from tests.store.shopify.wire import ENDPOINT, SARA, TRIPWIRE, ok, order_node, payload, sent, when

# --- What is sent ---------------------------------------------------------------------------------


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


# --- What is answered -----------------------------------------------------------------------------


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
