"""Order tools: one order by its number, and the sender's recent orders."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from app.replies.facts import (
    N_,
    Amount,
    Block,
    Bullets,
    Count,
    Day,
    Facts,
    Ident,
    Link,
    Paragraph,
    Phrase,
    Presenter,
    Row,
    Strong,
    Table,
    Text,
    Value,
)
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

CUSTOMER_STATUS_WORDS: dict[OrderStatus, str] = {
    # TRANSLATORS: an order's status, as in "Status: cancelled".
    OrderStatus.CANCELLED: N_("cancelled"),
    # TRANSLATORS: an order's status, as in "Status: refunded".
    OrderStatus.REFUNDED: N_("refunded"),
    # TRANSLATORS: an order's status, as in "Status: returned".
    OrderStatus.RETURNED: N_("returned"),
    # TRANSLATORS: an order's status, as in "Status: being returned".
    OrderStatus.RETURN_IN_PROGRESS: N_("being returned"),
    # TRANSLATORS: an order's status, as in "Status: delivered".
    OrderStatus.DELIVERED: N_("delivered"),
    # TRANSLATORS: an order's status, as in "Status: out for delivery today".
    OrderStatus.OUT_FOR_DELIVERY: N_("out for delivery today"),
    # TRANSLATORS: an order's status, as in "Status: delayed in transit".
    OrderStatus.DELAYED: N_("delayed in transit"),
    # TRANSLATORS: an order's status, as in "Status: on its way".
    OrderStatus.IN_TRANSIT: N_("on its way"),
    # TRANSLATORS: an order's status, as in "Status: shipped".
    OrderStatus.SHIPPED: N_("shipped"),
    # TRANSLATORS: an order's status, as in "Status: partly shipped".
    OrderStatus.PARTIALLY_SHIPPED: N_("partly shipped"),
    # TRANSLATORS: an order's status, as in "Status: on hold".
    OrderStatus.ON_HOLD: N_("on hold"),
    # TRANSLATORS: an order's status, as in "Status: being prepared for shipping".
    OrderStatus.PROCESSING: N_("being prepared for shipping"),
}
"""Each status in a customer's words (the catalogs translate them). They follow the tools'
English wording except where a customer needs different words than the model: the model is told
"not shipped yet" outright, the customer hears what happens next."""


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


class OrderFacts(Facts):
    """Everything about one order that support answers draw on."""

    kind = "order"

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

    def present(self, t: Presenter) -> list[Block]:
        """The order as a table: number and day, status, delivery, tracking, items, money."""
        rows = [
            Row(
                t.gettext("Order"),
                Phrase(
                    t.gettext("%(number)s (placed %(day)s)"),
                    {"number": Strong(Ident(self.order_number)), "day": Day(self.placed_on)},
                ),
            ),
            Row(t.gettext("Status"), Strong(t.gettext(CUSTOMER_STATUS_WORDS[self.status]))),
        ]
        if self.delivered_on:
            rows.append(Row(t.gettext("Delivered"), Day(self.delivered_on)))
        elif self.estimated_delivery:
            rows.append(Row(t.gettext("Expected"), Day(self.estimated_delivery)))
        for parcel in self.tracking:
            if parcel.number or parcel.url:
                rows.append(Row(t.gettext("Tracking"), _parcel(parcel, t)))
        items = [
            Phrase(
                t.gettext("%(quantity)s × %(title)s"),
                {"quantity": Count(i.quantity), "title": Text(i.title)},
            )
            for i in self.items
        ]
        rows += [Row(t.gettext("Items"), items), Row(t.gettext("Total"), Amount(self.total))]
        rows += [
            Row(
                t.gettext("Refunded"),
                Phrase(
                    t.gettext("%(amount)s on %(day)s"),
                    {"amount": Amount(r.amount), "day": Day(r.refunded_on)},
                ),
            )
            for r in self.refunds
        ]
        return [Table(rows)]

    def shown(self) -> dict[str, list[str]]:
        """The order's number and status."""
        return {"order": [self.order_number], "order_status": [self.status.value]}


def _parcel(parcel: TrackingFacts, t: Presenter) -> Value:
    """The parcel as "DHL: 0034...", the number linked to the carrier's page if there is one."""
    number: Value = Ident(parcel.number) if parcel.number else t.gettext("track your parcel")
    return Phrase(
        t.gettext("%(carrier)s: %(parcel)s"),
        {
            "carrier": Text(parcel.company) if parcel.company else t.gettext("Carrier"),
            "parcel": Link(parcel.url, number) if parcel.url else number,
        },
    )


class OrderLine(BaseModel):
    """One order in a list."""

    order_number: str
    status: OrderStatus
    status_text: str
    placed_on: date
    total: Money
    items: int


class OrderListFacts(Facts):
    """The sender's recent orders, newest first."""

    kind = "orders"

    orders: list[OrderLine]

    def summary(self) -> str:
        """One line for the audit log."""
        return f"{len(self.orders)} orders"

    def present(self, t: Presenter) -> list[Block]:
        """The orders as a list: number, day, status and total each (nothing without orders)."""
        if not self.orders:
            return []
        lines: list[Value] = [
            Phrase(
                t.gettext("%(number)s (%(day)s): %(status)s, %(total)s"),
                {
                    "number": Strong(Ident(line.order_number)),
                    "day": Day(line.placed_on),
                    "status": t.gettext(CUSTOMER_STATUS_WORDS[line.status]),
                    "total": Amount(line.total),
                },
            )
            for line in self.orders
        ]
        return [Paragraph(t.gettext("Here are your most recent orders:")), Bullets(lines)]

    def shown(self) -> dict[str, list[str]]:
        """The orders' numbers."""
        return {"orders": [line.order_number for line in self.orders]}


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
