"""The bundled demo store: the `Shop` protocol over Shopify-shaped fixtures, with no account.

`app/store/demo_data/*.json` hold nodes exactly as the Admin GraphQL API returns them for the
selections in `app/store/shopify/queries.py` (`OrderFields`, `CUSTOMER_QUERY`, `PRODUCTS_QUERY`,
`POLICIES_QUERY`), and they are mapped by the very functions production uses
(`order_from_node`, `customer_from_node`, ...), so the demo exercises the production mapping.
Tests serve the same nodes (`fixture_nodes`) as HTTP bodies to the real client.

The fixtures are written relative to `ANCHOR`; every timestamp is shifted by `now - ANCHOR`
when a `DemoShop` is built, so the demo never ages ("in transit since Tuesday" stays true).

Each instance owns a private copy of the data; store changes (cancel, return, address, refund)
act on that copy and answer with the `ActionResult` that `ShopifyShop` builds from Shopify's
answer, user errors included.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from app.store.models import (
    ActionResult,
    Address,
    Basket,
    Customer,
    CustomerPage,
    Money,
    Order,
    OrderStatus,
    Policy,
    Product,
    item_matches,
    same_mailbox,
)
from app.store.protocol import ShopQueryError
from app.store.shopify import (
    basket_from_node,
    connection_nodes,
    customer_from_node,
    order_from_node,
    order_name_query,
    policy_from_node,
    product_from_node,
    search_words,
    user_errors,
)

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
"""The moment the fixtures were written for; "now" in the fixtures' own terms."""

CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF"})
"""Shopify's `OrderCancelReason` values; anything else is rejected like a bad GraphQL variable."""

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_WORD = re.compile(r"\w+")
_PAID = frozenset({"PAID", "PARTIALLY_REFUNDED"})
_UNCAPTURED = frozenset({"AUTHORIZED", "PENDING", "EXPIRED"})
_SHIPPED = frozenset({"FULFILLED", "PARTIALLY_FULFILLED"})


# --- Fixtures ----------------------------------------------------------------------------------


@functools.cache
def _fixture(name: str) -> Any:
    """One fixture file, parsed once per process (callers copy before changing anything)."""
    text = resources.files("app.store").joinpath("demo_data", name).read_text(encoding="utf-8")
    return json.loads(text)


def _shift_timestamps(value: Any, delta: timedelta) -> Any:
    """A deep copy of `value` with every ISO-8601 timestamp string moved by `delta`.

    Timestamps come back in Shopify's own form, UTC with a `Z` and whole seconds.
    """
    if isinstance(value, dict):
        return {key: _shift_timestamps(item, delta) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift_timestamps(item, delta) for item in value]
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
        return _iso(moved)
    return value


def fixture_nodes(name: str, *, now: datetime) -> Any:
    """A fresh copy of the fixture file `name` ("orders.json", ...) as of `now`.

    Every timestamp moves by `now - ANCHOR`, rounded to whole seconds as Shopify writes them.
    """
    delta = timedelta(seconds=round((now - ANCHOR).total_seconds()))
    return _shift_timestamps(_fixture(name), delta)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _amount_text(amount: Decimal) -> str:
    """A `MoneyV2.amount` the way Shopify writes it: "149.0", "73.9"."""
    text = format(amount.normalize(), "f")
    return text if "." in text else f"{text}.0"


# --- The shop ----------------------------------------------------------------------------------


