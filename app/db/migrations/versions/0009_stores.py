"""many stores: a stores table, staff memberships per store, and a store id on every store's row

Revision ID: 0009_stores
Revises: 0008_credentials
Create Date: 2026-12-05 08:30:00.000000

The deployment's existing data becomes the default store's (id 1, slug `default`), whose settings
keep coming from the environment; every existing staff member becomes an owner of it. Emails and
jobs may have no store yet (routing happens when the worker reads the recipients); the other
store-owned rows always have one. On SQLite each table is rebuilt (batch mode) to add the
foreign key, which takes a while on a large database.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009_stores"
down_revision: str | None = "0008_credentials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
STATUSES = ("active", "disabled", "uninstalled", "redacted")
ROLES = ("owner", "agent")
DEFAULT_STORE_ID = 1
REQUIRED = (
    "conversations",
    "replies",
    "agent_runs",
    "model_turns",
    "tool_calls",
    "proposed_actions",
)
OPTIONAL = ("messages", "jobs", "audit_log")
CHOSEN = ("staff_sessions", "api_tokens")
JOB_KINDS_BEFORE = ("process_inbound", "send_reply")
JOB_KINDS = (*JOB_KINDS_BEFORE, "privacy_request")
PRIVACY_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")
PRIVACY_STATUSES = ("pending", "done", "failed")

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _now() -> datetime:
    now = datetime.now(UTC)
    # The models store naive UTC on SQLite (`UTCDateTime`); the same form is written here.
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def upgrade() -> None:
    stores = op.create_table(
        "stores",
        sa.Column("id", BigId, nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("support_email", sa.String(length=320), nullable=False),
        sa.Column("support_addresses", sa.JSON(), nullable=False),
        sa.Column("mail_settings", sa.JSON(), nullable=False),
        sa.Column("store_url", sa.Text(), nullable=True),
        sa.Column("locale", sa.String(length=35), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("branding", sa.JSON(), nullable=False),
        sa.Column("auto_send_intents", sa.JSON(), nullable=False),
        sa.Column("auto_send_min_confidence", sa.Float(), nullable=False),
        sa.Column("shadow_mode", sa.Boolean(), nullable=False),
        sa.Column("autonomy", sa.JSON(), nullable=False),
        sa.Column("policies_cache", sa.JSON(), nullable=True),
        sa.Column("credentials", sa.LargeBinary(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uninstalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(sa.column("status").in_(STATUSES), name="ck_stores_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
        sa.UniqueConstraint("shop_domain"),
    )
    op.create_table(
        "store_memberships",
        sa.Column("id", BigId, nullable=False),
        sa.Column("staff_id", BigId, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(sa.column("role").in_(ROLES), name="ck_store_memberships_role"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "store_id", name="uq_store_memberships"),
    )
    op.create_index(
        op.f("ix_store_memberships_staff_id"), "store_memberships", ["staff_id"], unique=False
    )
    op.create_index(
        op.f("ix_store_memberships_store_id"), "store_memberships", ["store_id"], unique=False
    )
    # The first row of a new table: id 1 on both databases, without touching a sequence.
    op.bulk_insert(
        stores,
        [
            {
                "slug": "default",
                "shop_domain": None,
                "name": "Default store",
                "status": "active",
                "support_email": "",
                "support_addresses": [],
                "mail_settings": {},
                "store_url": None,
                "locale": "en",
                "timezone": "UTC",
                "signature": "",
                "branding": {},
                "auto_send_intents": [],
                "auto_send_min_confidence": 0.8,
                "shadow_mode": False,
                "autonomy": {},
                "scopes": "",
                "created_at": _now(),
            }
        ],
    )
    for table in (*REQUIRED, *OPTIONAL):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("store_id", BigId, nullable=True))
        rows = sa.table(table, sa.column("store_id", BigId))
        op.execute(rows.update().values(store_id=DEFAULT_STORE_ID))
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table in REQUIRED:
                batch_op.alter_column("store_id", existing_type=BigId, nullable=False)
            batch_op.create_foreign_key(f"fk_{table}_store_id", "stores", ["store_id"], ["id"])
            batch_op.create_index(batch_op.f(f"ix_{table}_store_id"), ["store_id"], unique=False)
    for table in CHOSEN:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("store_id", BigId, nullable=True))
            batch_op.create_foreign_key(f"fk_{table}_store_id", "stores", ["store_id"], ["id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("ck_jobs_kind", type_="check")
        batch_op.create_check_constraint("ck_jobs_kind", sa.column("kind").in_(JOB_KINDS))
    op.create_table(
        "shopify_webhooks",
        sa.Column("id", BigId, nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("shop_domain", sa.String(length=255), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("id", BigId, nullable=False),
        sa.Column("store_id", BigId, nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("webhook_id", sa.String(length=128), nullable=True),
        sa.Column("shopify_customer_id", sa.String(length=64), nullable=True),
        sa.Column("customer_email_hash", sa.String(length=64), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("export", sa.LargeBinary(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            sa.column("topic").in_(PRIVACY_TOPICS), name="ck_privacy_requests_topic"
        ),
        sa.CheckConstraint(
            sa.column("status").in_(PRIVACY_STATUSES), name="ck_privacy_requests_status"
        ),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_privacy_requests_store_id"), "privacy_requests", ["store_id"], unique=False
    )
    op.execute(
        sa.text(
            "INSERT INTO store_memberships (staff_id, store_id, role, created_at) "
            "SELECT id, :store, 'owner', :now FROM staff_users"
        ).bindparams(store=DEFAULT_STORE_ID, now=_now())
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_privacy_requests_store_id"), table_name="privacy_requests")
    op.drop_table("privacy_requests")
    op.drop_table("shopify_webhooks")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_constraint("ck_jobs_kind", type_="check")
        batch_op.create_check_constraint("ck_jobs_kind", sa.column("kind").in_(JOB_KINDS_BEFORE))
    for table in CHOSEN:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_store_id", type_="foreignkey")
            batch_op.drop_column("store_id")
    for table in (*REQUIRED, *OPTIONAL):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_store_id"))
            batch_op.drop_constraint(f"fk_{table}_store_id", type_="foreignkey")
            batch_op.drop_column("store_id")
    op.drop_index(op.f("ix_store_memberships_store_id"), table_name="store_memberships")
    op.drop_index(op.f("ix_store_memberships_staff_id"), table_name="store_memberships")
    op.drop_table("store_memberships")
    op.drop_table("stores")
