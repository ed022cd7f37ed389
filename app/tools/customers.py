"""The sender's customer profile, with an LFRM segment (`app.store.segments` holds the rule).

The segment is scored against the store's own customers when the pipeline passes their
boundaries (`ToolContext.segment_cuts`), else against `DEFAULT_CUTS`; it informs the reply's
tone, never which facts a customer may see.
"""

from __future__ import annotations

from datetime import date

from app.replies.facts import Facts
from app.store.models import Money
from app.store.segments import DEFAULT_CUTS, Segment, place_customer
from app.tools.kit import Scope, ToolArgs, ToolContext, ToolMiss, ToolSet

NO_PROFILE = "This sender has no customer account in the store. Answer without account details."

tools = ToolSet()

__all__ = ["CustomerProfileFacts", "Segment", "get_customer_profile", "tools"]


class CustomerProfileFacts(Facts):
    """The sender's account summary: for the model's tone, never shown in a reply."""

    kind = "customer_profile"

    name: str | None
    orders_count: int
    amount_spent: Money
    customer_since: date
    customer_for_days: int
    first_order_on: date | None
    last_order_on: date | None
    days_since_last_order: int | None
    segment: Segment
    segment_meaning: str = ""
    """One line that explains the segment ("loyal: orders often and still buys, ...").

    Empty in results stored before segments had meanings, so those still read back."""

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
    placement = place_customer(customer, ctx.segment_cuts or DEFAULT_CUTS, now=ctx.now)
    return CustomerProfileFacts(
        name=customer.name,
        orders_count=customer.orders_count,
        amount_spent=customer.amount_spent,
        customer_since=customer.created_at.date(),
        customer_for_days=(ctx.now - customer.created_at).days,
        first_order_on=customer.first_order_at.date() if customer.first_order_at else None,
        last_order_on=last.date() if last else None,
        days_since_last_order=(ctx.now - last).days if last else None,
        segment=placement.segment,
        segment_meaning=placement.meaning,
    )
