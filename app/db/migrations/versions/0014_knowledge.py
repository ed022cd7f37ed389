"""knowledge: help articles, their passages and a full-text index on each database

Revision ID: 0014_knowledge
Revises: 0013_workspace
Create Date: 2026-12-07 02:00:00.000000

The store's knowledge (issue 17): articles imported from Markdown files and Shopify's pages and
blog articles, cut into passages for search. The full-text index is the database's own: on
PostgreSQL a GIN index on `to_tsvector('simple', terms)`, on SQLite an FTS5 table whose rowid is
the passage id (the import code writes it with the passages). Terms are normalised before they
are stored (Persian letters, zero-width non-joiners, diacritics), so the 'simple' configuration
and FTS5's default tokenizer see the same words.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_knowledge"
down_revision: str | None = "0013_workspace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
SOURCES = ("markdown", "shopify_page", "shopify_article", "staff")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "knowledge_articles",
        sa.Column("id", BigId, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("imported_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("source").in_(SOURCES), name="ck_knowledge_articles_source"),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "store_id", "source", "source_key", name="uq_knowledge_articles_store_source_key"
        ),
    )
    op.create_index("ix_knowledge_articles_store_id", "knowledge_articles", ["store_id"])
    op.create_table(
        "knowledge_passages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("article_id", BigId, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["article_id"], ["knowledge_articles.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_knowledge_passages_article_id", "knowledge_passages", ["article_id"])
    op.create_index("ix_knowledge_passages_store_id", "knowledge_passages", ["store_id"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE knowledge_fts USING fts5(terms)")
    else:
        op.execute(
            "CREATE INDEX ix_knowledge_passages_terms ON knowledge_passages "
            "USING gin (to_tsvector('simple'::regconfig, terms))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE knowledge_fts")
    else:
        op.execute("DROP INDEX ix_knowledge_passages_terms")
    op.drop_table("knowledge_passages")
    op.drop_table("knowledge_articles")
