"""Offline hints: how the offline model (keyword rules, no language model) uses a tool.

A language model reads each tool's description and decides for itself. The offline model
cannot; instead a tool declares, next to its scope, which `Topic` of email it answers and which
`Clue` of the email fills each argument:

    @tools.tool(
        scope=Scope.SENDER,
        offline=OfflineHint(topic=Topic.ORDER, args={"order_number": Clue.ORDER_NUMBER}),
    )

The offline model calls every offered tool whose topic the email raises and whose clues the
email gives. These are the tools' own words, not the agent's intents: the tools package does
not import the agent (which imports it). Which intents raise which topics is the offline
model's reading (`app/agent/offline.py`), the one place a new topic or clue is taught to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from app.store.models import OrderStatus

JsonValue = str | int | float | bool | None


class Topic(StrEnum):
    """What an email asks about, in the words a tool declares."""

    ORDER = "order"
    """One of the sender's orders: where it is, a problem with it, a change to it."""
    PRODUCT = "product"
    """Products: price, stock, sizes, materials."""
    POLICY = "policy"
    """The store's published rules: returns, refunds, shipping, contact."""
    CANCELLATION = "cancellation"
    """Cancelling an order."""
    RETURN = "return"
    """Returning or exchanging what was delivered."""
    HOW_TO = "how_to"
    """How things work at the store: sizing, care, gift wrapping, shipping abroad, warranty."""


class Clue(StrEnum):
    """Something the offline model takes from the email to fill an argument."""

    ORDER_NUMBER = "order_number"
    """The order number the customer wrote."""
    PRODUCT_WORDS = "product_words"
    """A few words naming the product (usually from the subject)."""
    POLICY_TOPIC = "policy_topic"
    """Which policy the question is about: "returns", "refunds", "shipping" or "contact"."""
    REASON = "reason"
    """One sentence for staff on why the customer asked."""
    QUESTION = "question"
    """The customer's how-to question in their own words (the sentence that asks it)."""


@dataclass(frozen=True, kw_only=True)
class OfflineHint:
    """When and how the offline model calls a tool."""

    topic: Topic
    """The tool is called for emails that raise this topic."""
    args: Mapping[str, Clue | JsonValue] = field(default_factory=dict)
    """Every argument: a `Clue` is filled from the email (no clue, no call); anything else is
    sent as it is."""
    unless: Clue | None = None
    """Not called when the email gives this clue (a fallback for when it is missing)."""
    order_status: frozenset[OrderStatus] = frozenset()
    """If set, called only after a lookup in the same run showed the order in one of these
    statuses (a store change that is still possible), and never as a first lookup."""

    def clues(self) -> set[Clue]:
        """The clues the email must give for this call."""
        return {value for value in self.args.values() if isinstance(value, Clue)}
