"""`ShopifyShop` store changes: the mutations sent, and user errors as failed results."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from app.store.models import ActionResult, Address
from app.store.shopify import ShopifyShop
from app.store.shopify.queries import (
    CANCEL_MUTATION,
    REFUND_MUTATION,
    RETURN_MUTATION,
    RETURNABLE_QUERY,
    SUGGESTED_REFUND_QUERY,
)
from tests.store.shopify.wire import ENDPOINT, ok, order_1001, sent

# --- Cancel and address ---------------------------------------------------------------------------


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


# --- Returns --------------------------------------------------------------------------------------


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


# --- Refunds --------------------------------------------------------------------------------------


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
