"""credentials that can be taken back: API token scope and expiry; failed logins for throttling

Revision ID: 0008_credentials
Revises: 0007_thread_ownership
Create Date: 2026-12-05 05:30:00.000000

Tokens that exist before this revision keep the access they had (the `review` scope) and expire
90 days after the upgrade rather than after their creation, so upgrading locks no script out at
once; operators can list and revoke them (`python -m app list-api-tokens`).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0008_credentials"
down_revision: str | None = "0007_thread_ownership"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
SCOPES = ("read", "review")
GRACE_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), nullable=False, server_default="review")
        )
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    expires = datetime.now(UTC) + timedelta(days=GRACE_DAYS)
    if op.get_bind().dialect.name == "sqlite":
        # The models store naive UTC on SQLite (`UTCDateTime`); the same form is written here.
        expires = expires.replace(tzinfo=None)
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().values(expires_at=expires))
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column("scope", existing_type=sa.String(length=16), server_default=None)
        batch_op.create_check_constraint("ck_api_tokens_scope", sa.column("scope").in_(SCOPES))

    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("ck_api_tokens_scope", type_="check")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scope")
