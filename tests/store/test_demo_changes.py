"""`DemoShop` store changes: cancel, return, address and refund act on its own copy and answer
with the `ActionResult` ShopifyShop builds, user errors included."""

from __future__ import annotations

import pytest

from app.store.demo import ANCHOR, DemoShop, fixture_nodes
from app.store.models import Address, OrderStatus
from app.store.protocol import ShopQueryError
from tests.store.demo_nodes import every_order
from tests.store.demo_people import FREYA, JONAS, LENA, LUCIA, OLIVER, PIOTR, SARA, own_order

NEW_ADDRESS = Address(
    name="Oliver Smith",
    address1="4 Harbour View",
    address2=None,
    city="Bristol",
    province_code=None,
    zip="BS1 6XN",
    country_code="GB",
)


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


# --- Store changes -----------------------------------------------------------------------------


async def test_cancel_refunds_a_paid_unshipped_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="Ordered twice")
    assert result.ok
    assert result.summary == "#1002 cancellation started"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Job/")
    after = await own_order(shop, "1002", OLIVER)
    assert after.status is OrderStatus.CANCELLED
    assert after.cancelled_at == ANCHOR
    assert after.financial_status == "REFUNDED"
    assert [(r.amount, r.created_at) for r in after.refunds] == [(order.total, ANCHOR)]
    assert all(item.current_quantity == 0 for item in after.items)  # restocked


