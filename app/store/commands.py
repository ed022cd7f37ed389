"""`python -m app stores add | list | disable | enable | new-key | rotate-key`.

`app.cli` hands the `stores` command over here. Each subcommand opens the database, does its one
change in one deployment-wide transaction and prints what it did. A store's Admin API token is
read from an environment variable or standard input, never from the command line (where shell
history and `ps` would keep it), and is stored only sealed with `STORE_SECRET_KEYS`; nothing
printed is a secret except the key `new-key` makes. A refusal is one line on standard error and
exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.migrate import ensure_reachable, open_database
from app.db.scope import ALL_STORES
from app.db.statuses import StoreStatus
from app.store.registry import (
    StoreListing,
    StoreRefused,
    add_store,
    check_new_store,
    count_unrouted,
    list_stores,
    rotate_credentials,
    set_status,
)
from app.store.secrets import SecretBox

T = TypeVar("T")
REFUSED_EXIT = 2


def add_store_commands(commands: Any) -> None:
    """Add `stores` and its subcommands to the top-level command parser (`add_subparsers`)."""
    stores = commands.add_parser(
        "stores",
        help="add, list, disable or enable stores; make and rotate the credentials key",
        description="Manage the stores this deployment serves. The default store (id 1) takes "
        "its settings from the environment; the others are rows added here or by installing "
        "the Shopify app.",
    )
    actions = stores.add_subparsers(
        dest="stores_command", required=True, metavar="ACTION", help="what to do"
    )
    add = actions.add_parser(
        "add",
        help="add a store",
        description="Add a store. Its Admin API token, if any, is read from the environment "
        "variable named by --token-env or from the first line of standard input "
        "(--token-stdin), never from the command line, and stored encrypted with the first key "
        "of STORE_SECRET_KEYS.",
    )
    add.add_argument("--slug", required=True, help="short unique name, e.g. acme")
    add.add_argument("--name", required=True, help="the store's name as customers know it")
    add.add_argument(
        "--support-email", required=True, help="the address replies come from (also routes mail)"
    )
    add.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="EMAIL",
        help="another address whose mail is this store's (repeatable)",
    )
    add.add_argument("--shop-domain", help="your-store.myshopify.com, for the Admin API")
    add.add_argument("--store-url", help="the shop's public address, e.g. https://shop.example")
    add.add_argument("--locale", default="en", help="language tag of replies (default: en)")
    add.add_argument("--timezone", default="UTC", help="IANA time zone (default: UTC)")
    add.add_argument(
        "--auto-send-intents",
        nargs="*",
        metavar="INTENT",
        help="intents answered without review, space- or comma-separated; given with none, "
        "nothing is sent on its own (default: AUTO_SEND_INTENTS)",
    )
    add.add_argument(
        "--shadow", action="store_true", help="shadow mode: draft every reply, send none"
    )
    token = add.add_mutually_exclusive_group()
    token.add_argument(
        "--token-env", metavar="NAME", help="read the Admin API token from this variable"
    )
    token.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the Admin API token from the first line of standard input",
    )
    actions.add_parser(
        "list",
        help="list the stores (never their credentials)",
        description="List every store: id, slug, name, status, shop domain, addresses and "
        "whether credentials are stored; then how many emails belong to no store.",
    )
    for name, verb, effect in (
        ("disable", "disable", "it receives no more mail and no replies go out; history stays"),
        ("enable", "enable", "its mail is handled again"),
    ):
        change = actions.add_parser(
            name,
            help=f"{verb} a store ({effect})",
            description=f"{verb.capitalize()} a store by slug: {effect}. Running services see "
            "the change within STORE_CACHE_SECONDS.",
        )
        change.add_argument("--slug", required=True, help="the store (see `stores list`)")
    actions.add_parser(
        "new-key",
        help="print a new key for STORE_SECRET_KEYS",
        description="Print a new Fernet key. Put it first in STORE_SECRET_KEYS (comma-"
        "separated, newest first), restart, then run `stores rotate-key`.",
    )
    actions.add_parser(
        "rotate-key",
        help="re-encrypt every store's credentials with the first key",
        description="Re-encrypt every store's credentials with the first key of "
        "STORE_SECRET_KEYS, in one transaction; if any key cannot open a store's credentials "
        "nothing changes. Afterwards the older keys can be removed.",
    )


def run_store_command(args: argparse.Namespace, settings: Settings) -> None:
    """Run one `stores` subcommand; a refusal exits with code 2 and its reason.

    `new-key` is not here: `app.cli` runs it before reading any settings.
    """
    action = args.stores_command
    if action == "add":
        _add(args, settings)
    elif action == "list":
        listings, unrouted = _in_transaction(settings, lambda s: _listing(s, settings))
        print(format_stores(listings))
        print(f"{unrouted} email(s) not routed to any store")
    elif action in ("disable", "enable"):
        status = StoreStatus.DISABLED if action == "disable" else StoreStatus.ACTIVE
        changed = _in_transaction(settings, lambda s: set_status(s, args.slug, status))
        state = "disabled" if action == "disable" else "enabled"
        if changed is None:
            print(f"store {args.slug.strip()!r} was already {state}")
        else:
            print(f"store {changed.slug!r} (id {changed.id}) is {state}")
    elif action == "rotate-key":
        box = _secret_box(settings)
        rotated = _in_transaction(settings, lambda s: rotate_credentials(s, box))
        print(f"credentials of {rotated} store(s) re-encrypted with the first key")


def _add(args: argparse.Namespace, settings: Settings) -> None:
    intents = (
        [intent.value for intent in settings.AUTO_SEND_INTENTS]
        if args.auto_send_intents is None
        else [part for value in args.auto_send_intents for part in value.split(",") if part.strip()]
    )
    try:
        store = check_new_store(
            slug=args.slug,
            name=args.name,
            support_email=args.support_email,
            addresses=args.address,
            shop_domain=args.shop_domain,
            store_url=args.store_url,
            locale=args.locale,
            timezone=args.timezone,
            auto_send_intents=intents,
            shadow_mode=args.shadow,
        )
    except StoreRefused as exc:
        _refuse(str(exc))
    token = _read_token(args)
    sealed = _secret_box(settings).seal({"admin_api_token": token}) if token else None
    row = _in_transaction(
        settings, lambda s: add_store(s, store, settings, sealed_credentials=sealed)
    )
    held = "with its Admin API token (encrypted)" if sealed else "without credentials"
    print(f"store {row.slug!r} added as id {row.id}, {held}")


def _read_token(args: argparse.Namespace) -> str | None:
    if args.token_env:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            _refuse(f"the environment variable {args.token_env} is not set or empty")
        return token
    if args.token_stdin:
        if sys.stdin.isatty():
            import getpass

            # Typed at a terminal: not echoed, so it is not left on the screen either.
            token = getpass.getpass("Admin API token: ").strip()
        else:
            token = sys.stdin.readline().strip()
        if not token:
            _refuse("no token on standard input")
        return token
    return None


def _secret_box(settings: Settings) -> SecretBox:
    box = SecretBox.from_setting(settings.STORE_SECRET_KEYS)
    if box.fernet is None:
        _refuse(
            "STORE_SECRET_KEYS is not set: make a key with `python -m app stores new-key` and "
            "set it before storing credentials"
        )
    return box


async def _listing(session: AsyncSession, settings: Settings) -> tuple[list[StoreListing], int]:
    return await list_stores(session, settings), await count_unrouted(session)


def _refuse(reason: str) -> NoReturn:
    print(f"refused: {reason}", file=sys.stderr)
    sys.exit(REFUSED_EXIT)


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        db = open_database(settings.DATABASE_URL)
        try:
            await ensure_reachable(db)
            # Stores are deployment-wide by nature: the CLI sees and writes every store's rows.
            async with db.write(ALL_STORES) as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except StoreRefused as exc:
        _refuse(str(exc))


def format_stores(listings: list[StoreListing]) -> str:
    """A plain table of stores, one per line."""
    header = ("ID", "SLUG", "NAME", "STATUS", "DOMAIN", "ADDRESSES", "CREDENTIALS")
    rows = [header] + [
        (
            str(item.config.id),
            item.config.slug,
            item.config.name,
            item.config.status.value,
            item.config.shop_domain or "-",
            ",".join(sorted(item.config.support_addresses)) or "-",
            item.credentials,
        )
        for item in listings
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
