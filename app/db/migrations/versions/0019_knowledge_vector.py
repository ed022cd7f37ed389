"""knowledge vector: a stored tsvector on PostgreSQL, FTS5's vocabulary on SQLite

Revision ID: 0019_knowledge_vector
Revises: 0018_segments
Create Date: 2026-12-08 02:00:00.000000

Search latency (issue 17 item 2). On PostgreSQL, `ts_rank` over the expression index re-parsed
`terms` for every matched row: the passages get a generated column `terms_vector` (the same
`to_tsvector('simple', terms)`, stored), the GIN index moves onto it, and its statistics target
is raised so that ANALYZE keeps the most common words with their share of passages (up to
10,000 of them in `pg_stats.most_common_elems`), which search reads to leave very common words
out of a query. On SQLite an `fts5vocab` table over `knowledge_fts` gives each word's passage
count for the same purpose.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_knowledge_vector"
down_revision: str | None = "0018_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE knowledge_fts_vocab USING fts5vocab(knowledge_fts, row)")
        return
    op.execute(
        "ALTER TABLE knowledge_passages ADD COLUMN terms_vector tsvector "
        "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, terms)) STORED"
    )
    op.execute("ALTER TABLE knowledge_passages ALTER COLUMN terms_vector SET STATISTICS 1000")
    op.execute("DROP INDEX ix_knowledge_passages_terms")
    op.execute(
        "CREATE INDEX ix_knowledge_passages_terms_vector ON knowledge_passages "
        "USING gin (terms_vector)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE knowledge_fts_vocab")
        return
    op.execute("DROP INDEX ix_knowledge_passages_terms_vector")
    op.execute("ALTER TABLE knowledge_passages DROP COLUMN terms_vector")
    op.execute(
        "CREATE INDEX ix_knowledge_passages_terms ON knowledge_passages "
        "USING gin (to_tsvector('simple'::regconfig, terms))"
    )
