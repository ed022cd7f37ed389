"""The store's help articles and their passages, the units full-text search ranks.

An article is kept whole (`body`) and cut into short passages (paragraphs); each passage holds
the text a reply quotes and `terms`, its normalised words (`app.store.knowledge.text`), which the
database indexes: on PostgreSQL the stored generated column `terms_vector`
(`to_tsvector('simple', terms)`) with a GIN index (migration 0019; 0014 indexed the expression),
on SQLite the FTS5 table `knowledge_fts` (rowid = passage id), which the import code keeps in
step, and its `fts5vocab` table `knowledge_fts_vocab`. None of these is described by the models
(each exists on one database only), so the schema comparison skips them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.examples import is_examples_index
from app.db.statuses import KnowledgeSource
from app.db.stores import StoreOwned
from app.db.text import SafeString, SafeText

FTS_TABLE = "knowledge_fts"
"""SQLite's FTS5 table of passage terms (created by migration 0014 on SQLite only)."""
FTS_VOCAB = "knowledge_fts_vocab"
"""SQLite's fts5vocab table over `knowledge_fts`: each word's passage count (migration 0019)."""
TERMS_INDEX = "ix_knowledge_passages_terms"
"""PostgreSQL's GIN expression index on the passages' terms (migration 0014, dropped by 0019)."""
TERMS_VECTOR = "terms_vector"
"""PostgreSQL's stored `to_tsvector('simple', terms)` column on the passages (migration 0019)."""
VECTOR_INDEX = "ix_knowledge_passages_terms_vector"
"""PostgreSQL's GIN index on `terms_vector` (migration 0019)."""


def is_search_index(name: str | None) -> bool:
    """Whether a table, index or column is one of the full-text indexes kept outside the models."""
    own = bool(name) and (
        str(name).startswith(FTS_TABLE) or name in (TERMS_INDEX, TERMS_VECTOR, VECTOR_INDEX)
    )
    return own or is_examples_index(name)


class KnowledgeArticle(StoreOwned, Base):
    """One help article: a Markdown file, a Shopify page or blog article, or staff's own."""

    __tablename__ = "knowledge_articles"
    __table_args__ = (
        UniqueConstraint(
            "store_id", "source", "source_key", name="uq_knowledge_articles_store_source_key"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[KnowledgeSource] = mapped_column(
        stored_enum(KnowledgeSource, length=16, constraint="ck_knowledge_articles_source")
    )
    source_key: Mapped[str] = mapped_column(SafeString(255))
    """What the source calls it (a file's path, a Shopify GID): re-imports update in place."""
    title: Mapped[str] = mapped_column(SafeString(300))
    body: Mapped[str] = mapped_column(SafeText)
    url: Mapped[str | None] = mapped_column(SafeString(2000))
    language: Mapped[str] = mapped_column(SafeString(35), default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When the source last changed it (the file's time, Shopify's `updatedAt`)."""
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgePassage(StoreOwned, Base):
    """One paragraph-sized piece of an article: what a search returns and a reply quotes."""

    __tablename__ = "knowledge_passages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_articles.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(SafeText)
    terms: Mapped[str] = mapped_column(SafeText)
    """The passage's normalised words with its article's title and tags: what is indexed."""
