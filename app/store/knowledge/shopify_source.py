"""Help articles from Shopify: the online store's pages and blog articles (Admin GraphQL API).

Read page by page with the existing client (auth, retries, throttling), only what is published.
Their bodies are HTML; they are kept as plain text with paragraphs. The Admin API gives no
public URL for either, so it is built the way the online store serves them: `/pages/{handle}`
and `/blogs/{blog}/{handle}` under the store's address.
"""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from app.db.statuses import KnowledgeSource
from app.store.knowledge.articles import ArticleDraft, SourceRead
from app.store.shopify import HELP_ARTICLES_QUERY, HELP_PAGES_QUERY, ShopifyGraphQL

PAGE_SIZE = 50
MAX_PAGES = 100
"""At most 5,000 pages and 5,000 articles a store: a bound on one import, not a real limit."""
_BLOCK_END = re.compile(r"<\s*(?:br\s*/?|/\s*(?:p|div|h[1-6]|li|tr|blockquote|section))\s*>", re.I)
_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)


async def read_pages(client: ShopifyGraphQL, *, base_url: str, language: str = "") -> SourceRead:
    """The published online-store pages."""
    read = SourceRead(source=KnowledgeSource.SHOPIFY_PAGE)
    async for node in _nodes(client, HELP_PAGES_QUERY, "pages"):
        if not node.get("isPublished"):
            continue
        handle = str(node.get("handle") or "")
        read.articles.append(
            _draft(node, KnowledgeSource.SHOPIFY_PAGE, f"{base_url}/pages/{handle}", language)
        )
    return read


async def read_articles(client: ShopifyGraphQL, *, base_url: str, language: str = "") -> SourceRead:
    """The published articles of every blog."""
    read = SourceRead(source=KnowledgeSource.SHOPIFY_ARTICLE)
    async for node in _nodes(client, HELP_ARTICLES_QUERY, "articles"):
        if not node.get("isPublished"):
            continue
        blog = str((node.get("blog") or {}).get("handle") or "news")
        url = f"{base_url}/blogs/{blog}/{node.get('handle') or ''}"
        read.articles.append(_draft(node, KnowledgeSource.SHOPIFY_ARTICLE, url, language))
    return read


async def _nodes(client: ShopifyGraphQL, query: str, field: str) -> AsyncIterator[dict[str, Any]]:
    after: str | None = None
    for _ in range(MAX_PAGES):
        data = await client.execute(query, {"first": PAGE_SIZE, "after": after})
        connection = data.get(field) or {}
        for node in connection.get("nodes") or []:
            if isinstance(node, dict) and node.get("id"):
                yield node
        info = connection.get("pageInfo") or {}
        after = info.get("endCursor")
        if not info.get("hasNextPage") or not after:
            return


def _draft(node: dict[str, Any], source: KnowledgeSource, url: str, language: str) -> ArticleDraft:
    tags = node.get("tags") or []
    return ArticleDraft(
        source=source,
        source_key=str(node["id"]),
        title=str(node.get("title") or "").strip()[:300] or str(node.get("handle") or "untitled"),
        body=html_text(str(node.get("body") or "")),
        url=url,
        language=language,
        tags=tuple(str(tag) for tag in tags if isinstance(tag, str)),
        updated_at=_when(node.get("updatedAt")),
    )


def html_text(body: str) -> str:
    """HTML as plain text: one paragraph per block, entities decoded, markup dropped."""
    text = _BLOCK_END.sub("\n\n", _INVISIBLE.sub(" ", body))
    text = html.unescape(_TAG.sub(" ", text))
    paragraphs = (" ".join(part.split()) for part in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def _when(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
