"""a conversation belongs to its customer: the link from an email to another sender's thread

Revision ID: 0007_thread_ownership
Revises: 0006
Create Date: 2026-12-05 05:30:00.000000

An email whose In-Reply-To or References names another sender's conversation now starts its own
conversation; `messages.replies_to_conversation_id` keeps the link for staff. Existing rows get
NULL (they were threaded before the rule). On SQLite the foreign key is added by rebuilding the
`messages` table (batch mode), which takes a while for a large table.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_thread_ownership"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_messages_replies_to_conversation_id"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "replies_to_conversation_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.create_foreign_key(
            FOREIGN_KEY, "conversations", ["replies_to_conversation_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_column("replies_to_conversation_id")
