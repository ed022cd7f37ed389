"""status columns hold only their enum's values: one CHECK constraint per status column

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00.000000

The columns stay VARCHAR of the same width (the models store `StrEnum` values with
`Enum(native_enum=False)`), so every existing row is kept as it is. Before adding the
constraints, the upgrade looks for stored values the enums do not know and stops, naming them:
such a row could no longer be read by the service, and a constraint would refuse it anyway.

On SQLite a constraint can only be added by rebuilding the table (Alembic's batch mode copies
it, with foreign keys unenforced meanwhile: see `env.py`), which takes a while for a large
`messages` table; PostgreSQL checks the rows in place.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision, written out: a migration must not change when the code does.
ALLOWED: dict[tuple[str, str], tuple[str, ...]] = {
    ("messages", "status"): (
        "received",
        "quarantined",
        "skipped",
        "needs_human",
        "ready",
        "planned",
        "drafted",
        "answered",
        "closed",
    ),
    ("replies", "status"): (
        "draft",
        "rejected",
        "queued",
        "sending",
        "failed",
        "sent",
        "dead",
        "unknown",
    ),
    ("jobs", "kind"): ("process_inbound", "send_reply"),
    ("jobs", "status"): ("queued", "running", "done", "dead"),
    ("agent_runs", "status"): ("running", "finished", "abandoned"),
    ("proposed_actions", "status"): ("pending", "approved", "executed", "failed", "rejected"),
}


def _constraint_name(table: str, column: str) -> str:
    return f"ck_{table}_{column}"


def _check_stored_values() -> None:
    connection = op.get_bind()
    unknown: list[str] = []
    for (table, column), values in ALLOWED.items():
        # The names come from ALLOWED above, never from outside.
        found = connection.execute(
            sa.text(
                f"SELECT {column}, COUNT(*) FROM {table} WHERE {column} NOT IN :values"  # noqa: S608
                f" GROUP BY {column} ORDER BY {column}"
            ).bindparams(sa.bindparam("values", value=list(values), expanding=True))
        ).all()
        unknown += [f"{table}.{column} = {value!r} ({count} rows)" for value, count in found]
    if unknown:
        raise RuntimeError(
            "stored statuses the service does not know; fix or remove these rows, then "
            "migrate again: " + "; ".join(unknown)
        )


def upgrade() -> None:
    _check_stored_values()
    tables: dict[str, list[str]] = {}
    for table, column in ALLOWED:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_check_constraint(
                    _constraint_name(table, column),
                    sa.column(column).in_(ALLOWED[table, column]),
                )


def downgrade() -> None:
    tables: dict[str, list[str]] = {}
    for table, column in ALLOWED:
        tables.setdefault(table, []).append(column)
    for table, columns in tables.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(_constraint_name(table, column), type_="check")
