"""change_shipping_address: proposed by the model, applied only after a person approves."""

from __future__ import annotations

import json

from app.store.demo import DemoShop
from app.store.models import OrderStatus
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome
from tests.tools.calls import (
    NEW_ADDRESS,
    OLIVER,
    SARA,
    assert_proposed_then_applied,
    assert_refused_by_the_store,
    context,
    invoke,
    journal_of,
    order_of,
)

ARGUMENTS = {"order_number": "1002", "reason": "Moved house.", "new_address": NEW_ADDRESS}


async def test_change_shipping_address_proposes_and_changes_nothing_until_approved(
    shop: DemoShop,
) -> None:
    await assert_proposed_then_applied(
        shop,
        "change_shipping_address",
        email=OLIVER,
        arguments=ARGUMENTS,
        number="1002",
        before=OrderStatus.PROCESSING,
        after=OrderStatus.PROCESSING,
    )


async def test_an_approved_address_change_lands_on_the_order(shop: DemoShop) -> None:
    ctx = context(shop, OLIVER)
    await invoke(ctx, "change_shipping_address", ARGUMENTS)
    (proposal,) = journal_of(ctx).proposals
    await tool_registry().execute_approved(ctx, "change_shipping_address", proposal.arguments)
    address = (await order_of(shop, "1002", OLIVER)).shipping_address
    assert address is not None
    assert (address.address1, address.zip, address.country_code) == (
        "4 Harbour View",
        "BS1 6XN",
        "GB",
    )


async def test_a_shipped_order_keeps_its_address(shop: DemoShop) -> None:
    await assert_refused_by_the_store(
        shop,
        "change_shipping_address",
        email=SARA,
        arguments={"order_number": "#1001", "reason": "Moved.", "new_address": NEW_ADDRESS},
        error="shippingAddress: The shipping address cannot be changed after the order has shipped",
    )


async def test_a_country_name_is_not_a_country_code(shop: DemoShop) -> None:
    arguments = {**ARGUMENTS, "new_address": {**NEW_ADDRESS, "country_code": "Germany"}}
    result = await invoke(context(shop, SARA), "change_shipping_address", json.dumps(arguments))
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith(
        "Invalid arguments for change_shipping_address: new_address.country_code: "
    )
