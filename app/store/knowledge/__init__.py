"""The store's own knowledge: help articles imported from Markdown and Shopify, and search.

`text` (one normalisation for documents and queries, passages), `articles` (what a source
gives), `markdown` and `shopify_source` (the sources), `library` (SQL: import by source and
full-text search on SQLite FTS5 or PostgreSQL), `imports` (the async entry points).
"""

from app.store.knowledge.imports import (
    DEMO_KNOWLEDGE,
    StoreKnowledge,
    import_demo_knowledge,
    import_folder,
    import_shopify,
)
from app.store.knowledge.library import ImportCounts

__all__ = [
    "DEMO_KNOWLEDGE",
    "ImportCounts",
    "StoreKnowledge",
    "import_demo_knowledge",
    "import_folder",
    "import_shopify",
]
