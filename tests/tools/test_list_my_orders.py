"""list_my_orders: the sender's recent orders, when they give no number."""

from __future__ import annotations

import json

import pytest

from app.store.demo import DemoShop
from app.tools.kit.context import CallOutcome
from tests.tools.calls import JONAS, SARA, TOM, assert_facts_are_the_content, context, invoke


async def test_list_my_orders_newest_first_and_only_the_senders(shop: DemoShop) -> None:
    result = await invoke(context(shop, SARA), "list_my_orders", {"limit": 3})
    assert_facts_are_the_content(result)
    orders = json.loads(result.content)["orders"]
    assert [o["order_number"] for o in orders] == ["#1001", "#1010", "#1006"]
    assert [o["status"] for o in orders] == ["in_transit", "cancelled", "delivered"]
    default = await invoke(context(shop, SARA), "list_my_orders", {"limit": None})
    names = [o["order_number"] for o in json.loads(default.content)["orders"]]
    assert len(names) == 5
    assert "#1022" not in names
    jonas = await invoke(context(shop, JONAS), "list_my_orders", {"limit": 10})
    assert [o["order_number"] for o in json.loads(jonas.content)["orders"]] == [
        "#1004",
        "#1011",
        "#1018",
        "#1024",
        "#1029",
    ]


async def test_list_my_orders_for_a_customer_without_orders(shop: DemoShop) -> None:
    result = await invoke(context(shop, TOM), "list_my_orders", {"limit": 5})
    assert result.outcome is CallOutcome.OK
    assert json.loads(result.content) == {"orders": []}


@pytest.mark.parametrize("arguments", ["{}", '{"limit": 0}', '{"limit": 50}'])
async def test_list_my_orders_refuses_a_missing_or_unbounded_limit(
    shop: DemoShop, arguments: str
) -> None:
    result = await invoke(context(shop, SARA), "list_my_orders", arguments)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith("Invalid arguments for list_my_orders: limit: ")
