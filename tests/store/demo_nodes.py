"""The demo store's fixtures as Shopify would send them: raw Admin API nodes and response bodies.

Tests use these to check the fixtures' shape and to answer the real client at the HTTP boundary
(`tests/fakes.py`'s `FakeShopify`). The nodes are the fixtures as of `now`, exactly as a
`DemoShop(now=now)` starts with them; what a `DemoShop` changes later is seen through its reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.store.demo import DemoShop, fixture_nodes
from app.store.models import Order, same_mailbox

THROTTLE_MAXIMUM = 2000.0
THROTTLE_RESTORE_RATE = 100.0


def graphql_response(
    data: Mapping[str, Any], *, requested_cost: int = 10, actual_cost: int | None = None
) -> dict[str, Any]:
    """Wrap `data` as the body of a successful Admin GraphQL response, cost extension included."""
    actual = requested_cost if actual_cost is None else actual_cost
    return {
        "data": dict(data),
        "extensions": {
            "cost": {
                "requestedQueryCost": requested_cost,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": THROTTLE_MAXIMUM,
                    "currentlyAvailable": THROTTLE_MAXIMUM - actual,
                    "restoreRate": THROTTLE_RESTORE_RATE,
                },
            }
        },
    }


class DemoNodes:
    """The demo fixtures as of `now`; every method returns a fresh copy."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def order_nodes(self) -> list[dict[str, Any]]:
        """Every `Order` node (the `OrderFields` shape), newest first."""
        nodes: list[dict[str, Any]] = fixture_nodes("orders.json", now=self.now)
        return sorted(nodes, key=lambda n: str(n["createdAt"]), reverse=True)

    def customer_nodes(self) -> list[dict[str, Any]]:
        """Every `Customer` node (the `CUSTOMER_QUERY` shape)."""
        nodes: list[dict[str, Any]] = fixture_nodes("customers.json", now=self.now)
        return nodes

    def product_nodes(self) -> list[dict[str, Any]]:
        """Every `Product` node (the `PRODUCTS_QUERY` shape), drafts included."""
        nodes: list[dict[str, Any]] = fixture_nodes("products.json", now=self.now)
        return nodes

    def shop_node(self) -> dict[str, Any]:
        """The `Shop` node (the `POLICIES_QUERY` shape)."""
        node: dict[str, Any] = fixture_nodes("shop.json", now=self.now)
        return node

    def orders_response(self, *names: str) -> dict[str, Any]:
        """`ORDERS_QUERY`'s response body: the orders named (e.g. "#1001"), or all of them."""
        nodes = [n for n in self.order_nodes() if not names or n["name"] in names]
        return graphql_response({"orders": {"nodes": nodes}}, requested_cost=52)

    def customers_response(self, *emails: str) -> dict[str, Any]:
        """`CUSTOMER_QUERY`'s response body: the customers with these emails, or all of them."""
        nodes = [
            n
            for n in self.customer_nodes()
            if not emails or any(same_mailbox(_customer_email(n), e) for e in emails)
        ]
        return graphql_response({"customers": {"nodes": nodes}}, requested_cost=14)

    def products_response(self, *titles: str) -> dict[str, Any]:
        """`PRODUCTS_QUERY`'s response body: the products with these titles, or all of them."""
        wanted = {t.lower() for t in titles}
        nodes = [n for n in self.product_nodes() if not wanted or n["title"].lower() in wanted]
        return graphql_response({"products": {"nodes": nodes}}, requested_cost=37)

    def policies_response(self) -> dict[str, Any]:
        """`POLICIES_QUERY`'s response body."""
        return graphql_response({"shop": self.shop_node()}, requested_cost=2)


async def every_order(shop: DemoShop) -> list[Order]:
    """Every order `shop` holds now, through its public reads (each fixture customer's list).

    Tests compare this before and after a refused or proposed change: the store is unchanged.
    """
    emails = [_customer_email(n) for n in DemoNodes(shop.now).customer_nodes()]
    return [o for e in emails for o in await shop.list_orders(customer_email=e, limit=100)]


def leaves(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every scalar in a JSON value, with the key it sits under (list items keep the list's)."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, k)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in leaves(item, key)]
    return [(key, value)]


def _customer_email(node: Mapping[str, Any]) -> str:
    return str((node.get("defaultEmailAddress") or {}).get("emailAddress") or "")
