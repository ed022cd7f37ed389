"""Store actions in words: who, which order, which items, what is proposed, what came of it.

A proposal's stored arguments and result are JSON with Shopify's `gid://` ids; staff should
read "cancel the order and refund 149.00 EUR" and "refund 149.00 EUR", not that. There is one
wording function per proposal tool (`app.tools.actions`), and a fallback for any other tool
that still never shows a `gid://` id. The raw JSON stays in the email's trace.

The order's items and total come from the same email's own `get_order` result (the verified
sender's order as the agent saw it), loaded for a page's proposals in two queries by
`proposal_facts`; without them the words say less, never something else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.schemas import ProposalView
from app.db.models import Message, ToolCall
from app.db.statuses import ProposalStatus
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome
from app.tools.orders import OrderFacts

GID = re.compile(r"gid://[\w.-]+/(\w+)/[\w.?=&%-]+")
_REFUNDED = re.compile(r"^(\d+(?:\.\d+)?\s+[A-Z]{3}) refunded\b")


@dataclass(frozen=True, kw_only=True)
class ProposalFacts:
    """What the page knows about a proposal's email: the customer and the order as looked up."""

    customer: str | None = None
    order: OrderFacts | None = None


@dataclass(frozen=True, kw_only=True)
class ActionWords:
    """A proposal as staff read it."""

    customer: str | None
    order: str
    items: list[str] = field(default_factory=list)
    proposed: str
    result: str | None
    """What came of it; None while it waits for a decision."""

    @property
    def headline(self) -> str:
        """What is proposed as a sentence's start ("Cancel the order and refund 149.00 EUR")."""
        return self.proposed[:1].upper() + self.proposed[1:]


def hide_gids(text: str) -> str:
    """`text` with every `gid://shopify/Refund/123` replaced by the kind of record ("refund")."""
    return GID.sub(lambda found: _words(found.group(1)), text)


