"""autonomy: each intent's level per store and language, its history, shadow decisions

Revision ID: 0016_autonomy
Revises: 0015_reply_examples
Create Date: 2026-12-08 02:00:00.000000

Autonomy per intent (issue 17 item 4): `intent_autonomy` holds one intent's level in one
language of a store (no row: the configured starting level), `autonomy_changes` every change
of it. Replies gain what the policy would have done at `auto` in shadow mode, and a structured
reason code for a rejection (a wrong fact counts against the intent's autonomy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_autonomy"
down_revision: str | None = "0015_reply_examples"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
LEVELS = ("off", "draft", "shadow", "auto")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shadow_decision", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("reject_category", sa.String(length=32), nullable=True))

    op.create_table(
        "intent_autonomy",
        sa.Column("id", BigId, nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=320), nullable=False),
        sa.Column("changed_at", When, nullable=False),
        sa.Column("measured_since", When, nullable=True),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("level").in_(LEVELS), name="ck_intent_autonomy_level"),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "store_id", "intent", "language", name="uq_intent_autonomy_store_id_intent_language"
        ),
    )
    op.create_index("ix_intent_autonomy_store_id", "intent_autonomy", ["store_id"])

    op.create_table(
        "autonomy_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("from_level", sa.String(length=16), nullable=False),
        sa.Column("to_level", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("measured", sa.JSON(), nullable=True),
        sa.Column("reply_id", BigId, nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(
            sa.column("from_level").in_(LEVELS), name="ck_autonomy_changes_from_level"
        ),
        sa.CheckConstraint(sa.column("to_level").in_(LEVELS), name="ck_autonomy_changes_to_level"),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_autonomy_changes_intent", "autonomy_changes", ["store_id", "intent", "language"]
    )
    op.create_index("ix_autonomy_changes_store_id", "autonomy_changes", ["store_id"])


def downgrade() -> None:
    op.drop_table("autonomy_changes")
    op.drop_table("intent_autonomy")
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("reject_category")
        batch_op.drop_column("shadow_decision")
