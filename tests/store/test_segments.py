"""LFRM segments: quintile boundaries, scores, the rule table and the one-line meaning, on a
seeded set of customers whose answer is worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.store.models import Customer, Money
from app.store.segments import (
    DEFAULT_CUTS,
    MIN_CUSTOMERS,
    RULES,
    Lfrm,
    Segment,
    StoreCuts,
    lfrm_of,
    place,
    priority,
    quintile_cuts,
    scores_of,
    store_cuts,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def lfrm(length: int, frequency: int, recency: int | None, monetary: int) -> Lfrm:
    return Lfrm(
        length_days=length, frequency=frequency, recency_days=recency, monetary=Decimal(monetary)
    )


def seeded() -> list[Lfrm]:
    """20 buyers: customer k has k days, k orders and 10*k spent; each fifth holds four."""
    return [lfrm(length=k, frequency=k, recency=k, monetary=10 * k) for k in range(1, 21)]


def test_quintile_cuts_split_the_values_into_fifths() -> None:
    assert quintile_cuts(range(1, 11)) == tuple(Decimal(v) for v in (2, 4, 6, 8))
    assert quintile_cuts(range(1, 21)) == tuple(Decimal(v) for v in (4, 8, 12, 16))
    # Ties stay together: many one-order customers all share the lowest fifth.
    assert quintile_cuts([1] * 12 + [2, 2, 3, 3, 5, 5, 8, 9]) == tuple(
        Decimal(v) for v in (1, 1, 1, 3)
    )
    with pytest.raises(ValueError, match="no values"):
        quintile_cuts([])


def test_store_cuts_come_from_the_buyers_only() -> None:
    measures = [*seeded(), lfrm(length=3, frequency=0, recency=None, monetary=0)]
    cuts = store_cuts(measures)
    assert cuts.customers == 20
    assert cuts.length == tuple(Decimal(v) for v in (4, 8, 12, 16))
    assert cuts.recency == tuple(Decimal(v) for v in (4, 8, 12, 16))
    assert cuts.monetary == tuple(Decimal(v) for v in (40, 80, 120, 160))


def test_a_store_with_few_buyers_is_scored_on_the_defaults() -> None:
    assert store_cuts(seeded()[: MIN_CUSTOMERS - 1]) is DEFAULT_CUTS


def test_scores_are_1_to_5_and_recent_is_better() -> None:
    cuts = store_cuts(seeded())
    best = scores_of(lfrm(length=20, frequency=20, recency=1, monetary=200), cuts)
    worst = scores_of(lfrm(length=1, frequency=1, recency=20, monetary=10), cuts)
    assert (best.length, best.frequency, best.recency, best.monetary) == (5, 5, 5, 5)
    assert (worst.length, worst.frequency, worst.recency, worst.monetary) == (1, 1, 1, 1)
    # On a boundary: 4 is the top of the first fifth (4 days is still among the most recent).
    edge = scores_of(lfrm(length=4, frequency=5, recency=4, monetary=41), cuts)
    assert (edge.length, edge.frequency, edge.recency, edge.monetary) == (1, 2, 5, 2)


KNOWN = StoreCuts(
    length=(Decimal(30), Decimal(90), Decimal(180), Decimal(365)),
    frequency=(Decimal(1), Decimal(2), Decimal(3), Decimal(5)),
    recency=(Decimal(14), Decimal(45), Decimal(120), Decimal(300)),
    monetary=(Decimal(50), Decimal(100), Decimal(200), Decimal(400)),
    customers=40,
)


@pytest.mark.parametrize(
    ("measures", "segment", "meaning"),
    [
        (
            lfrm(400, 8, 5, 900),
            Segment.CHAMPIONS,
            "champions: bought recently, orders often and spends the most, spent in the top 20%",
        ),
        (
            lfrm(300, 4, 60, 250),
            Segment.LOYAL,
            "loyal: orders often and still buys, spent in the top 40%",
        ),
        (
            lfrm(10, 1, 10, 120),
            Segment.NEW,
            "new: one order so far, placed recently, spent in the top 60%",
        ),
        (lfrm(0, 0, None, 0), Segment.NEW, "new: no order yet"),
        (
            lfrm(200, 2, 20, 150),
            Segment.PROMISING,
            "promising: bought recently, not often yet, spent in the top 60%",
        ),
        (
            lfrm(500, 4, 200, 450),
            Segment.AT_RISK,
            "at risk: used to buy often or much, has gone quiet, spent in the top 20%",
        ),
        (lfrm(700, 2, 400, 90), Segment.LOST, "lost: last order long ago, spent in the bottom 40%"),
        (
            lfrm(150, 1, 100, 40),
            Segment.HIBERNATING,
            "hibernating: quiet for a while, bought little, spent in the bottom 20%",
        ),
        (
            lfrm(365, 3, 100, 180),
            Segment.NEEDS_ATTENTION,
            "needs attention: buys now and then, not lately, spent in the top 60%",
        ),
    ],
    ids=lambda v: v.value if isinstance(v, Segment) else None,
)
def test_seeded_customers_land_in_their_known_segment_with_its_meaning(
    measures: Lfrm, segment: Segment, meaning: str
) -> None:
    placed = place(measures, KNOWN)
    assert placed.segment is segment
    assert placed.meaning == meaning
    assert placed.priority == priority(segment)


def test_every_segment_is_reachable_and_the_last_rule_always_applies() -> None:
    assert {rule.segment for rule in RULES} == set(Segment)
    assert RULES[-1].applies(scores_of(lfrm(1, 1, 1, 1), KNOWN), lfrm(1, 1, 1, 1))


def test_at_risk_and_champions_rank_highest() -> None:
    ranks = {segment: priority(segment) for segment in Segment}
    top = max(ranks.values())
    assert {s for s, r in ranks.items() if r == top} == {Segment.AT_RISK, Segment.CHAMPIONS}
    assert ranks[Segment.LOYAL] > ranks[Segment.PROMISING] > ranks[Segment.LOST]
    assert priority("at_risk") == top
    assert priority("no-such-segment") == priority(None) == 1


def test_measures_come_from_the_customer_summary() -> None:
    customer = Customer(
        id="gid://shopify/Customer/1",
        name="A",
        email="a@example.com",
        orders_count=3,
        amount_spent=Money(amount=Decimal("120.50"), currency="EUR"),
        created_at=NOW - timedelta(days=400),
        first_order_at=NOW - timedelta(days=300),
        last_order_at=NOW - timedelta(days=12),
    )
    assert lfrm_of(customer, now=NOW) == Lfrm(
        length_days=300, frequency=3, recency_days=12, monetary=Decimal("120.50")
    )
