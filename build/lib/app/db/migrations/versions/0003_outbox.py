"""outbox replies, pipeline step timings, tool results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:32:25.433055
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("from_address", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("text_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("html_body", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("generated_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("template", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("in_reply_to", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("references", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("decision", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("decision_reasons", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("verification", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("sending_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_replies_status_created_at", ["status", "created_at"])
        batch_op.create_index("uq_replies_idempotency_key", ["idempotency_key"], unique=True)

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reply_id", BIG_ID, nullable=True))
        batch_op.create_index("ix_jobs_reply_id", ["reply_id"])
        batch_op.create_foreign_key("fk_jobs_reply_id_replies", "replies", ["reply_id"], ["id"])

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("steps", sa.JSON(), nullable=True))

    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_column("result")

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("steps")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_jobs_reply_id_replies", type_="foreignkey")
        batch_op.drop_index("ix_jobs_reply_id")
        batch_op.drop_column("reply_id")

    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("uq_replies_idempotency_key")
        batch_op.drop_index("ix_replies_status_created_at")
        for column in (
            "sending_started_at",
            "provider_message_id",
            "last_error",
            "attempts",
            "verification",
            "decision_reasons",
            "decision",
            "references",
            "in_reply_to",
            "template",
            "language",
            "generated_text",
            "html_body",
            "text_body",
            "subject",
            "from_address",
            "idempotency_key",
        ):
            batch_op.drop_column(column)
