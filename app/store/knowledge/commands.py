"""`python -m app knowledge import [--dir DIR] [--store SLUG] [--shopify]`.

Imports a store's help articles: the Markdown files in `--dir` (default `KNOWLEDGE_DIR`; with
neither, the demo store's own articles when the store answers from the demo store) and, with
`--shopify` or whenever the store has Shopify credentials, its published pages and blog
articles. Every run is idempotent: what the sources still have is updated in place, what they
no longer have is removed. Files that cannot be read are listed and keep their old articles;
the exit code is then 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.config import Settings
from app.db.engine import Database
from app.db.migrate import ensure_reachable, open_database
from app.store.directory import StoreConfig, StoreDirectory
from app.store.knowledge.imports import import_demo_knowledge, import_folder, import_shopify
from app.store.knowledge.library import ImportCounts

PROBLEMS_EXIT = 1
REFUSED_EXIT = 2


def add_knowledge_commands(commands: Any) -> None:
    """Add `knowledge import` to the top-level command parser (`add_subparsers`)."""
    knowledge = commands.add_parser(
        "knowledge",
        help="import a store's help articles (Markdown, Shopify pages and blog articles)",
        description="The store's help articles, which the search_help tool answers from.",
    )
    actions = knowledge.add_subparsers(
        dest="knowledge_command", required=True, metavar="ACTION", help="what to do"
    )
    imports = actions.add_parser(
        "import",
        help="import (again) from Markdown files and Shopify",
        description="Import help articles idempotently: Markdown files from --dir or "
        "KNOWLEDGE_DIR, and the store's Shopify pages and blog articles when it has Shopify "
        "credentials. Articles a source no longer has are removed.",
    )
    imports.add_argument(
        "--dir", type=Path, help="folder of Markdown files (default: KNOWLEDGE_DIR)"
    )
    imports.add_argument("--store", default="default", metavar="SLUG", help="default: default")
    imports.add_argument(
        "--no-shopify", action="store_true", help="skip Shopify even when the store has credentials"
    )


def run_knowledge_command(args: argparse.Namespace, settings: Settings) -> None:
    """Run `knowledge import`; exits 1 when some file could not be read, 2 when refused."""
    counts = asyncio.run(_import(args, settings))
    for key, problem in sorted(counts.problems.items()):
        print(f"not imported: {key}: {problem}", file=sys.stderr)
    print(f"knowledge: {counts.line()}")
    if counts.problems:
        sys.exit(PROBLEMS_EXIT)


async def _import(args: argparse.Namespace, settings: Settings) -> ImportCounts:
    # Imported here: the command line loads the providers only for this command.
    from app.providers import build_providers

    db = open_database(settings.DATABASE_URL)
    providers = build_providers(settings)
    try:
        await ensure_reachable(db)
        directory = StoreDirectory(db, settings)
        store = next((s for s in await directory.all() if s.slug == args.store), None)
        if store is None:
            sys.exit(f"no store has the slug {args.store!r}")
        scoped = db.for_store(store.id)
        folder = args.dir or (Path(settings.KNOWLEDGE_DIR) if settings.KNOWLEDGE_DIR else None)
        counts = ImportCounts()
        if folder is not None:
            if not folder.is_dir():
                sys.exit(f"{folder} is not a folder")
            counts += await import_folder(scoped, folder)
        if not args.no_shopify:
            counts += await _from_shopify(scoped, store, providers, directory, folder is None)
        return counts
    finally:
        await providers.aclose()
        await db.dispose()


async def _from_shopify(
    db: Database, store: StoreConfig, providers: Any, directory: StoreDirectory, demo: bool
) -> ImportCounts:
    from app.providers import NoShop
    from app.store.shopify import ShopifyShop

    try:
        shop = await providers.shop_for(store, directory.secrets)
    except NoShop as exc:
        print(f"Shopify skipped: {exc}", file=sys.stderr)
        return ImportCounts()
    if not isinstance(shop, ShopifyShop):
        # The demo store stands in for Shopify: its help articles are bundled.
        return await import_demo_knowledge(db) if demo else ImportCounts()
    base = store.store_url or f"https://{store.shop_domain or ''}"
    return await import_shopify(db, shop.client, base_url=base, language=store.locale)
