"""segments: LFRM boundaries per store, customers' segments, suggested products and their clicks

Revision ID: 0018_segments
Revises: 0017_aftersale
Create Date: 2026-12-06 02:30:00.000000

Issue 18 items 4 and 5: `segment_cuts` keeps each store's quintile boundaries so scoring one
customer is one read; `customer_segments` keeps each customer's segment and priority for the
needs-action view and the reports table; `product_suggestions` keeps each suggested product with
the hash of its redirect token and its clicks.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_segments"
down_revision: str | None = "0017_aftersale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "segment_cuts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("cuts", sa.JSON(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("computed_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", name="uq_segment_cuts_store_id"),
    )
    op.create_index("ix_segment_cuts_store_id", "segment_cuts", ["store_id"])
    op.create_table(
        "customer_segments",
        sa.Column("id", BigId, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("meaning", sa.String(length=200), nullable=False),
        sa.Column("computed_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "email", name="uq_customer_segments_store_id_email"),
    )
    op.create_index("ix_customer_segments_store_id", "customer_segments", ["store_id"])
    op.create_index(
        "ix_customer_segments_store_id_segment", "customer_segments", ["store_id", "segment"]
    )
    op.create_table(
        "product_suggestions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=100), nullable=False),
        sa.Column("product_title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("last_clicked_at", When, nullable=True),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash", name="uq_product_suggestions_token_hash"),
    )
    op.create_index("ix_product_suggestions_store_id", "product_suggestions", ["store_id"])
    op.create_index(
        "ix_product_suggestions_store_id_product_id",
        "product_suggestions",
        ["store_id", "product_id"],
    )


def downgrade() -> None:
    op.drop_table("product_suggestions")
    op.drop_table("customer_segments")
    op.drop_table("segment_cuts")
