"""workspace: assignment and closing on messages, draft revisions, notes, macros, presence

Revision ID: 0013_workspace
Revises: 0012_mailbox
Create Date: 2026-12-06 02:00:00.000000

The staff workspace (issue 16). Messages gain who they are assigned to and why they were
closed; replies gain their staff author and a revision number raised by every saved edit.
Existing closed messages were closed by rejecting a draft, so they get that reason.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_workspace"
down_revision: str | None = "0012_mailbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
CLOSE_REASONS = ("handled_elsewhere", "spam", "duplicate", "no_reply_needed", "draft_rejected")
PRESENCE = ("viewing", "editing")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_to_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("assigned_at", When, nullable=True))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("closed_at", When, nullable=True))
        batch_op.create_index("ix_messages_assigned_to_id", ["assigned_to_id"], unique=False)
        batch_op.create_foreign_key(
            "fk_messages_assigned_to_id_staff_users", "staff_users", ["assigned_to_id"], ["id"]
        )
        batch_op.create_check_constraint(
            "ck_messages_closed_reason", sa.column("closed_reason").in_(CLOSE_REASONS)
        )
    op.execute(
        "UPDATE messages SET closed_reason = 'draft_rejected', closed_at = processed_at "
        "WHERE status = 'closed'"
    )
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("revised_by", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("revised_at", When, nullable=True))

    op.create_table(
        "message_notes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("staff_id", BigId, nullable=False),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_notes_message_id", "message_notes", ["message_id"])
    op.create_index("ix_message_notes_store_id", "message_notes", ["store_id"])

    op.create_table(
        "macros",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "store_id", "name", "language", name="uq_macros_store_id_name_language"
        ),
    )
    op.create_index("ix_macros_store_id", "macros", ["store_id"])

    op.create_table(
        "presence",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("staff_id", BigId, nullable=False),
        sa.Column("staff_name", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("seen_at", When, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.CheckConstraint(sa.column("kind").in_(PRESENCE), name="ck_presence_kind"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "staff_id", name="uq_presence_message_id_staff_id"),
    )
    op.create_index("ix_presence_seen_at", "presence", ["seen_at"])
    op.create_index("ix_presence_store_id", "presence", ["store_id"])


def downgrade() -> None:
    op.drop_table("presence")
    op.drop_table("macros")
    op.drop_table("message_notes")
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_column("revised_at")
        batch_op.drop_column("revised_by")
        batch_op.drop_column("revision")
        batch_op.drop_column("author")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("ck_messages_closed_reason", type_="check")
        batch_op.drop_constraint("fk_messages_assigned_to_id_staff_users", type_="foreignkey")
        batch_op.drop_index("ix_messages_assigned_to_id")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_reason")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_to_id")
