"""Importing and searching one store's knowledge through the database (async, for the process).

`Database` handles passed here must be scoped to the store (`db.for_store(id)`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.db.engine import Database
from app.store.knowledge.articles import SourceRead
from app.store.knowledge.library import ImportCounts, search, sync_source
from app.store.knowledge.markdown import read_folder
from app.store.knowledge.shopify_source import read_articles, read_pages
from app.store.models import HelpPassage
from app.store.shopify import ShopifyGraphQL

logger = logging.getLogger(__name__)
DEMO_KNOWLEDGE = Path(__file__).parents[1] / "demo_data" / "knowledge"
"""The demo store's help articles, in English and Persian."""


class StoreKnowledge:
    """A store's help articles for the `search_help` tool (`HelpLibrary`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def search_help(self, query: str, *, limit: int) -> list[HelpPassage]:
        """The best passages for `query`, at most one per article, best first."""
        async with self._db.read() as session:
            return await session.run_sync(lambda s: search(s, query, limit=limit))


async def store_read(db: Database, read: SourceRead) -> ImportCounts:
    """Store what one source gave, in one unit of work, and log any file it could not read."""
    counts = await db.unit(lambda session: sync_source(session, read))
    for key, problem in counts.problems.items():
        logger.warning(
            "knowledge article not imported", extra={"source_key": key, "problem": problem}
        )
    return counts


async def import_folder(db: Database, folder: Path) -> ImportCounts:
    """Import the Markdown files under `folder` (see `markdown`)."""
    return await store_read(db, read_folder(folder))


async def import_demo_knowledge(db: Database) -> ImportCounts:
    """Import the demo store's bundled articles."""
    return await import_folder(db, DEMO_KNOWLEDGE)


async def import_shopify(
    db: Database, client: ShopifyGraphQL, *, base_url: str, language: str = ""
) -> ImportCounts:
    """Import the store's published Shopify pages and blog articles."""
    base = base_url.rstrip("/")
    pages = await read_pages(client, base_url=base, language=language)
    articles = await read_articles(client, base_url=base, language=language)
    return await store_read(db, pages) + await store_read(db, articles)