class DemoShop:
    """The `Shop` over the bundled fixtures, with ShopifyShop's semantics.

    Args:
        now: the demo's present; fixture timestamps move by `now - ANCHOR`. Defaults to the
            current UTC time. Tests pass `ANCHOR` to see the fixtures' own dates. Store changes
            are stamped with `now` when it is given, else with the time of the change.
    """

    def __init__(self, *, now: datetime | None = None) -> None:
        if now is not None and now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self._fixed_now = now
        self.now = now if now is not None else datetime.now(UTC)
        self._orders: list[dict[str, Any]] = fixture_nodes("orders.json", now=self.now)
        self._customers: list[dict[str, Any]] = fixture_nodes("customers.json", now=self.now)
        self._products: list[dict[str, Any]] = fixture_nodes("products.json", now=self.now)
        self._shop: dict[str, Any] = fixture_nodes("shop.json", now=self.now)
        self._created = 0

    # --- Reads ---

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        order_name_query(number)  # The same refusal of unnormalised numbers as ShopifyShop.
        for node in self._newest_first():
            if str(node["name"]).lstrip("#").lower() != number.lower():
                continue
            order = order_from_node(node)
            if order.belongs_to(customer_email):
                return order
        return None

    async def list_orders(self, *, customer_email: str, limit: int) -> list[Order]:
        orders = (order_from_node(node) for node in self._newest_first())
        return [order for order in orders if order.belongs_to(customer_email)][: max(0, limit)]

    async def get_customer(self, *, customer_email: str) -> Customer | None:
        for node in self._customers:
            if same_mailbox(_customer_email(node), customer_email):
                return customer_from_node(node)
        return None

    async def search_products(self, text: str, *, limit: int) -> list[Product]:
        """Active products whose title has a word starting with each search word."""
        words = _WORD.findall(search_words(text).lower())
        if not words:
            return []
        currency = str(self._shop.get("currencyCode") or "")
        found: list[Product] = []
        for node in self._products:
            title_words = _WORD.findall(str(node.get("title") or "").lower())
            if node.get("status") == "ACTIVE" and all(
                any(t.startswith(w) for t in title_words) for w in words
            ):
                found.append(product_from_node(node, currency=currency))
        return found[: max(0, limit)]

    async def delivered_orders(self, *, since: datetime, limit: int) -> list[Order]:
        """Delivered orders whose last parcel arrived since `since` (ShopifyShop's follow-ups)."""
        found = []
        for node in self._newest_first():
            order = order_from_node(node)
            arrived = [s.delivered_at for s in order.shipments if s.delivered_at is not None]
            if order.status is OrderStatus.DELIVERED and arrived and max(arrived) >= since:
                found.append(order)
        return found[: max(0, limit)]

    async def get_policies(self) -> list[Policy]:
        return [policy_from_node(node) for node in self._shop.get("shopPolicies") or []]

    # --- Store-wide reads (`ShopInsights`) ---

    async def customers_page(self, *, first: int, after: str | None) -> CustomerPage:
        """Customers in fixture order; the cursor is the index of the next one."""
        start = int(after) if after and after.isdigit() else 0
        end = start + max(1, first)
        return CustomerPage(
            customers=tuple(customer_from_node(n) for n in self._customers[start:end]),
            next_cursor=str(end) if end < len(self._customers) else None,
        )

    async def recent_baskets(self, *, first: int) -> list[Basket]:
        return [basket_from_node(node) for node in self._newest_first()[: max(0, first)]]

    async def catalogue(self, *, first: int) -> list[Product]:
        currency = str(self._shop.get("currencyCode") or "")
        active = [n for n in self._products if n.get("status") == "ACTIVE"]
        return [product_from_node(n, currency=currency) for n in active[: max(0, first)]]

    # --- Store changes ---

    async def cancel_order(self, order: Order, *, reason: str, staff_note: str) -> ActionResult:
        """Cancel, refund what was paid (or void what was only authorised), restock."""
        if reason not in CANCEL_REASONS:
            raise ShopQueryError(
                f"Shopify rejected the query: invalid OrderCancelReason {reason!r}"
            )
        node = self._node(order.id)
        errors: list[dict[str, Any]] = []
        if node is None:
            errors.append(_error("orderId", "Order does not exist", "NOT_FOUND"))
        elif (current := order_from_node(node)).cancelled_at is not None:
            errors.append(_error("orderId", "Order has already been cancelled", "INVALID"))
        elif _shipped(current):
            errors.append(
                _error("orderId", "Cannot cancel an order that has been fulfilled", "INVALID")
            )
        if errors or node is None:
            return ActionResult(
                ok=False,
                summary=f"{order.name} was not cancelled",
                user_errors=user_errors({"orderCancelUserErrors": errors}, "orderCancelUserErrors"),
            )
        node["cancelledAt"] = self._stamp()
        financial = node.get("displayFinancialStatus")
        if financial in _PAID:
            self._add_refund(node, note=None)
        elif financial in _UNCAPTURED:
            node["displayFinancialStatus"] = "VOIDED"
        for item in connection_nodes(node.get("lineItems")):
            item["currentQuantity"] = 0
        return ActionResult(
            ok=True,
            summary=f"{order.name} cancellation started",
            reference=f"gid://shopify/Job/{uuid.uuid4()}",
        )

    async def request_return(
        self, order: Order, *, item_titles: list[str] | None, note: str
    ) -> ActionResult:
        """Request a return of delivered items (all of them, or those titled as in the order)."""
        node = self._node(order.id)
        wanted = [title for title in item_titles or [] if title.strip()]
        returnable = [
            item
            for item in (_returnable_items(node) if node is not None else [])
            if not wanted or any(item_matches(w, str(item.get("name") or "")) for w in wanted)
        ]
        if node is None or not returnable:
            return ActionResult(
                ok=False,
                summary=f"{order.name} has nothing that can be returned",
                user_errors=("no returnable items matched",),
            )
        returns = node.setdefault("returns", {}).setdefault("nodes", [])
        created = {
            "id": f"gid://shopify/Return/{self._next_id(9_990_000)}",
            "name": f"{node['name']}-R{len(returns) + 1}",
            "status": "REQUESTED",
        }
        returns.append(created)
        node["returnStatus"] = "RETURN_REQUESTED"
        return ActionResult(
            ok=True, summary=f"return {created['name']} requested", reference=created["id"]
        )

    async def update_shipping_address(self, order: Order, *, address: Address) -> ActionResult:
        """Replace the shipping address of an order that has not shipped."""
        node = self._node(order.id)
        errors: list[dict[str, Any]] = []
        if node is None:
            errors.append(_error("id", "Order does not exist"))
        elif (current := order_from_node(node)).cancelled_at is not None:
            errors.append(_error("shippingAddress", "A cancelled order cannot be changed"))
        elif _shipped(current):
            errors.append(
                _error(
                    "shippingAddress",
                    "The shipping address cannot be changed after the order has shipped",
                )
            )
        if errors or node is None:
            return ActionResult(
                ok=False,
                summary=f"address of {order.name} unchanged",
                user_errors=user_errors({"userErrors": errors}, "userErrors"),
            )
        node["shippingAddress"] = {
            "name": address.name,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "provinceCode": address.province_code,
            "zip": address.zip,
            "countryCodeV2": address.country_code,
        }
        return ActionResult(ok=True, summary=f"shipping address of {order.name} updated")

    async def refund_order(self, order: Order, *, note: str) -> ActionResult:
        """Refund what is left on a paid order, shipping included."""
        node = self._node(order.id)
        if (
            node is None
            or order_from_node(node).cancelled_at is not None
            or node.get("displayFinancialStatus") not in _PAID
            or _refundable(node) <= 0
        ):
            # Shopify suggests no refund transaction: ShopifyShop answers exactly this.
            return ActionResult(
                ok=False,
                summary=f"nothing left to refund on {order.name}",
                user_errors=("no refundable transaction",),
            )
        refund = self._add_refund(node, note=note[:300])
        amount = Money(amount=refund, currency=_total_currency(node))
        return ActionResult(
            ok=True,
            summary=f"{amount} refunded on {order.name}",
            reference=f"gid://shopify/Refund/{self._next_id(9_980_000)}",
        )

    # --- Internals ---

    def _newest_first(self) -> list[dict[str, Any]]:
        return sorted(self._orders, key=lambda n: str(n["createdAt"]), reverse=True)

    def _node(self, order_id: str) -> dict[str, Any] | None:
        return next((n for n in self._orders if n["id"] == order_id), None)

    def _stamp(self) -> str:
        return _iso(self._fixed_now if self._fixed_now is not None else datetime.now(UTC))

    def _next_id(self, base: int) -> int:
        self._created += 1
        return base + self._created

    def _add_refund(self, node: dict[str, Any], *, note: str | None) -> Decimal:
        amount = _refundable(node)
        node.setdefault("refunds", []).append(
            {
                "createdAt": self._stamp(),
                "note": note,
                "totalRefundedSet": {
                    "shopMoney": {
                        "amount": _amount_text(amount),
                        "currencyCode": _total_currency(node),
                    }
                },
            }
        )
        node["displayFinancialStatus"] = "REFUNDED"
        return amount


