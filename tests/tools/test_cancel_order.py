"""cancel_order: proposed by the model, applied only after a person approves."""

from __future__ import annotations

import pytest

from app.store.demo import DemoShop
from app.store.models import OrderStatus
from app.tools import tool_registry
from app.tools.kit.context import ToolMiss
from tests.store.demo_nodes import every_order
from tests.tools.calls import (
    LENA,
    OLIVER,
    SARA,
    assert_proposed_then_applied,
    assert_refused_by_the_store,
    context,
    invoke,
    journal_of,
)

ARGUMENTS = {"order_number": "#1002", "reason": "Ordered the wrong size."}


async def test_cancel_order_proposes_and_changes_nothing_until_approved(shop: DemoShop) -> None:
    await assert_proposed_then_applied(
        shop,
        "cancel_order",
        email=OLIVER,
        arguments=ARGUMENTS,
        number="1002",
        before=OrderStatus.PROCESSING,
        after=OrderStatus.CANCELLED,
    )


async def test_a_shipped_order_cannot_be_cancelled(shop: DemoShop) -> None:
    await assert_refused_by_the_store(
        shop,
        "cancel_order",
        email=SARA,
        arguments={"order_number": "#1001", "reason": "Too slow."},
        error="orderId: Cannot cancel an order that has been fulfilled",
    )


async def test_approval_rechecks_the_order_belongs_to_the_sender(shop: DemoShop) -> None:
    oliver = context(shop, OLIVER)
    await invoke(oliver, "cancel_order", ARGUMENTS)
    (proposal,) = journal_of(oliver).proposals
    store_before = await every_order(shop)
    registry = tool_registry()
    with pytest.raises(ToolMiss):
        await registry.execute_approved(context(shop, LENA), "cancel_order", proposal.arguments)
    with pytest.raises(PermissionError):
        await registry.execute_approved(context(shop, None), "cancel_order", proposal.arguments)
    with pytest.raises(LookupError):
        await registry.execute_approved(oliver, "get_order", {"order_number": "1002"})
    assert await every_order(shop) == store_before
