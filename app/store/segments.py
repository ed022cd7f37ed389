"""LFRM segments: where a customer stands with the store, scored against the store's own customers.

Length (days since the first order), Frequency (orders), Recency (days since the last order) and
Monetary (amount spent) are each scored 1 to 5 on the quintiles of the store's own customers
(`StoreCuts`, computed by `app.store.segment_cuts` and kept per store); a score of 5 is always
the best (the longest, most frequent, most recent, highest spending fifth). The named segment is
the first row of `RULES` whose condition holds: the rule lives in that table and nowhere else.

The segment informs tone and priority (`priority`), never which facts a customer may see.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from app.store.models import Customer

QUANTILES = 5
MIN_CUSTOMERS = 20
"""Below this many customers with orders, a store's fifths say little: the defaults are used."""


class Segment(StrEnum):
    """The named segments, as stored and shown."""

    CHAMPIONS = "champions"
    LOYAL = "loyal"
    PROMISING = "promising"
    NEW = "new"
    AT_RISK = "at_risk"
    NEEDS_ATTENTION = "needs_attention"
    HIBERNATING = "hibernating"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Lfrm:
    """A customer's raw measures."""

    length_days: int
    frequency: int
    recency_days: int | None
    """None when the customer has not ordered yet."""
    monetary: Decimal


@dataclass(frozen=True, slots=True)
class Scores:
    """Each measure scored 1 (the store's weakest fifth) to 5 (its best fifth)."""

    length: int
    frequency: int
    recency: int
    monetary: int


Cuts = tuple[Decimal, Decimal, Decimal, Decimal]
"""The four quintile boundaries of one measure, ascending."""


@dataclass(frozen=True, slots=True)
class StoreCuts:
    """A store's quintile boundaries for each measure: scoring one customer needs only these."""

    length: Cuts
    frequency: Cuts
    recency: Cuts
    monetary: Cuts
    customers: int = 0
    """How many customers with orders the boundaries were computed from (0: the defaults)."""


def _cuts(*values: int) -> Cuts:
    a, b, c, d = (Decimal(v) for v in values)
    return (a, b, c, d)


DEFAULT_CUTS = StoreCuts(
    length=_cuts(60, 180, 365, 730),
    frequency=_cuts(1, 2, 3, 5),
    recency=_cuts(30, 90, 180, 365),
    monetary=_cuts(50, 150, 300, 600),
)
"""Used until a store's own boundaries are computed: a small shop's typical customers."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One row of the segment table: a condition on the scores and what it means."""

    segment: Segment
    label: str
    meaning: str
    priority: int
    """How high the needs-action view ranks this customer's emails (higher first)."""
    applies: Callable[[Scores, Lfrm], bool]


RULES: tuple[Rule, ...] = (
    Rule(Segment.NEW, "new", "no order yet", 1, lambda s, m: m.frequency == 0),
    Rule(
        Segment.CHAMPIONS,
        "champions",
        "bought recently, orders often and spends the most",
        3,
        lambda s, m: s.recency >= 4 and s.frequency >= 4 and s.monetary >= 4,
    ),
    Rule(
        Segment.LOYAL,
        "loyal",
        "orders often and still buys",
        2,
        lambda s, m: s.frequency >= 4 and s.recency >= 3,
    ),
    Rule(
        Segment.NEW,
        "new",
        "one order so far, placed recently",
        1,
        lambda s, m: m.frequency <= 1 and s.recency >= 4,
    ),
    Rule(
        Segment.PROMISING,
        "promising",
        "bought recently, not often yet",
        1,
        lambda s, m: s.recency >= 4,
    ),
    Rule(
        Segment.AT_RISK,
        "at risk",
        "used to buy often or much, has gone quiet",
        3,
        lambda s, m: s.recency == 2 and (s.frequency >= 3 or s.monetary >= 4),
    ),
    Rule(
        Segment.LOST,
        "lost",
        "last order long ago",
        0,
        lambda s, m: s.recency == 1,
    ),
    Rule(
        Segment.HIBERNATING,
        "hibernating",
        "quiet for a while, bought little",
        0,
        lambda s, m: s.frequency <= 2,
    ),
    Rule(
        Segment.NEEDS_ATTENTION,
        "needs attention",
        "buys now and then, not lately",
        1,
        lambda s, m: True,
    ),
)
"""The segment rule: the first row whose condition holds (the last row always does)."""

_PRIORITY: dict[Segment, int] = {}
for _rule in RULES:
    _PRIORITY.setdefault(_rule.segment, _rule.priority)