def _error(field: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"field": [field], "message": message}
    if code is not None:
        error["code"] = code
    return error


def _customer_email(node: Mapping[str, Any]) -> str:
    return str((node.get("defaultEmailAddress") or {}).get("emailAddress") or "")


def _shop_money(money_set: Any) -> Mapping[str, Any]:
    return ((money_set or {}).get("shopMoney")) or {}


def _total_currency(node: Mapping[str, Any]) -> str:
    return str(_shop_money(node.get("totalPriceSet")).get("currencyCode") or "")


def _refundable(node: Mapping[str, Any]) -> Decimal:
    total = Decimal(str(_shop_money(node.get("totalPriceSet")).get("amount") or "0"))
    refunded = sum(
        (
            Decimal(str(_shop_money(r.get("totalRefundedSet")).get("amount") or "0"))
            for r in node.get("refunds") or []
        ),
        Decimal(0),
    )
    return total - refunded


def _shipped(order: Order) -> bool:
    """Whether anything of the order has left the warehouse (cancelled fulfilments aside)."""
    return bool(order.shipments) or order.fulfillment_status in _SHIPPED


def _returnable_items(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Line items a return can be requested for: kept items of a delivered order.

    "Delivered" is the customer-facing status production computes: fulfilled, every parcel
    delivered, not cancelled or refunded, and no return already open or done.
    """
    if order_from_node(node).status is not OrderStatus.DELIVERED:
        return []
    return [
        item
        for item in connection_nodes(node.get("lineItems"))
        if int(item.get("currentQuantity") or 0)
    ]
