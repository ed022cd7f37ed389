"""Vendor JSON to our models: a realistic order, missing parts, and the status rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from app.store.models import Address, LineItem, Money, OrderStatus, Refund, Return, Tracking
from app.store.shopify import ShopifyShop, order_from_node
from app.store.shopify.mapping import order_status
from tests.store.shopify.wire import ENDPOINT, SARA, order_node, payload, when


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
