"""Importing Shopify's online-store pages and blog articles, Shopify faked at the HTTP boundary.

The answers are written from the Admin GraphQL API's documented shapes for `pages` and
`articles` (connections with `nodes` and `pageInfo`) at the pinned version.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import KnowledgeArticle
from app.db.statuses import KnowledgeSource
from app.store.knowledge import StoreKnowledge, import_shopify
from app.store.knowledge.shopify_source import html_text
from app.store.shopify import ShopifyGraphQL, StaticToken
from tests.builders import IN_DEFAULT_STORE
from tests.store.shopify.wire import ENDPOINT, RecordedSleep, ok

BASE = "https://shop.example"


def page(number: int, *, published: bool = True, body: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Page/{number}",
        "title": f"Page {number}",
        "handle": f"page-{number}",
        "body": body or f"<p>Help text number {number}.</p>",
        "isPublished": published,
        "updatedAt": "2026-11-20T10:00:00Z",
        **extra,
    }


def blog_article(number: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Article/{number}",
        "title": f"Article {number}",
        "handle": f"article-{number}",
        "body": f"<h2>Tips</h2><p>Article body {number}.</p>",
        "isPublished": True,
        "updatedAt": "2026-11-21T10:00:00Z",
        "tags": ["care"],
        "blog": {"handle": "journal"},
        **extra,
    }


class FakeShopify:
    """Shopify's GraphQL endpoint with pages and articles, served in pages of `size`."""

    def __init__(self, pages: list[dict[str, Any]], articles: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.articles = articles
        self.size = 2
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        field = "pages" if "pages(" in body["query"] else "articles"
        nodes = self.pages if field == "pages" else self.articles
        start = int(body["variables"].get("after") or 0)
        chunk = nodes[start : start + self.size]
        more = start + self.size < len(nodes)
        end = str(start + self.size) if chunk else None
        return ok({field: {"nodes": chunk, "pageInfo": {"hasNextPage": more, "endCursor": end}}})


@pytest.fixture
async def client() -> AsyncIterator[ShopifyGraphQL]:
    async with httpx.AsyncClient() as http:
        yield ShopifyGraphQL(
            endpoint=ENDPOINT, tokens=StaticToken("shpat_test"), http=http, sleep=RecordedSleep()
        )


async def stored(db: Database) -> dict[str, KnowledgeArticle]:
    async with db.read(IN_DEFAULT_STORE) as session:
        rows = (await session.scalars(select(KnowledgeArticle))).all()
    return {row.source_key: row for row in rows}


async def test_pages_and_articles_are_imported_page_by_page(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, db: Database
) -> None:
    fake = FakeShopify(
        pages=[page(1), page(2, published=False), page(3), page(4)],
        articles=[blog_article(7)],
    )
    respx_mock.post(ENDPOINT).mock(side_effect=fake)
    counts = await import_shopify(db.for_store(1), client, base_url=f"{BASE}/", language="en")

    assert (counts.added, counts.problems) == (4, {})
    # Paged: two requests of two pages, then one of articles; every request names its page.
    assert [r["variables"] for r in fake.requests] == [
        {"first": 50, "after": None},
        {"first": 50, "after": "2"},
        {"first": 50, "after": None},
    ]
    articles = await stored(db)
    assert set(articles) == {
        "gid://shopify/Page/1",
        "gid://shopify/Page/3",
        "gid://shopify/Page/4",
        "gid://shopify/Article/7",
    }
    one = articles["gid://shopify/Page/1"]
    assert (one.source, one.url, one.body) == (
        KnowledgeSource.SHOPIFY_PAGE,
        f"{BASE}/pages/page-1",
        "Help text number 1.",
    )
    seven = articles["gid://shopify/Article/7"]
    assert (seven.source, seven.url, seven.tags) == (
        KnowledgeSource.SHOPIFY_ARTICLE,
        f"{BASE}/blogs/journal/article-7",
        ["care"],
    )
    assert seven.body == "Tips\n\nArticle body 7."
    assert seven.language == "en"


async def test_reimport_updates_in_place_and_drops_what_shopify_no_longer_has(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, db: Database
) -> None:
    fake = FakeShopify(pages=[page(1), page(2)], articles=[blog_article(7)])
    respx_mock.post(ENDPOINT).mock(side_effect=fake)
    await import_shopify(db.for_store(1), client, base_url=BASE)
    ids = {key: row.id for key, row in (await stored(db)).items()}

    same = await import_shopify(db.for_store(1), client, base_url=BASE)
    assert (same.added, same.updated, same.unchanged, same.removed) == (0, 0, 3, 0)

    fake.pages = [page(1, body="<p>Wrap gifts in <b>recycled</b> paper &amp; ribbon.</p>")]
    fake.articles = [blog_article(7, isPublished=False)]
    changed = await import_shopify(db.for_store(1), client, base_url=BASE)
    assert (changed.added, changed.updated, changed.unchanged, changed.removed) == (0, 1, 0, 2)
    after = await stored(db)
    assert set(after) == {"gid://shopify/Page/1"}
    assert after["gid://shopify/Page/1"].id == ids["gid://shopify/Page/1"]
    found = await StoreKnowledge(db.for_store(1)).search_help("recycled ribbon", limit=3)
    assert [p.text for p in found] == ["Wrap gifts in recycled paper & ribbon."]


async def test_the_pages_query_failing_changes_nothing(
    respx_mock: respx.MockRouter, client: ShopifyGraphQL, db: Database
) -> None:
    fake = FakeShopify(pages=[page(1)], articles=[])
    route = respx_mock.post(ENDPOINT).mock(side_effect=fake)
    await import_shopify(db.for_store(1), client, base_url=BASE)
    route.mock(return_value=httpx.Response(401, json={"errors": "Invalid API key"}))
    with pytest.raises(Exception, match="(?i)refused|denied|credential|401|unauthori"):
        await import_shopify(db.for_store(1), client, base_url=BASE)
    assert set(await stored(db)) == {"gid://shopify/Page/1"}


def test_html_becomes_paragraphs_of_text() -> None:
    html = (
        "<h1>Care</h1><p>Wash at 30&nbsp;°C.<br>Dry flat.</p><script>alert(1)</script>"
        "<ul><li>Linen</li><li>Wool</li></ul>"
    )
    assert html_text(html) == "Care\n\nWash at 30 °C.\n\nDry flat.\n\nLinen\n\nWool"
