"""Record ids taken from a request: an id no row can have is no record, never a crash.

Every id column is a signed 64-bit integer (PostgreSQL `bigint`, SQLite `INTEGER`); a larger
number reaching the database makes the driver raise (an overflow), which used to be a 500. Path
ids out of this range are answered 404 (`app.admin.errors`), like any id with no row.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ROW_ID = 2**63 - 1
"""The largest value a 64-bit signed id column holds."""

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A record's id.")]
"""A record's id in a path: out of range is a 404."""

CursorId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ROW_ID, description="Show only records with a smaller id (paging)."),
]
"""A paging cursor (`before_id`): out of range is a 422, as any malformed query parameter."""
