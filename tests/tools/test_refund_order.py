"""refund_order: proposed by the model, refunded only after a person approves."""

from __future__ import annotations

from app.store.demo import DemoShop
from app.store.models import OrderStatus
from app.tools.kit.context import CallOutcome
from app.tools.kit.lookup import ORDER_NOT_FOUND
from tests.tools.calls import (
    LENA,
    assert_proposed_then_applied,
    assert_refused_by_the_store,
    context,
    invoke,
    journal_of,
)


async def test_refund_order_proposes_and_changes_nothing_until_approved(shop: DemoShop) -> None:
    await assert_proposed_then_applied(
        shop,
        "refund_order",
        email=LENA,
        arguments={"order_number": "#1007", "reason": "The shoes are too small."},
        number="1007",
        before=OrderStatus.DELIVERED,
        after=OrderStatus.REFUNDED,
    )


async def test_a_refunded_order_is_not_refunded_twice(shop: DemoShop) -> None:
    await assert_refused_by_the_store(
        shop,
        "refund_order",
        email=LENA,
        arguments={"order_number": "#1013", "reason": "Refund again."},
        error="no refundable transaction",
    )


async def test_no_proposal_for_someone_elses_order(shop: DemoShop) -> None:
    ctx = context(shop, LENA)
    others = await invoke(ctx, "refund_order", {"order_number": "#1002", "reason": "Refund me."})
    missing = await invoke(ctx, "refund_order", {"order_number": "#9999", "reason": "Refund me."})
    assert others.outcome is missing.outcome is CallOutcome.NOT_FOUND
    assert others.content == missing.content == ORDER_NOT_FOUND
    assert journal_of(ctx).proposals == []