def _words(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", camel).lower()


def _item(title: str, variant: str | None, quantity: int | None) -> str:
    name = title if not variant or variant in title else f"{title} ({variant})"
    return f"{quantity} × {name}" if quantity is not None else name


def _order_items(order: OrderFacts | None, wanted: Iterable[str] | None = None) -> list[str]:
    """The order's lines in words; with `wanted`, only the lines those titles name."""
    titles = [w.strip().casefold() for w in wanted or [] if w.strip()]
    if order is None:
        return [_item(t, None, None) for t in wanted or [] if t.strip()]
    lines = [
        i
        for i in order.items
        if not titles or any(t in i.title.casefold() or i.title.casefold() in t for t in titles)
    ]
    return [_item(i.title, i.variant, i.quantity) for i in lines]


def _total(order: OrderFacts | None) -> str | None:
    return str(order.total) if order is not None else None


def _address(value: Any) -> str:
    if not isinstance(value, Mapping):
        return "a new address"
    town = " ".join(str(value[k]) for k in ("zip", "city") if value.get(k))
    parts = [value.get("name"), value.get("address1"), value.get("address2"), town]
    parts += [value.get("province_code"), value.get("country_code")]
    return ", ".join(str(p) for p in parts if p)


# --- one function per proposal tool: (arguments, order facts) -> (items, what is proposed) ------

Proposal = tuple[list[str], str]


def cancel_order_words(arguments: Mapping[str, Any], order: OrderFacts | None) -> Proposal:
    """Cancelling refunds the payment and restocks (see `app.store.shopify.shop`)."""
    total = _total(order)
    refund = f"refund {total}" if total else "refund the payment"
    return _order_items(order), f"cancel the order and {refund}"


def refund_order_words(arguments: Mapping[str, Any], order: OrderFacts | None) -> Proposal:
    """A refund of what is left to refund, to the original payment."""
    total = _total(order)
    amount = f" (up to {total})" if total else ""
    return _order_items(order), f"refund the order to the original payment{amount}"


def request_return_words(arguments: Mapping[str, Any], order: OrderFacts | None) -> Proposal:
    """A return of the named items, or of every item."""
    wanted = arguments.get("items")
    titles = [str(t) for t in wanted] if isinstance(wanted, list) else None
    items = _order_items(order, titles)
    which = "the items below" if items else "every item"
    if titles is None:
        which = "every item"
    return items, f"open a return for {which}"


def change_shipping_address_words(
    arguments: Mapping[str, Any], order: OrderFacts | None
) -> Proposal:
    """The new address in one line."""
    return _order_items(order), (
        f"change the shipping address to {_address(arguments.get('new_address'))}"
    )


def fallback_words(tool: str, arguments: Mapping[str, Any]) -> Proposal:
    """A tool without its own wording: its name and arguments in words, never a `gid://` id."""
    shown = [
        f"{key.replace('_', ' ')}: {value}"
        for key, value in arguments.items()
        if key not in ("order_number", "reason") and isinstance(value, str | int | float)
    ]
    detail = f" ({'; '.join(shown)})" if shown else ""
    return [], hide_gids(f"{tool.replace('_', ' ')}{detail}")


PROPOSALS: dict[str, Callable[[Mapping[str, Any], OrderFacts | None], Proposal]] = {
    "cancel_order": cancel_order_words,
    "refund_order": refund_order_words,
    "request_return": request_return_words,
    "change_shipping_address": change_shipping_address_words,
}
DONE = {
    "cancel_order": "cancellation started",
    "request_return": "return requested",
    "change_shipping_address": "shipping address changed",
}


def result_words(tool: str, status: ProposalStatus, result: Mapping[str, Any] | None) -> str | None:
    """What came of a proposal in words: "return requested", "refund 149.00 EUR", "failed: ..."."""
    result = result or {}
    summary = hide_gids(str(result.get("summary") or "")).strip()
    if status is ProposalStatus.PENDING:
        return None
    if status is ProposalStatus.APPROVED:
        return "approved, being carried out"
    if status is ProposalStatus.REJECTED:
        reason = hide_gids(str(result.get("reason") or "")).strip()
        return f"declined: {reason}" if reason else "declined"
    if status is ProposalStatus.FAILED or result.get("ok") is False:
        errors = [hide_gids(str(e)) for e in result.get("user_errors") or [] if str(e).strip()]
        reason = "; ".join([summary, *errors] if summary else errors) or "no reason given"
        return f"failed: {reason}"
    if tool == "refund_order":
        refunded = _REFUNDED.match(summary)
        return f"refund {refunded.group(1)}" if refunded else summary or "refunded"
    if tool == "request_return":
        return summary if summary.startswith("return ") else DONE[tool]
    return DONE.get(tool) or summary or "done"


def words_for(proposal: ProposalView, facts: ProposalFacts | None = None) -> ActionWords:
    """A proposal in words, with the customer and the order's items when `facts` has them."""
    facts = facts or ProposalFacts()
    order = facts.order if facts.order and facts.order.order_number == proposal.order_name else None
    wording = PROPOSALS.get(proposal.tool)
    if wording is not None:
        items, proposed = wording(proposal.arguments, order)
    else:
        items, proposed = fallback_words(proposal.tool, proposal.arguments)
    return ActionWords(
        customer=facts.customer,
        order=hide_gids(proposal.order_name) or "-",
        items=[hide_gids(i) for i in items],
        proposed=hide_gids(proposed),
        result=result_words(proposal.tool, proposal.status, proposal.result),
    )


async def proposal_facts(
    session: AsyncSession, proposals: Iterable[ProposalView]
) -> dict[int, ProposalFacts]:
    """For each proposal (by id), its email's customer and the order its email looked up.

    Two queries whatever the number of proposals: their emails, and their `get_order` results.
    """
    listed = [p for p in proposals if p.message_id is not None]
    message_ids = sorted({p.message_id for p in listed if p.message_id is not None})
    if not message_ids:
        return {}
    senders = await session.execute(
        select(Message.id, Message.from_name, Message.from_address).where(
            Message.id.in_(message_ids)
        )
    )
    customers = {
        pk: (f"{name} <{address}>" if name and address else address or name)
        for pk, name, address in senders.all()
    }
    calls = await session.execute(
        select(ToolCall.message_id, ToolCall.result)
        .where(
            ToolCall.message_id.in_(message_ids),
            ToolCall.tool == "get_order",
            ToolCall.outcome == CallOutcome.OK.value,
        )
        .order_by(ToolCall.id)
    )
    orders: dict[tuple[int, str], OrderFacts] = {}
    for message_pk, result in calls.all():
        typed = tool_registry().facts_from("get_order", result) if result else None
        if isinstance(typed, OrderFacts) and message_pk is not None:
            orders[(message_pk, typed.order_number)] = typed
    return {
        p.id: ProposalFacts(
            customer=customers.get(p.message_id) if p.message_id else None,
            order=orders.get((p.message_id, p.order_name)) if p.message_id else None,
        )
        for p in listed
    }
