"""Finding the sender's own order from a number as the customer wrote it.

"#1001", "1001", "order no. 1001", "Bestellung 1001" and Persian or Arabic digits ("۱۰۰۱") all
mean order 1001. An order that does not exist and an order of someone else's give the very same
answer, so a tool can never confirm that somebody else's order exists.
"""

from __future__ import annotations

import re

from app.store.models import Order
from app.tools.kit.context import ToolContext, ToolMiss

ORDER_NOT_FOUND = (
    "No order with that number was found for this customer. Ask them to check the number in "
    "their order confirmation email."
)
NO_ORDER_NUMBER = (
    "That does not contain an order number. Ask the customer for the number from their order "
    "confirmation email, or list their recent orders."
)

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits, and full-width digits, to ASCII.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩０１２３４５６７８９", "0123456789" * 3)
_NUMBER = re.compile(r"#?\s*([A-Za-z]{0,6}\d[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)")


def normalize_order_number(text: str) -> str | None:
    """Return the order number in `text` (without "#"), or None if there is none.

    A number written with "#" wins, then the first with three or more digits ("2 shirts,
    order 1001" is order 1001), then any number at all.
    """
    candidates = list(_NUMBER.finditer(text.translate(_DIGITS)[:200]))
    if not candidates:
        return None
    hashed = [m for m in candidates if m.group(0).startswith("#")]
    long = [m for m in candidates if sum(c.isdigit() for c in m.group(1)) >= 3]
    number = (hashed or long or candidates)[0].group(1)
    return number if len(number) <= 30 else None


async def find_own_order(ctx: ToolContext, written: str) -> Order:
    """Return the sender's order for a number as written, or raise `ToolMiss`."""
    number = normalize_order_number(written)
    if number is None:
        raise ToolMiss(NO_ORDER_NUMBER)
    order = await ctx.shop.find_order(number, customer_email=ctx.verified_email)
    if order is None:
        raise ToolMiss(ORDER_NOT_FOUND)
    return order