def priority(segment: Segment | str | None) -> int:
    """How high a customer of this segment ranks in the needs-action view (higher first).

    At risk and champions 3, loyal 2, promising, new and needs attention 1, hibernating and
    lost 0; an unknown segment 1.

    The same value is stored per customer (`customer_segments.priority`) for SQL ordering.
    """
    try:
        return _PRIORITY[Segment(segment)] if segment is not None else 1
    except ValueError:
        return 1


def label(segment: Segment) -> str:
    """The segment's name as staff read it ("at risk")."""
    return next(rule.label for rule in RULES if rule.segment is segment)


def lfrm_of(customer: Customer, *, now: datetime) -> Lfrm:
    """The customer's measures as of `now`, from the store's customer summary."""
    first = customer.first_order_at or customer.created_at
    last = customer.last_order_at
    return Lfrm(
        length_days=max(0, (now - first).days),
        frequency=customer.orders_count,
        recency_days=max(0, (now - last).days) if last is not None else None,
        monetary=customer.amount_spent.amount,
    )


def quintile_cuts(values: Sequence[Decimal | int]) -> Cuts:
    """The four boundaries splitting `values` into fifths (the lower value at each boundary)."""
    ordered = sorted(Decimal(v) for v in values)
    if not ordered:
        raise ValueError("no values to cut")
    n = len(ordered)
    a, b, c, d = (ordered[max(0, math.ceil(k * n / QUANTILES) - 1)] for k in range(1, QUANTILES))
    return (a, b, c, d)


def store_cuts(measures: Sequence[Lfrm]) -> StoreCuts:
    """A store's boundaries from its customers who have ordered (the defaults if none has)."""
    buyers = [m for m in measures if m.frequency > 0 and m.recency_days is not None]
    if len(buyers) < MIN_CUSTOMERS:
        return DEFAULT_CUTS
    return StoreCuts(
        length=quintile_cuts([m.length_days for m in buyers]),
        frequency=quintile_cuts([m.frequency for m in buyers]),
        recency=quintile_cuts([m.recency_days or 0 for m in buyers]),
        monetary=quintile_cuts([m.monetary for m in buyers]),
        customers=len(buyers),
    )


def _higher_is_better(value: Decimal | int, cuts: Cuts) -> int:
    return 1 + sum(1 for cut in cuts if Decimal(value) > cut)


def scores_of(measures: Lfrm, cuts: StoreCuts) -> Scores:
    """Score each measure 1-5 against the store's boundaries (recent is better: fewer days)."""
    recency = (
        1 + sum(1 for cut in cuts.recency if Decimal(measures.recency_days) <= cut)
        if measures.recency_days is not None
        else 1
    )
    return Scores(
        length=_higher_is_better(measures.length_days, cuts.length),
        frequency=_higher_is_better(measures.frequency, cuts.frequency),
        recency=recency,
        monetary=_higher_is_better(measures.monetary, cuts.monetary),
    )


@dataclass(frozen=True, slots=True)
class Placement:
    """A customer's measures, scores, segment and the one line that explains it."""

    measures: Lfrm
    scores: Scores
    segment: Segment
    meaning: str
    priority: int


def place(measures: Lfrm, cuts: StoreCuts) -> Placement:
    """Apply `RULES` to a customer's measures and word the result in one line."""
    scores = scores_of(measures, cuts)
    rule = next(rule for rule in RULES if rule.applies(scores, measures))
    return Placement(
        measures=measures,
        scores=scores,
        segment=rule.segment,
        meaning=meaning_line(rule, scores, measures),
        priority=rule.priority,
    )


def meaning_line(rule: Rule, scores: Scores, measures: Lfrm) -> str:
    """The segment and what it means, with the customer's spending fifth.

    "loyal: orders often and still buys, spent in the top 40%".
    """
    if measures.frequency == 0:
        return f"{rule.label}: {rule.meaning}"
    fifth = 100 // QUANTILES
    if scores.monetary >= 3:
        spent = f"spent in the top {(QUANTILES + 1 - scores.monetary) * fifth}%"
    else:
        spent = f"spent in the bottom {scores.monetary * fifth}%"
    return f"{rule.label}: {rule.meaning}, {spent}"


def place_customer(customer: Customer, cuts: StoreCuts, *, now: datetime) -> Placement:
    """`place` for a customer summary from the store."""
    return place(lfrm_of(customer, now=now), cuts)
