"""The sender's customer profile, with a segment in the spirit of LFRM.

Segments (loyalty, frequency, recency, monetary value), decided in this order, where R is days
since the last order, F the number of orders and M the amount spent:

- **New**: no orders yet, or one order placed within the last 90 days.
- **Champion**: F >= 5, R <= 90 and M >= 500 (in the shop's currency).
- **Loyal**: F >= 2 and R <= 180.
- **At risk**: F >= 2 and 180 < R <= 365: used to buy, has gone quiet.
- **Hibernating**: everyone else: the last order is over a year old, or a single order over
  90 days ago.

Loyalty (how long they have been a customer) is reported alongside as `customer_for_days`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from app.store.models import Customer, Money
from app.tools.kit import Scope, ToolArgs, ToolContext, ToolMiss, ToolSet

CHAMPION_SPEND = Decimal(500)
NO_PROFILE = "This sender has no customer account in the store. Answer without account details."

tools = ToolSet()


class Segment(StrEnum):
    """Where a customer stands with the store."""

    NEW = "new"
    CHAMPION = "champion"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    HIBERNATING = "hibernating"


def segment_for(customer: Customer, *, now: datetime) -> Segment:
    """Apply the rule in the module docstring."""
    frequency = customer.orders_count
    if frequency == 0 or customer.last_order_at is None:
        return Segment.NEW
    recency = (now - customer.last_order_at).days
    if frequency == 1 and recency <= 90:
        return Segment.NEW
    if frequency >= 5 and recency <= 90 and customer.amount_spent.amount >= CHAMPION_SPEND:
        return Segment.CHAMPION
    if frequency >= 2 and recency <= 180:
        return Segment.LOYAL
    if frequency >= 2 and recency <= 365:
        return Segment.AT_RISK
    return Segment.HIBERNATING


class CustomerProfileFacts(BaseModel):
    """The sender's account summary."""

    name: str | None
    orders_count: int
    amount_spent: Money
    customer_since: date
    customer_for_days: int
    first_order_on: date | None
    last_order_on: date | None
    days_since_last_order: int | None
    segment: Segment

    def summary(self) -> str:
        """One line for the audit log."""
        return f"{self.orders_count} orders, {self.segment.value}"


class GetCustomerProfileArgs(ToolArgs):
    """No arguments: the profile is always the verified sender's own."""


@tools.tool(scope=Scope.SENDER)
async def get_customer_profile(
    ctx: ToolContext, args: GetCustomerProfileArgs
) -> CustomerProfileFacts:
    """Get this customer's account summary.

    Name, number of orders, amount spent, first and last order dates, and loyalty segment.
    """
    customer = await ctx.shop.get_customer(customer_email=ctx.verified_email)
    if customer is None:
        raise ToolMiss(NO_PROFILE)
    last = customer.last_order_at
    return CustomerProfileFacts(
        name=customer.name,
        orders_count=customer.orders_count,
        amount_spent=customer.amount_spent,
        customer_since=customer.created_at.date(),
        customer_for_days=(ctx.now - customer.created_at).days,
        first_order_on=customer.first_order_at.date() if customer.first_order_at else None,
        last_order_on=last.date() if last else None,
        days_since_last_order=(ctx.now - last).days if last else None,
        segment=segment_for(customer, now=ctx.now),
    )
