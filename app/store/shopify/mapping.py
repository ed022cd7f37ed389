"""Vendor JSON to our models: Admin API nodes become `app.store.models`, and status rules.

Vendor JSON stops here: the rest of the service sees `Order`, `Customer`, `Product`, `Policy`
and `ActionResult` wording, never Shopify's field names. The demo store maps its fixtures with
these same functions, so the demo exercises the production mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.mail.cleantext import html_to_text
from app.store.models import (
    Address,
    Basket,
    Customer,
    LineItem,
    Money,
    Order,
    OrderStatus,
    Policy,
    PolicyKind,
    Product,
    Refund,
    Return,
    Shipment,
    Tracking,
    Variant,
)
from app.store.protocol import ShopQueryError

_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def money_from_node(node: Any) -> Money:
    """Map a `MoneyBag` (its `shopMoney`) or a `MoneyV2` to `Money`, rounded for the currency."""
    shop_money = (node or {}).get("shopMoney") or node or {}
    currency = str(shop_money.get("currencyCode") or "")
    try:
        amount = Decimal(str(shop_money.get("amount", "0")))
    except InvalidOperation:
        amount = Decimal("0")
    # Shopify sends "73.9"; a reply shows "73.90" (or "7390" for zero-decimal currencies).
    places = Decimal("1") if currency in _ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return Money(amount=amount.quantize(places), currency=currency)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _required_when(value: Any) -> datetime:
    when = _when(value)
    if when is None:
        raise ShopQueryError("Shopify answered without a required timestamp")
    return when


def connection_nodes(connection: Any) -> list[Any]:
    """The nodes of a connection (`{"nodes": [...]}`), or the items of a plain list."""
    if isinstance(connection, dict):
        return list(connection.get("nodes") or [])
    return list(connection or [])


_DELAYED = {"DELAYED", "FAILURE", "ATTEMPTED_DELIVERY", "NOT_DELIVERED"}
_DELIVERED = {"DELIVERED", "PICKED_UP"}
_NOT_SHIPPED = {"CANCELED", "CANCELLED", "LABEL_VOIDED", "ERROR"}
"""Fulfilments that ship nothing: display status (CANCELED, LABEL_VOIDED), or `status` fallback."""
_CARRIER_SCANNED = {
    "IN_TRANSIT",
    "CONFIRMED",
    "LABEL_PRINTED",
    "LABEL_PURCHASED",
    "READY_FOR_PICKUP",
}
_RETURN_OPEN = {"RETURN_REQUESTED", "IN_PROGRESS", "INSPECTION_COMPLETE"}


def order_status(
    *,
    cancelled: bool,
    financial: str,
    fulfillment: str,
    return_status: str | None,
    shipment_statuses: list[str],
) -> OrderStatus:
    """Decide the customer-facing status from Shopify's separate status fields."""
    if cancelled:
        return OrderStatus.CANCELLED
    if financial == "REFUNDED":
        return OrderStatus.REFUNDED
    if return_status == "RETURNED":
        return OrderStatus.RETURNED
    if return_status in _RETURN_OPEN:
        return OrderStatus.RETURN_IN_PROGRESS
    if fulfillment == "ON_HOLD":
        return OrderStatus.ON_HOLD
    shipped = [s for s in shipment_statuses if s not in _NOT_SHIPPED]
    undelivered = [s for s in shipped if s not in _DELIVERED]
    if any(s in _DELAYED for s in undelivered):
        return OrderStatus.DELAYED
    if fulfillment == "FULFILLED" and shipped and not undelivered:
        return OrderStatus.DELIVERED
    if "OUT_FOR_DELIVERY" in undelivered:
        return OrderStatus.OUT_FOR_DELIVERY
    if fulfillment == "PARTIALLY_FULFILLED":
        return OrderStatus.PARTIALLY_SHIPPED
    if any(s in _CARRIER_SCANNED for s in undelivered):
        return OrderStatus.IN_TRANSIT
    if fulfillment == "FULFILLED" or shipped:
        # Fulfilled without carrier events (no tracking, or "marked as fulfilled").
        return OrderStatus.SHIPPED
    return OrderStatus.PROCESSING


def order_from_node(node: Mapping[str, Any]) -> Order:
    """Map an Admin API `Order` node (the `OrderFields` selection) to an `Order`."""
    customer = node.get("customer") or {}
    # A cancelled fulfilment or voided label ships nothing: its tracking number must not be
    # shown to the customer as theirs.
    shipments = tuple(
        shipment
        for shipment in (_shipment(f) for f in node.get("fulfillments") or [])
        if shipment.status not in _NOT_SHIPPED
    )
    address = node.get("shippingAddress")
    return Order(
        id=str(node["id"]),
        name=str(node["name"]),
        email=node.get("email"),
        customer_email=((customer.get("defaultEmailAddress") or {}).get("emailAddress")),
        customer_name=customer.get("displayName"),
        created_at=_required_when(node.get("createdAt")),
        cancelled_at=_when(node.get("cancelledAt")),
        financial_status=str(node.get("displayFinancialStatus") or ""),
        fulfillment_status=str(node.get("displayFulfillmentStatus") or ""),
        return_status=node.get("returnStatus"),
        status=order_status(
            cancelled=bool(node.get("cancelledAt")),
            financial=str(node.get("displayFinancialStatus") or ""),
            fulfillment=str(node.get("displayFulfillmentStatus") or ""),
            return_status=node.get("returnStatus"),
            shipment_statuses=[s.status for s in shipments],
        ),
        status_page_url=node.get("statusPageUrl"),
        total=money_from_node(node.get("totalPriceSet")),
        shipping_address=_address(address) if address else None,
        items=tuple(line_item_from_node(item) for item in connection_nodes(node.get("lineItems"))),
        shipments=shipments,
        refunds=tuple(
            Refund(
                created_at=_required_when(refund.get("createdAt")),
                amount=money_from_node(refund.get("totalRefundedSet")),
                note=refund.get("note"),
            )
            for refund in node.get("refunds") or []
        ),
        returns=tuple(
            Return(name=str(r.get("name") or ""), status=str(r.get("status") or ""))
            for r in connection_nodes(node.get("returns"))
        ),
    )


