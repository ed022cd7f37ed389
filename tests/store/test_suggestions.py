"""The counted link of a suggested product: `/p/<token>` counts a click and redirects to the
stored product URL; a forged token is a 404; nothing in the link can choose the target."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import ProductSuggestion
from app.db.scope import ALL_STORES, StoreScope
from app.db.stores import DEFAULT_STORE_ID
from app.store.suggestions import record_suggestion_in, redirect_link, suggestion_report_in

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
BELT = "https://demo-store.example/products/leather-belt"


async def suggest(db: Database, product: str = "gid://shopify/Product/16", url: str = BELT) -> str:
    return await db.unit(
        lambda s: record_suggestion_in(
            s,
            store_id=DEFAULT_STORE_ID,
            product_id=product,
            product_title="Leather Belt",
            url=url,
            now=NOW,
        ),
        StoreScope.of(DEFAULT_STORE_ID),
    )


async def test_the_link_counts_clicks_and_redirects_to_the_stored_url(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await suggest(db)
    assert redirect_link("https://support.example.net/", token) == (
        f"https://support.example.net/p/{token}"
    )
    for _ in range(2):
        response = await client.get(f"/p/{token}")
        assert response.status_code == 302
        assert response.headers["location"] == BELT
    async with db.read(ALL_STORES) as session:
        row = (await session.scalars(select(ProductSuggestion))).one()
    assert row.clicks == 2
    assert row.last_clicked_at is not None
    assert row.token_hash != token  # only the hash is kept
    assert token not in row.token_hash


async def test_a_forged_or_altered_token_is_not_found(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await suggest(db)
    forged = ("A" if token[0] != "A" else "B") + token[1:]
    for path in (f"/p/{forged}", "/p/x", f"/p/{token}x", "/p/"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
    async with db.read(ALL_STORES) as session:
        assert (await session.scalars(select(ProductSuggestion))).one().clicks == 0


async def test_nothing_in_the_link_chooses_where_it_goes(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await suggest(db)
    response = await client.get(f"/p/{token}", params={"url": "https://evil.example/"})
    assert response.headers["location"] == BELT
    for path in ("/p/https://evil.example/", "/p//evil.example", "/p/%2F%2Fevil.example"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "evil" not in response.headers.get("location", "")


async def test_the_report_counts_shown_and_clicked_per_product(
    client: httpx.AsyncClient, db: Database
) -> None:
    belt = [await suggest(db) for _ in range(3)]
    await suggest(db, product="gid://shopify/Product/2", url="https://demo-store.example/p/2")
    await client.get(f"/p/{belt[0]}")
    await client.get(f"/p/{belt[0]}")
    await client.get(f"/p/{belt[1]}")
    report = await db.unit(
        lambda s: suggestion_report_in(s, DEFAULT_STORE_ID), StoreScope.of(DEFAULT_STORE_ID)
    )
    assert [(r.product_id, r.shown, r.clicked, r.clicks) for r in report] == [
        ("gid://shopify/Product/16", 3, 2, 3),
        ("gid://shopify/Product/2", 1, 0, 0),
    ]
