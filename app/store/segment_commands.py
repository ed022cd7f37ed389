"""`python -m app segments refresh [--store SLUG]`: recompute a store's LFRM segments.

Reads every customer of the store a page at a time (paced) and stores the store's quintile
boundaries and each customer's segment (`app.store.segment_cuts`). Run it from cron, daily.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from app.config import Settings
from app.db.migrate import ensure_reachable, open_database
from app.store.directory import StoreDirectory
from app.store.protocol import ShopInsights
from app.store.segment_cuts import refresh_segments, segment_table


def add_segment_commands(commands: Any) -> None:
    """Add `segments refresh` to the top-level command parser (`add_subparsers`)."""
    segments = commands.add_parser(
        "segments",
        help="recompute a store's customer segments (LFRM)",
        description="Customer segments scored on the store's own customers.",
    )
    actions = segments.add_subparsers(
        dest="segments_command", required=True, metavar="ACTION", help="what to do"
    )
    refresh = actions.add_parser(
        "refresh",
        help="read every customer (paced) and store the boundaries and segments",
        description="Read all of the store's customers from Shopify a page at a time, compute "
        "the quintile boundaries of each LFRM measure and store every customer's segment.",
    )
    refresh.add_argument("--store", default="default", metavar="SLUG", help="default: default")


def run_segment_command(args: argparse.Namespace, settings: Settings) -> None:
    """Run `segments refresh` and print customers per segment."""
    for row in asyncio.run(_refresh(args.store, settings)):
        sys.stdout.write(f"{row.label:16} {row.customers:6}\n")


async def _refresh(slug: str, settings: Settings) -> list[Any]:
    # Imported here: the command line loads the providers only for this command.
    from app.providers import build_providers

    db = open_database(settings.DATABASE_URL)
    providers = build_providers(settings)
    try:
        await ensure_reachable(db)
        directory = StoreDirectory(db, settings)
        store = next((s for s in await directory.all() if s.slug == slug), None)
        if store is None:
            sys.exit(f"no store has the slug {slug!r}")
        shop = await providers.shop_for(store, directory.secrets)
        if not isinstance(shop, ShopInsights):
            sys.exit("this store's shop cannot list its customers")
        await refresh_segments(db, store.id, shop, now=datetime.now(UTC))
        return await segment_table(db, store.id)
    finally:
        await providers.aclose()
        await db.dispose()
