"""get_customer_profile: the sender's account summary and loyalty segment."""

from __future__ import annotations

import json

import pytest

from app.store.demo import DemoShop
from app.tools.customers import NO_PROFILE
from app.tools.kit.context import CallOutcome
from tests.tools.calls import (
    EMMA,
    JONAS,
    LUCIA,
    MARCO,
    REZA,
    SARA,
    SOFIA,
    TOM,
    assert_facts_are_the_content,
    context,
    invoke,
)


@pytest.mark.parametrize(
    ("email", "segment", "orders"),
    [
        (SARA, "champions", 6),
        (JONAS, "loyal", 5),
        (REZA, "promising", 2),
        (EMMA, "at_risk", 3),
        (MARCO, "lost", 2),
        (SOFIA, "hibernating", 1),
        (LUCIA, "new", 1),
        (TOM, "new", 0),
    ],
)
async def test_customer_profile_segments(
    shop: DemoShop, email: str, segment: str, orders: int
) -> None:
    result = await invoke(context(shop, email), "get_customer_profile", {})
    assert_facts_are_the_content(result)
    facts = json.loads(result.content)
    assert facts["segment"] == segment
    assert facts["orders_count"] == orders


async def test_customer_profile_dates(shop: DemoShop) -> None:
    facts = json.loads((await invoke(context(shop, SARA), "get_customer_profile", {})).content)
    assert facts["name"] == "Sara Ahmadi"
    assert facts["last_order_on"] == "2026-11-17"
    assert facts["first_order_on"] == "2026-01-24"
    assert facts["days_since_last_order"] == 2
    assert facts["amount_spent"] == {"amount": "782.90", "currency": "EUR"}


async def test_customer_profile_of_a_stranger(shop: DemoShop) -> None:
    result = await invoke(context(shop, "stranger@example.com"), "get_customer_profile", {})
    assert result.outcome is CallOutcome.NOT_FOUND
    assert result.content == NO_PROFILE