async def test_cancel_voids_an_authorised_payment(shop: DemoShop) -> None:
    order = await own_order(shop, "1009", FREYA)
    assert (await shop.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    after = await own_order(shop, "1009", FREYA)
    assert after.status is OrderStatus.CANCELLED
    assert after.financial_status == "VOIDED"
    assert after.refunds == ()


@pytest.mark.parametrize(
    ("number", "email", "error"),
    [
        ("1001", SARA, "orderId: Cannot cancel an order that has been fulfilled"),
        ("1008", PIOTR, "orderId: Cannot cancel an order that has been fulfilled"),
        ("1010", SARA, "orderId: Order has already been cancelled"),
    ],
)
async def test_cancel_refuses_shipped_or_cancelled_orders(
    shop: DemoShop, number: str, email: str, error: str
) -> None:
    before = await every_order(shop)
    order = await own_order(shop, number, email)
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not result.ok
    assert result.user_errors == (error,)
    assert result.summary == f"#{number} was not cancelled"
    assert await every_order(shop) == before


async def test_cancel_twice_fails_the_second_time(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    assert (await shop.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    again = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not again.ok
    assert again.user_errors == ("orderId: Order has already been cancelled",)


async def test_cancel_with_a_reason_shopify_does_not_know_is_a_query_error(
    shop: DemoShop,
) -> None:
    order = await own_order(shop, "1002", OLIVER)
    with pytest.raises(ShopQueryError):
        await shop.cancel_order(order, reason="because", staff_note="")


async def test_a_change_to_an_order_the_store_does_not_have_is_a_user_error(
    shop: DemoShop,
) -> None:
    order = (await own_order(shop, "1002", OLIVER)).model_copy(
        update={"id": "gid://shopify/Order/1"}
    )
    result = await shop.cancel_order(order, reason="CUSTOMER", staff_note="")
    assert not result.ok
    assert result.user_errors == ("orderId: Order does not exist",)
    assert not (await shop.refund_order(order, note="")).ok
    assert not (await shop.request_return(order, item_titles=None, note="")).ok
    assert not (await shop.update_shipping_address(order, address=NEW_ADDRESS)).ok


async def test_return_of_a_delivered_item(shop: DemoShop) -> None:
    order = await own_order(shop, "1003", LUCIA)
    result = await shop.request_return(
        order, item_titles=["leather crossbody bag - tan "], note="Not my style"
    )
    assert result.ok
    assert result.summary == "return #1003-R1 requested"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Return/")
    after = await own_order(shop, "1003", LUCIA)
    assert after.status is OrderStatus.RETURN_IN_PROGRESS
    assert after.return_status == "RETURN_REQUESTED"
    assert [(r.name, r.status) for r in after.returns] == [("#1003-R1", "REQUESTED")]
    again = await shop.request_return(after, item_titles=None, note="")
    assert not again.ok


async def test_return_of_every_item_when_none_is_named(shop: DemoShop) -> None:
    order = await own_order(shop, "1007", LENA)
    assert (await shop.request_return(order, item_titles=None, note="Too small")).ok
    assert (await own_order(shop, "1007", LENA)).status is OrderStatus.RETURN_IN_PROGRESS


@pytest.mark.parametrize(
    ("number", "email", "items"),
    [
        ("1001", SARA, None),  # in transit, not delivered
        ("1002", OLIVER, None),  # not shipped
        ("1010", SARA, None),  # cancelled
        ("1017", "ana.costa@example.pt", None),  # a return is already open
        ("1013", LENA, None),  # refunded in full
        ("1003", LUCIA, ["Wool Overcoat - M"]),  # not in this order
    ],
)
async def test_return_refused_with_shopifys_answer(
    shop: DemoShop, number: str, email: str, items: list[str] | None
) -> None:
    before = await every_order(shop)
    result = await shop.request_return(
        await own_order(shop, number, email), item_titles=items, note=""
    )
    assert not result.ok
    assert result.user_errors == ("no returnable items matched",)
    assert result.summary == f"#{number} has nothing that can be returned"
    assert await every_order(shop) == before


async def test_address_change_before_shipping(shop: DemoShop) -> None:
    order = await own_order(shop, "1002", OLIVER)
    result = await shop.update_shipping_address(order, address=NEW_ADDRESS)
    assert result.ok
    assert result.summary == "shipping address of #1002 updated"
    after = await own_order(shop, "1002", OLIVER)
    assert after.shipping_address == NEW_ADDRESS
    assert after.status is OrderStatus.PROCESSING


@pytest.mark.parametrize(
    ("number", "email", "error"),
    [
        (
            "1001",
            SARA,
            "shippingAddress: The shipping address cannot be changed after the order has shipped",
        ),
        (
            "1008",
            PIOTR,
            "shippingAddress: The shipping address cannot be changed after the order has shipped",
        ),
        ("1010", SARA, "shippingAddress: A cancelled order cannot be changed"),
    ],
)
async def test_address_change_refused_once_shipped_or_cancelled(
    shop: DemoShop, number: str, email: str, error: str
) -> None:
    before = await every_order(shop)
    order = await own_order(shop, number, email)
    result = await shop.update_shipping_address(order, address=NEW_ADDRESS)
    assert not result.ok
    assert result.user_errors == (error,)
    assert await every_order(shop) == before


async def test_refund_of_a_paid_order(shop: DemoShop) -> None:
    order = await own_order(shop, "1007", LENA)
    result = await shop.refund_order(order, note="Shoes too small, kept as a gift")
    assert result.ok
    assert result.summary == "149.00 EUR refunded on #1007"
    assert result.reference
    assert result.reference.startswith("gid://shopify/Refund/")
    after = await own_order(shop, "1007", LENA)
    assert after.status is OrderStatus.REFUNDED
    assert after.financial_status == "REFUNDED"
    (refund,) = after.refunds
    assert refund.amount == order.total
    assert refund.note == "Shoes too small, kept as a gift"
    again = await shop.refund_order(after, note="")
    assert not again.ok
    assert again.user_errors == ("no refundable transaction",)


async def test_refund_of_what_is_left_after_a_partial_refund(shop: DemoShop) -> None:
    order = await own_order(shop, "1014", SARA)
    result = await shop.refund_order(order, note="")
    assert result.ok
    assert result.summary == "128.00 EUR refunded on #1014"
    after = await own_order(shop, "1014", SARA)
    assert sum(r.amount.amount for r in after.refunds) == order.total.amount


@pytest.mark.parametrize(
    ("number", "email"),
    [("1013", LENA), ("1009", FREYA), ("1011", JONAS), ("1010", SARA)],
)
async def test_refund_refused_when_nothing_was_captured_or_is_left(
    shop: DemoShop, number: str, email: str
) -> None:
    before = await every_order(shop)
    result = await shop.refund_order(await own_order(shop, number, email), note="")
    assert not result.ok
    assert result.user_errors == ("no refundable transaction",)
    assert result.summary == f"nothing left to refund on #{number}"
    assert await every_order(shop) == before


async def test_each_instance_has_its_own_data() -> None:
    first, second = DemoShop(now=ANCHOR), DemoShop(now=ANCHOR)
    order = await own_order(first, "1002", OLIVER)
    assert (await first.cancel_order(order, reason="CUSTOMER", staff_note="")).ok
    assert (await own_order(first, "1002", OLIVER)).status is OrderStatus.CANCELLED
    assert (await own_order(second, "1002", OLIVER)).status is OrderStatus.PROCESSING
    assert (await own_order(DemoShop(now=ANCHOR), "1002", OLIVER)).status is (
        OrderStatus.PROCESSING
    )


async def test_changing_fixture_nodes_changes_neither_the_fixtures_nor_a_store() -> None:
    nodes = fixture_nodes("orders.json", now=ANCHOR)
    for node in nodes:
        node["cancelledAt"] = "2026-11-20T12:00:00Z"
    assert fixture_nodes("orders.json", now=ANCHOR) != nodes
    assert (await own_order(DemoShop(now=ANCHOR), "1002", OLIVER)).cancelled_at is None
