"""get_order: one of the sender's orders by the number as they wrote it."""

from __future__ import annotations

import json

import pytest

from app.store.demo import DemoShop
from app.store.models import OrderStatus
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome
from app.tools.kit.lookup import ORDER_NOT_FOUND
from tests.tools.calls import (
    LENA,
    REZA,
    SARA,
    SARA_TAGGED,
    assert_facts_are_the_content,
    context,
    invoke,
)


@pytest.mark.parametrize(
    "written", ["#1001", "1001", "order no. 1001", "۱۰۰۱", "١٠٠١", "１００１", "Bestellung 1001"]
)
async def test_get_order_understands_the_number_as_customers_write_it(
    shop: DemoShop, written: str
) -> None:
    ctx = context(shop, SARA)
    result = await invoke(ctx, "get_order", {"order_number": written})
    reference = await invoke(ctx, "get_order", {"order_number": "#1001"})
    assert_facts_are_the_content(result)
    assert result.content == reference.content
    facts = json.loads(result.content)
    assert facts["order_number"] == "#1001"
    assert facts["status"] == OrderStatus.IN_TRANSIT.value
    assert facts["placed_on"] == "2026-11-17"
    assert facts["estimated_delivery"] == "2026-11-21"
    (tracking,) = facts["tracking"]
    assert tracking["company"] == "DHL"
    assert tracking["url"].startswith("https://www.dhl.de/")


async def test_get_order_reports_the_delayed_parcel_to_its_owner(shop: DemoShop) -> None:
    result = await invoke(context(shop, REZA), "get_order", {"order_number": "۱۰۰۵"})
    facts = json.loads(result.content)
    assert facts["status"] == OrderStatus.DELAYED.value
    assert facts["estimated_delivery"] == "2026-11-13"


async def test_someone_elses_order_reads_exactly_like_a_missing_one(shop: DemoShop) -> None:
    ctx = context(shop, LENA)
    others = await invoke(ctx, "get_order", {"order_number": "#1002"})  # Oliver's
    missing = await invoke(ctx, "get_order", {"order_number": "#9999"})
    assert others.outcome is missing.outcome is CallOutcome.NOT_FOUND
    assert others.content == missing.content == ORDER_NOT_FOUND
    assert others.facts is missing.facts is None
    assert "Oliver" not in others.content
    assert "Bristol" not in others.content


async def test_ownership_ignores_case_but_not_plus_tags(shop: DemoShop) -> None:
    shouting = await invoke(
        context(shop, "Sara.Ahmadi@EXAMPLE.com"), "get_order", {"order_number": "1006"}
    )
    assert json.loads(shouting.content)["order_number"] == "#1006"
    plain = await invoke(context(shop, SARA), "get_order", {"order_number": "1022"})
    assert plain.content == ORDER_NOT_FOUND
    tagged = await invoke(context(shop, SARA_TAGGED), "get_order", {"order_number": "1022"})
    assert json.loads(tagged.content)["order_number"] == "#1022"


@pytest.mark.parametrize(
    ("arguments", "where"),
    [
        ("{}", "order_number"),
        (json.dumps({"order_number": "1" * 61}), "order_number"),
        (json.dumps({"order_number": "1001", "email": LENA}), "email"),
    ],
)
async def test_get_order_refuses_invalid_arguments(
    shop: DemoShop, arguments: str, where: str
) -> None:
    result = await invoke(context(shop, SARA), "get_order", arguments)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith(f"Invalid arguments for get_order: {where}: ")


def test_a_miss_is_an_order_lookup_that_found_nothing() -> None:
    # The reply then asks the customer to check the number (the pipeline asks the registry).
    registry = tool_registry()
    assert registry.missed_order_lookup("get_order", CallOutcome.NOT_FOUND.value)
    assert not registry.missed_order_lookup("get_order", CallOutcome.OK.value)
    assert not registry.missed_order_lookup("get_order", CallOutcome.UNAVAILABLE.value)
