"""Store changes a customer may ask for. The model can only propose them; a person approves.

Each function here runs only from `ToolRegistry.execute_approved`, after staff said yes; when
the model calls one, the registry records a proposal instead (see `kit/registry.py`). Refunds and
address changes have no offline hint: keyword rules cannot tell "refund me" from "where is my
refund?", nor read a new address; a person handles them from the drafted reply.
"""

from __future__ import annotations

from pydantic import Field

from app.store.models import ActionResult, Address, OrderStatus
from app.tools.kit import (
    Clue,
    OfflineHint,
    ProposalArgs,
    Scope,
    ToolArgs,
    ToolContext,
    ToolSet,
    Topic,
    find_own_order,
)

_ORDER = 'As the customer wrote it, e.g. "#1001".'
_REASON = "The customer's reason, in one sentence, for staff."
tools = ToolSet()


class CancelOrderArgs(ProposalArgs):
    """Which order to cancel, and why."""

    order_number: str = Field(max_length=60, description=_ORDER)
    reason: str = Field(max_length=500, description=_REASON)


class RequestReturnArgs(ProposalArgs):
    """Which order and items to return, and why."""

    order_number: str = Field(max_length=60, description=_ORDER)
    reason: str = Field(max_length=500, description=_REASON)
    items: list[str] | None = Field(
        max_length=20,
        description="Titles of the items to return, as in the order; null for every item.",
    )


class NewAddress(ToolArgs):
    """The address the customer wants the order sent to."""

    name: str = Field(max_length=100, description="Recipient's full name.")
    address1: str = Field(max_length=200)
    address2: str | None = Field(max_length=200)
    city: str = Field(max_length=100)
    province_code: str | None = Field(max_length=10)
    zip: str = Field(max_length=20)
    country_code: str = Field(min_length=2, max_length=2, description="ISO country code, e.g. DE.")


class ChangeShippingAddressArgs(ProposalArgs):
    """Which order gets which new address, and why."""

    order_number: str = Field(max_length=60, description=_ORDER)
    reason: str = Field(max_length=500, description=_REASON)
    new_address: NewAddress


class RefundOrderArgs(ProposalArgs):
    """Which order to refund, and why."""

    order_number: str = Field(max_length=60, description=_ORDER)
    reason: str = Field(max_length=500, description=_REASON)


@tools.tool(
    scope=Scope.SENDER,
    needs_approval=True,
    offline=OfflineHint(
        topic=Topic.CANCELLATION,
        args={"order_number": Clue.ORDER_NUMBER, "reason": Clue.REASON},
        order_status=frozenset({OrderStatus.PROCESSING, OrderStatus.ON_HOLD}),
    ),
)
async def cancel_order(ctx: ToolContext, args: CancelOrderArgs) -> ActionResult:
    """Propose cancelling one of this customer's orders (refund and restock); a person decides."""
    order = await find_own_order(ctx, args.order_number)
    return await ctx.shop.cancel_order(order, reason="CUSTOMER", staff_note=args.reason)


@tools.tool(
    scope=Scope.SENDER,
    needs_approval=True,
    offline=OfflineHint(
        topic=Topic.RETURN,
        args={"order_number": Clue.ORDER_NUMBER, "reason": Clue.REASON, "items": None},
        order_status=frozenset({OrderStatus.DELIVERED}),
    ),
)
async def request_return(ctx: ToolContext, args: RequestReturnArgs) -> ActionResult:
    """Propose opening a return for items of one of this customer's orders; a person decides."""
    order = await find_own_order(ctx, args.order_number)
    return await ctx.shop.request_return(order, item_titles=args.items, note=args.reason)


@tools.tool(scope=Scope.SENDER, needs_approval=True)
async def change_shipping_address(
    ctx: ToolContext, args: ChangeShippingAddressArgs
) -> ActionResult:
    """Propose a new shipping address for one of this customer's orders; a person decides."""
    order = await find_own_order(ctx, args.order_number)
    new = args.new_address
    address = Address(
        name=new.name,
        address1=new.address1,
        address2=new.address2,
        city=new.city,
        province_code=new.province_code,
        zip=new.zip,
        country_code=new.country_code.upper(),
    )
    return await ctx.shop.update_shipping_address(order, address=address)


@tools.tool(scope=Scope.SENDER, needs_approval=True)
async def refund_order(ctx: ToolContext, args: RefundOrderArgs) -> ActionResult:
    """Propose refunding one of this customer's orders to the original payment; a person decides."""
    order = await find_own_order(ctx, args.order_number)
    return await ctx.shop.refund_order(order, note=args.reason)
