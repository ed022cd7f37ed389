"""search_products: titles, variants, prices, availability and stock, for anyone."""

from __future__ import annotations

import json

from app.store.demo import DemoShop
from app.tools.kit.context import CallOutcome
from app.tools.products import NO_PRODUCTS
from tests.tools.calls import SARA, assert_facts_are_the_content, context, invoke


async def test_search_products_finds_the_linen_shirt_with_sizes_and_stock(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "linen shirt"})
    assert_facts_are_the_content(result)
    (shirt,) = json.loads(result.content)["products"]
    assert shirt["title"] == "Linen Shirt"
    assert shirt["available"] is True
    variants = {v["title"]: v for v in shirt["variants"]}
    assert variants["M / White"]["price"] == {"amount": "69.00", "currency": "EUR"}
    assert variants["L / Sand"]["available"] is False
    assert variants["L / Sand"]["in_stock"] == 0


async def test_search_products_shows_the_green_tote_out_of_stock(shop: DemoShop) -> None:
    # "green" is a variant, not in the title: the search falls back to "canvas tote".
    result = await invoke(context(shop, None), "search_products", {"query": "canvas tote green"})
    (tote,) = json.loads(result.content)["products"]
    green = next(v for v in tote["variants"] if v["title"] == "Green")
    assert green["available"] is False
    assert green["in_stock"] == 0
    assert tote["available"] is True


async def test_search_products_marks_a_sold_out_product_unavailable(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "cashmere scarf"})
    (scarf,) = json.loads(result.content)["products"]
    assert scarf["available"] is False


async def test_search_products_never_shows_a_draft(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "linen blazer"})
    assert result.outcome is CallOutcome.NOT_FOUND
    assert result.content == NO_PRODUCTS
    linen = await invoke(context(shop, None), "search_products", {"query": "linen"})
    assert "Blazer" not in linen.content


async def test_search_products_refuses_an_empty_query(shop: DemoShop) -> None:
    result = await invoke(context(shop, SARA), "search_products", json.dumps({"query": ""}))
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith("Invalid arguments for search_products: query: ")
