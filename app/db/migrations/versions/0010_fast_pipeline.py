"""fast pipeline: job priorities (sends first), an index for the per-sender reply cap

Revision ID: 0010_fast_pipeline
Revises: 0009_stores
Create Date: 2026-12-05 17:00:00.000000

Jobs get a priority (lower runs first): sends 0, privacy requests 50, inbound email 100; the claim
index leads with status and priority. The per-sender reply cap compares addresses without
case: replies get `to_address_key` (the recipient lower-cased, filled in for existing rows),
and the index on the plain column gives way to one on it.

An email is now classified, planned and filed in one unit of work. Emails left half-way by the
previous code (classified or planned, with their job still pending, no reply yet) go back to
`received`: their job processes them again from the stored raw bytes, as a retry would.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_fast_pipeline"
down_revision: str | None = "0009_stores"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
PRIORITIES = {"send_reply": 0, "privacy_request": 50}
INBOUND_PRIORITY = 100
HALF_WAY = ("ready", "planned", "needs_human")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "priority", sa.SmallInteger(), nullable=False, server_default=str(INBOUND_PRIORITY)
            )
        )
        batch_op.drop_index("ix_jobs_claim")
        batch_op.create_index("ix_jobs_claim", ["status", "priority", "run_after"], unique=False)
    jobs = sa.table(
        "jobs",
        sa.column("kind", sa.String()),
        sa.column("priority", sa.SmallInteger()),
        sa.column("message_id", sa.BigInteger()),
        sa.column("status", sa.String()),
    )
    for kind, priority in PRIORITIES.items():
        op.execute(jobs.update().where(jobs.c.kind == kind).values(priority=priority))
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("to_address_key", sa.String(length=320), nullable=True))
    replies_table = sa.table(
        "replies", sa.column("to_address", sa.String()), sa.column("to_address_key", sa.String())
    )
    op.execute(
        replies_table.update().values(to_address_key=sa.func.lower(replies_table.c.to_address))
    )
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.alter_column("to_address_key", existing_type=sa.String(length=320), nullable=False)
        batch_op.drop_index("ix_replies_to_address_created_at")
        batch_op.create_index(
            "ix_replies_to_address_key_created_at", ["to_address_key", "created_at"], unique=False
        )
    messages = sa.table("messages", sa.column("id", sa.BigInteger()), sa.column("status"))
    replies = sa.table("replies", sa.column("message_id", sa.BigInteger()))
    pending = (
        sa.select(jobs.c.message_id)
        .where(jobs.c.kind == "process_inbound", jobs.c.status.in_(("queued", "running")))
        .scalar_subquery()
    )
    answered = sa.select(replies.c.message_id).scalar_subquery()
    op.execute(
        messages.update()
        .where(
            messages.c.status.in_(HALF_WAY),
            messages.c.id.in_(pending),
            messages.c.id.not_in(answered),
        )
        .values(status="received")
    )


def downgrade() -> None:
    with op.batch_alter_table("replies", schema=None) as batch_op:
        batch_op.drop_index("ix_replies_to_address_key_created_at")
        batch_op.create_index(
            "ix_replies_to_address_created_at", ["to_address", "created_at"], unique=False
        )
        batch_op.drop_column("to_address_key")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim")
        batch_op.create_index("ix_jobs_claim", ["status", "run_after"], unique=False)
        batch_op.drop_column("priority")
