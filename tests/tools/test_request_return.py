"""request_return: proposed by the model, opened only after a person approves."""

from __future__ import annotations

import json

from app.store.demo import DemoShop
from app.store.models import OrderStatus
from app.tools.kit.context import CallOutcome
from tests.tools.calls import (
    LUCIA,
    SARA,
    assert_proposed_then_applied,
    assert_refused_by_the_store,
    context,
    invoke,
)


async def test_request_return_proposes_and_changes_nothing_until_approved(shop: DemoShop) -> None:
    await assert_proposed_then_applied(
        shop,
        "request_return",
        email=LUCIA,
        arguments={
            "order_number": "pedido 1003",
            "reason": "The bag is not what she expected.",
            "items": ["Leather Crossbody Bag - Tan"],
        },
        number="1003",
        before=OrderStatus.DELIVERED,
        after=OrderStatus.RETURN_IN_PROGRESS,
    )


async def test_nothing_returnable_is_the_stores_user_error(shop: DemoShop) -> None:
    await assert_refused_by_the_store(
        shop,
        "request_return",
        email=SARA,
        arguments={"order_number": "#1001", "reason": "Changed my mind.", "items": None},
        error="no returnable items matched",
    )


async def test_the_items_must_be_given_even_if_null(shop: DemoShop) -> None:
    arguments = json.dumps({"order_number": "1003", "reason": "x"})
    result = await invoke(context(shop, LUCIA), "request_return", arguments)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith("Invalid arguments for request_return: items: ")
