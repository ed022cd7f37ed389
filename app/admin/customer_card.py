"""The customer card on the thread view: who the verified sender is in the store.

The card is read through the same tools the agent uses, scoped to the verified sender, so staff
see exactly what the agent may see. The calls go to a memory journal: a staff member opening a
page is not an agent tool call and is not logged as one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.admin.shops import NO_SHOP
from app.store.protocol import Shop
from app.store.segments import StoreCuts
from app.tools import tool_registry
from app.tools.customers import CustomerProfileFacts
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.orders import OrderLine, OrderListFacts

RECENT_ORDERS = 5
NOT_VERIFIED = "sender not verified: no customer data"


@dataclass(frozen=True, kw_only=True)
class CustomerCard:
    """What the page shows about the sender."""

    address: str | None
    verified: bool
    profile: CustomerProfileFacts | None = None
    orders: list[OrderLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Why something is missing (not verified, no account, the store did not answer)."""


def _note(outcome: CallOutcome, what: str) -> str:
    if outcome is CallOutcome.NOT_FOUND:
        return f"{what}: none in the store for this address"
    if outcome is CallOutcome.UNAVAILABLE:
        return f"{what}: the store is not answering, reload later"
    return f"{what}: lookup failed ({outcome.value})"


async def load_customer_card(
    shop: Shop | None, *, address: str | None, verified: bool, cuts: StoreCuts | None = None
) -> CustomerCard:
    """The sender's profile and recent orders, for a verified sender only.

    `shop` is the email's store's Shopify connection (None: the admin has none for that store);
    `cuts` the store's LFRM boundaries (`app.store.segment_cuts.load_cuts`), so the card's
    segment and its one-line meaning are the ones the agent saw (None: the defaults).
    """
    if not verified or not address:
        return CustomerCard(address=address, verified=False, notes=[NOT_VERIFIED])
    if shop is None:
        return CustomerCard(address=address, verified=True, notes=[NO_SHOP])
    ctx = ToolContext(
        shop=shop, sender=Sender(email=address), journal=MemoryJournal(), segment_cuts=cuts
    )
    profile_result, orders_result = await asyncio.gather(
        tool_registry().invoke(ctx, "get_customer_profile", {}),
        tool_registry().invoke(ctx, "list_my_orders", {"limit": RECENT_ORDERS}),
    )
    notes: list[str] = []
    profile = profile_result.facts
    if not isinstance(profile, CustomerProfileFacts):
        profile = None
        notes.append(_note(profile_result.outcome, "customer account"))
    listed = orders_result.facts
    orders: list[OrderLine] = []
    if isinstance(listed, OrderListFacts):
        orders = listed.orders
    else:
        notes.append(_note(orders_result.outcome, "orders"))
    return CustomerCard(address=address, verified=True, profile=profile, orders=orders, notes=notes)
