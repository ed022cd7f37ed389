"""delivery events: providers' events about sent replies, a suppression list, reply delivery state

Revision ID: 0011_delivery_events
Revises: 0010_fast_pipeline
Create Date: 2026-12-06 10:00:00.000000

`delivery_events` keeps each provider event once (unique per provider and event id), matched to
its reply when known; `suppressions` lists, per store, the addresses that bounced hard or
reported a reply as spam; replies get the state the provider last reported. Nothing existing
changes meaning: existing replies have no delivery state yet.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_delivery_events"
down_revision: str | None = "0010_fast_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
STATES = ("delivered", "deferred", "bounced", "dropped", "spam_report")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hard", sa.Boolean(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("provider_message_id", sa.String(length=256), nullable=True),
        sa.Column("message_key", sa.String(length=256), nullable=True),
        sa.Column("rfc_message_id", sa.String(length=1000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("reply_id", BigId, nullable=True),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("store_id", BigId, nullable=True),
        sa.CheckConstraint(sa.column("kind").in_(STATES), name="ck_delivery_events_kind"),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "event_id", name="uq_delivery_events_provider_event_id"),
    )
    for column in ("message_key", "rfc_message_id", "reply_id", "store_id"):
        op.create_index(f"ix_delivery_events_{column}", "delivery_events", [column], unique=False)
    op.create_table(
        "suppressions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("delivery_event_id", BigId, nullable=True),
        sa.Column("reply_id", BigId, nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("suppressed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=320), nullable=True),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("kind").in_(STATES), name="ck_suppressions_kind"),
        sa.ForeignKeyConstraint(["delivery_event_id"], ["delivery_events.id"]),
        sa.ForeignKeyConstraint(["reply_id"], ["replies.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "address", name="uq_suppressions_store_id_address"),
    )
    op.create_index("ix_suppressions_store_id", "suppressions", ["store_id"], unique=False)
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_state", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("delivery_hard", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("delivery_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivery_reason", sa.Text(), nullable=True))
        batch_op.create_check_constraint(
            "ck_replies_delivery_state", sa.column("delivery_state").in_(STATES)
        )
        # Delivery events name their reply by the id the provider's send returned.
        batch_op.create_index(
            "ix_replies_provider_message_id", ["provider_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_provider_message_id")
        batch_op.drop_constraint("ck_replies_delivery_state", type_="check")
        batch_op.drop_column("delivery_reason")
        batch_op.drop_column("delivery_at")
        batch_op.drop_column("delivery_hard")
        batch_op.drop_column("delivery_state")
    op.drop_index("ix_suppressions_store_id", table_name="suppressions")
    op.drop_table("suppressions")
    for column in ("message_key", "rfc_message_id", "reply_id", "store_id"):
        op.drop_index(f"ix_delivery_events_{column}", table_name="delivery_events")
    op.drop_table("delivery_events")
