"""Order tools: one order by its number, and the sender's recent orders."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.store.models import STATUS_WORDS, Address, Money, Order, OrderStatus
from app.tools.kit import (
    Clue,
    OfflineHint,
    Scope,
    ToolArgs,
    ToolContext,
    ToolSet,
    Topic,
    find_own_order,
)

MAX_LISTED_ORDERS = 10
tools = ToolSet()


class TrackingFacts(BaseModel):
    """One parcel's tracking."""

    company: str | None
    number: str | None
    url: str | None


class ItemFacts(BaseModel):
    """One ordered line."""

    title: str
    variant: str | None
    quantity: int


class RefundFacts(BaseModel):
    """Money given back."""

    refunded_on: date
    amount: Money


class OrderFacts(BaseModel):
    """Everything about one order that support answers draw on."""

    order_number: str
    status: OrderStatus
    status_text: str
    placed_on: date
    items: list[ItemFacts]
    total: Money
    shipped_on: date | None
    estimated_delivery: date | None
    delivered_on: date | None
    tracking: list[TrackingFacts]
    refunds: list[RefundFacts]
    returns: list[str]
    shipping_address: Address | None
    status_page_url: str | None

    @classmethod
    def from_order(cls, order: Order) -> OrderFacts:
        """Curate an `Order` into the facts a reply may show."""
        shipped = [s.shipped_at for s in order.shipments if s.shipped_at]
        estimates = [
            s.estimated_delivery_at
            for s in order.shipments
            if s.estimated_delivery_at and s.delivered_at is None
        ]
        delivered = [s.delivered_at for s in order.shipments if s.delivered_at]
        return cls(
            order_number=order.name,
            status=order.status,
            status_text=STATUS_WORDS[order.status],
            placed_on=order.created_at.date(),
            items=[
                ItemFacts(title=i.title, variant=i.variant, quantity=i.quantity)
                for i in order.items
            ],
            total=order.total,
            shipped_on=min(shipped).date() if shipped else None,
            estimated_delivery=max(estimates).date() if estimates else None,
            delivered_on=max(delivered).date() if delivered else None,
            tracking=[
                TrackingFacts(company=t.company, number=t.number, url=t.url)
                for s in order.shipments
                for t in s.tracking
            ],
            refunds=[
                RefundFacts(refunded_on=r.created_at.date(), amount=r.amount) for r in order.refunds
            ],
            returns=[f"{r.name}: {r.status.lower().replace('_', ' ')}" for r in order.returns],
            shipping_address=order.shipping_address,
            status_page_url=order.status_page_url,
        )

    def summary(self) -> str:
        """One line for the audit log."""
        return f"order {self.order_number}: {self.status.value}"


class OrderLine(BaseModel):
    """One order in a list."""

    order_number: str
    status: OrderStatus
    status_text: str
    placed_on: date
    total: Money
    items: int


class OrderListFacts(BaseModel):
    """The sender's recent orders, newest first."""

    orders: list[OrderLine]

    def summary(self) -> str:
        """One line for the audit log."""
        return f"{len(self.orders)} orders"


class GetOrderArgs(ToolArgs):
    """Which order to look up."""

    order_number: str = Field(
        max_length=60,
        description='The order number as the customer wrote it, e.g. "#1001" or "1001".',
    )


class ListMyOrdersArgs(ToolArgs):
    """How many orders to list."""

    limit: int | None = Field(
        ge=1, le=MAX_LISTED_ORDERS, description="How many recent orders to list (default 5)."
    )


@tools.tool(
    scope=Scope.SENDER,
    offline=OfflineHint(topic=Topic.ORDER, args={"order_number": Clue.ORDER_NUMBER}),
)
async def get_order(ctx: ToolContext, args: GetOrderArgs) -> OrderFacts:
    """Look up one of this customer's orders by its number.

    Status, items, total, shipping and tracking, estimated delivery, refunds and returns.
    """
    return OrderFacts.from_order(await find_own_order(ctx, args.order_number))


@tools.tool(
    scope=Scope.SENDER,
    offline=OfflineHint(topic=Topic.ORDER, args={"limit": 3}, unless=Clue.ORDER_NUMBER),
)
async def list_my_orders(ctx: ToolContext, args: ListMyOrdersArgs) -> OrderListFacts:
    """List this customer's most recent orders, newest first, when they give no order number."""
    orders = await ctx.shop.list_orders(customer_email=ctx.verified_email, limit=args.limit or 5)
    return OrderListFacts(
        orders=[
            OrderLine(
                order_number=o.name,
                status=o.status,
                status_text=STATUS_WORDS[o.status],
                placed_on=o.created_at.date(),
                total=o.total,
                items=sum(i.quantity for i in o.items),
            )
            for o in orders
        ]
    )
