"""The customer card's segment: scored on the store's own boundaries when the page passes them,
shown as its one-line meaning."""

from __future__ import annotations

from decimal import Decimal

from app.admin.customer_card import load_customer_card
from app.admin.templating import environment
from app.store.demo import DemoShop
from app.store.segments import StoreCuts
from tests.store.demo_people import LENA


def cuts(*values: int) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    a, b, c, d = (Decimal(v) for v in values)
    return (a, b, c, d)


STRICT = StoreCuts(
    length=cuts(30, 60, 90, 120),
    frequency=cuts(1, 1, 2, 2),
    recency=cuts(3, 5, 7, 30),
    monetary=cuts(50, 80, 100, 150),
    customers=200,
)
"""A store whose customers order weekly: ten days without an order is a long time there."""


async def test_the_card_shows_the_meaning_scored_on_the_stores_boundaries() -> None:
    shop = DemoShop()
    default = await load_customer_card(shop, address=LENA, verified=True)
    assert default.profile is not None
    assert default.profile.segment_meaning == (
        "promising: bought recently, not often yet, spent in the top 60%"
    )
    card = await load_customer_card(shop, address=LENA, verified=True, cuts=STRICT)
    assert card.profile is not None
    assert card.profile.segment.value == "at_risk"
    meaning = "at risk: used to buy often or much, has gone quiet, spent in the top 20%"
    assert card.profile.segment_meaning == meaning
    html = environment.get_template("thread/_customer.html").render(card=card)
    assert f'<dd data-segment="at_risk">{meaning}</dd>' in html


async def test_an_unverified_sender_has_no_segment() -> None:
    card = await load_customer_card(DemoShop(), address=LENA, verified=False)
    assert card.profile is None


def test_the_reports_partial_lists_customers_per_segment_and_products_clicked() -> None:
    from app.store.segment_cuts import SegmentRow
    from app.store.segments import Segment
    from app.store.suggestions import SuggestionStats

    rows = [
        SegmentRow(Segment.CHAMPIONS, "champions", "bought recently", 3, 0.75),
        SegmentRow(Segment.LOST, "lost", "last order long ago", 1, 0.25),
    ]
    stats = [SuggestionStats("gid://shopify/Product/16", "Leather Belt", 4, 1, 2)]
    html = environment.get_template("_segments_table.html").render(segments=rows, suggestions=stats)
    assert '<tr data-segment="champions"><td>champions</td>' in html
    assert '<td class="num">3</td><td class="num">75%</td>' in html
    assert "Leather Belt" in html
    assert '<td class="num">4</td><td class="num">1</td><td class="num">2</td>' in html
    empty = environment.get_template("_segments_table.html").render(segments=[])
    assert "have not been computed" in empty
