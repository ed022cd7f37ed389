"""reply examples: staff-approved replies kept, with placeholders, as examples for the model

Revision ID: 0015_reply_examples
Revises: 0014_knowledge
Create Date: 2026-12-08 02:00:00.000000

Learning from staff (issue 17): every reply staff approved and that was sent is kept with its
email, customer data replaced by placeholders, and a staff mark (auto, use, never). The
placeholder customer text's normalised words are indexed like the knowledge passages: a GIN
index on `to_tsvector('simple', terms)` on PostgreSQL, an FTS5 table (rowid = example id) on
SQLite, which the code writes with the rows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_reply_examples"
down_revision: str | None = "0014_knowledge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
MARKS = ("auto", "use", "never")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reply_examples",
        sa.Column("id", BigId, nullable=False),
        sa.Column("reply_id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("customer_text", sa.Text(), nullable=False),
        sa.Column("reply_text", sa.Text(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("mark", sa.String(length=16), nullable=False),
        sa.Column("marked_by", sa.String(length=320), nullable=True),
        sa.Column("marked_at", When, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("mark").in_(MARKS), name="ck_reply_examples_mark"),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reply_id"),
    )
    op.create_index("ix_reply_examples_message_id", "reply_examples", ["message_id"])
    op.create_index("ix_reply_examples_store_id", "reply_examples", ["store_id"])
    op.create_index("ix_reply_examples_intent_language", "reply_examples", ["intent", "language"])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE reply_examples_fts USING fts5(terms)")
    else:
        op.execute(
            "CREATE INDEX ix_reply_examples_terms ON reply_examples "
            "USING gin (to_tsvector('simple'::regconfig, terms))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE reply_examples_fts")
    else:
        op.execute("DROP INDEX ix_reply_examples_terms")
    op.drop_table("reply_examples")
