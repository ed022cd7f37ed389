"""aftersale: resolution checks, satisfaction ratings on replies, follow-ups, unsubscribes

Revision ID: 0017_aftersale
Revises: 0016_autonomy
Create Date: 2026-12-06 02:30:00.000000

After the sale (issue 18): every sent reply gets a resolution check (did the customer write
again within RESOLUTION_CHECK_HOURS?), a satisfaction rating on the reply row, proactive
follow-ups (a check-in after delivery, a review request after a good rating) and the per-store
list of addresses that unsubscribed from them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_aftersale"
down_revision: str | None = "0016_autonomy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
RATINGS = ("good", "not_good")
KINDS = ("checkin", "review")
STATUSES = ("scheduled", "sending", "sent", "skipped", "dead", "unknown")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("customer_name", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("reply_id", BigId, nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text_body", sa.Text(), nullable=True),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("rfc_message_id", sa.String(length=1000), nullable=True),
        sa.Column("provider_message_id", sa.String(length=256), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", When, nullable=False),
        sa.Column("sent_at", When, nullable=True),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("kind").in_(KINDS), name="ck_followups_kind"),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="ck_followups_status"),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "store_id", "kind", "source_key", name="uq_followups_store_kind_source"
        ),
    )
    op.create_index("ix_followups_address_sent_at", "followups", ["address", "sent_at"])
    op.create_index("ix_followups_status_due_at", "followups", ["status", "due_at"])
    op.create_index("ix_followups_store_id", "followups", ["store_id"])
    op.create_table(
        "resolution_checks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("reply_id", BigId, nullable=False),
        sa.Column("conversation_id", BigId, nullable=True),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("sent_at", When, nullable=False),
        sa.Column("due_at", When, nullable=False),
        sa.Column("checked_at", When, nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("wrote_again_id", BigId, nullable=True),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.ForeignKeyConstraint(["wrote_again_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reply_id"),
    )
    op.create_index("ix_resolution_checks_due", "resolution_checks", ["checked_at", "due_at"])
    op.create_index("ix_resolution_checks_store_id", "resolution_checks", ["store_id"])
    op.create_table(
        "unsubscribes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("followup_id", BigId, nullable=True),
        sa.Column("one_click", sa.Boolean(), nullable=False),
        sa.Column("unsubscribed_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["followup_id"], ["followups.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "address", name="uq_unsubscribes_store_id_address"),
    )
    op.create_index("ix_unsubscribes_store_id", "unsubscribes", ["store_id"])
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rating", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", When, nullable=True))
        batch_op.create_check_constraint("ck_replies_rating", sa.column("rating").in_(RATINGS))


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_constraint("ck_replies_rating", type_="check")
        batch_op.drop_column("rated_at")
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")
    op.drop_index("ix_unsubscribes_store_id", table_name="unsubscribes")
    op.drop_table("unsubscribes")
    op.drop_index("ix_resolution_checks_store_id", table_name="resolution_checks")
    op.drop_index("ix_resolution_checks_due", table_name="resolution_checks")
    op.drop_table("resolution_checks")
    op.drop_index("ix_followups_store_id", table_name="followups")
    op.drop_index("ix_followups_status_due_at", table_name="followups")
    op.drop_index("ix_followups_address_sent_at", table_name="followups")
    op.drop_table("followups")