def line_item_from_node(item: Mapping[str, Any]) -> LineItem:
    """Map an Admin API `LineItem` node to a `LineItem`."""
    return LineItem(
        title=str(item.get("name") or ""),
        variant=item.get("variantTitle"),
        sku=item.get("sku"),
        quantity=int(item.get("quantity") or 0),
        current_quantity=int(
            item["currentQuantity"]
            if item.get("currentQuantity") is not None
            else item.get("quantity") or 0
        ),
    )


def basket_from_node(node: Mapping[str, Any]) -> Basket:
    """Map an `Order` node to what it held (`BASKETS_QUERY`, or any order selection)."""
    return Basket(
        placed_at=_required_when(node.get("processedAt") or node.get("createdAt")),
        cancelled=node.get("cancelledAt") is not None,
        items=tuple(line_item_from_node(item) for item in connection_nodes(node.get("lineItems"))),
    )


def _shipment(node: Mapping[str, Any]) -> Shipment:
    return Shipment(
        status=str(node.get("displayStatus") or node.get("status") or ""),
        shipped_at=_when(node.get("createdAt")),
        in_transit_at=_when(node.get("inTransitAt")),
        delivered_at=_when(node.get("deliveredAt")),
        estimated_delivery_at=_when(node.get("estimatedDeliveryAt")),
        tracking=tuple(
            Tracking(company=t.get("company"), number=t.get("number"), url=t.get("url"))
            for t in node.get("trackingInfo") or []
        ),
    )


def _address(node: Mapping[str, Any]) -> Address:
    return Address(
        name=node.get("name"),
        address1=node.get("address1"),
        address2=node.get("address2"),
        city=node.get("city"),
        province_code=node.get("provinceCode"),
        zip=node.get("zip"),
        country_code=node.get("countryCodeV2") or node.get("countryCode"),
    )


def customer_from_node(node: Mapping[str, Any]) -> Customer:
    """Map an Admin API `Customer` node to a `Customer`."""
    first_orders = connection_nodes(node.get("orders"))
    return Customer(
        id=str(node["id"]),
        name=node.get("displayName"),
        email=str((node.get("defaultEmailAddress") or {}).get("emailAddress") or ""),
        orders_count=int(node.get("numberOfOrders") or 0),
        amount_spent=money_from_node(node.get("amountSpent")),
        created_at=_required_when(node.get("createdAt")),
        first_order_at=_when(first_orders[0].get("createdAt")) if first_orders else None,
        last_order_at=_when((node.get("lastOrder") or {}).get("createdAt")),
    )


def product_from_node(node: Mapping[str, Any], *, currency: str) -> Product:
    """Map an Admin API `Product` node to a `Product` (variant prices are shop currency)."""
    return Product(
        id=str(node["id"]),
        title=str(node.get("title") or ""),
        handle=str(node.get("handle") or ""),
        url=node.get("onlineStoreUrl"),
        status=str(node.get("status") or ""),
        total_inventory=node.get("totalInventory"),
        product_type=str(node.get("productType") or ""),
        collections=tuple(
            str(c.get("title") or "") for c in connection_nodes(node.get("collections"))
        ),
        variants=tuple(
            Variant(
                title=str(v.get("title") or ""),
                sku=v.get("sku"),
                price=Money(amount=Decimal(str(v.get("price") or "0")), currency=currency),
                available_for_sale=bool(v.get("availableForSale")),
                inventory_quantity=v.get("inventoryQuantity"),
            )
            for v in connection_nodes(node.get("variants"))
        ),
    )


def policy_from_node(node: Mapping[str, Any]) -> Policy:
    """Map a `ShopPolicy` node to a `Policy`, its HTML body reduced to text."""
    try:
        kind = PolicyKind(str(node.get("type")))
    except ValueError:
        kind = PolicyKind.OTHER
    return Policy(
        kind=kind,
        title=str(node.get("title") or ""),
        text=html_to_text(str(node.get("body") or "")).strip(),
        url=node.get("url"),
    )


def user_errors(payload: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    """Word a mutation payload's user errors (`field.path: message`) for an `ActionResult`.

    `keys` name the payload's error lists (`userErrors`, or `orderCancelUserErrors`); the demo
    store words its refusals with this too, so both stores read the same to staff.
    """
    errors: list[str] = []
    for key in keys:
        for error in payload.get(key) or []:
            field = ".".join(error.get("field") or [])
            errors.append(
                f"{field}: {error.get('message')}" if field else str(error.get("message"))
            )
    return tuple(errors)
