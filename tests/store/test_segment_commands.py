"""`python -m app segments refresh`: the demo store's customers, scored and stored."""

from __future__ import annotations

import pytest

from app.cli import build_parser
from app.config import Settings
from app.db.engine import Database
from app.db.stores import DEFAULT_STORE_ID
from app.store.segment_commands import _refresh
from app.store.segment_cuts import segment_table


def test_the_command_line_has_segments_refresh() -> None:
    args = build_parser().parse_args(["segments", "refresh", "--store", "shop-2"])
    assert (args.command, args.segments_command, args.store) == ("segments", "refresh", "shop-2")


async def test_refresh_stores_every_demo_customer(db: Database, settings: Settings) -> None:
    rows = await _refresh("default", settings)
    assert sum(r.customers for r in rows) == 14
    assert sum(r.customers for r in await segment_table(db, DEFAULT_STORE_ID)) == 14
    with pytest.raises(SystemExit, match="no store has the slug"):
        await _refresh("nope", settings)
