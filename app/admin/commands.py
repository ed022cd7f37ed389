"""The command-line side of staff accounts and API tokens (`python -m app create-admin` ...).

`app.cli` parses the command line and hands these commands over; each opens the database,
does its one change in one transaction and prints what it did. Nothing printed is a secret
except the new token of `create-api-token`, shown once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.memberships import MembershipError, grant, parse_slugs, revoke, stores_by_slug
from app.admin.staff import (
    StaffError,
    account,
    create_api_token,
    create_staff,
    disable_staff,
    set_password,
)
from app.admin.tokens import TokenInfo, list_api_tokens, revoke_api_token
from app.config import Settings
from app.db.migrate import ensure_reachable, open_database
from app.db.statuses import StoreRole, TokenScope

T = TypeVar("T")


def run_staff_command(args: argparse.Namespace, settings: Settings) -> None:
    """Run one of the staff and token commands; a refusal exits with its reason."""
    if args.command in ("create-admin", "create-staff"):
        password = _read_password()
        _in_transaction(
            settings,
            lambda s: create_staff(
                s,
                email=args.email,
                password=password,
                name=args.name,
                stores=parse_slugs(args.store),
                role=StoreRole(args.role),
            ),
        )
        print(f"staff account {args.email.strip().lower()} is ready; log in at /admin")
    elif args.command == "grant-store":
        slugs = parse_slugs(args.store)
        _in_transaction(
            settings, lambda s: grant_stores(s, args.email, slugs, StoreRole(args.role))
        )
        print(f"{args.email.strip().lower()} is {args.role} of {', '.join(slugs)}")
    elif args.command == "revoke-store":
        slug = args.store.strip().lower()
        if not _in_transaction(settings, lambda s: revoke_store(s, args.email, slug)):
            sys.exit(f"{args.email.strip().lower()} is not a member of store {slug}")
        print(f"{args.email.strip().lower()} is no longer a member of {slug}")
    elif args.command == "set-password":
        password = _read_password()
        ended = _in_transaction(
            settings, lambda s: set_password(s, email=args.email, password=password)
        )
        print(f"password of {args.email.strip().lower()} changed; {ended} session(s) ended")
    elif args.command == "disable-staff":
        disabled = _in_transaction(settings, lambda s: disable_staff(s, email=args.email))
        print(
            f"staff account {args.email.strip().lower()} disabled; {disabled.sessions} "
            f"session(s) ended, {disabled.tokens} API token(s) revoked"
        )
    elif args.command == "create-api-token":
        days = args.days if args.days is not None else settings.API_TOKEN_DAYS
        token = _in_transaction(
            settings,
            lambda s: create_api_token(
                s,
                email=args.email,
                name=args.name,
                scope=TokenScope(args.scope),
                days=days,
                store=args.store.strip().lower() if args.store else None,
            ),
        )
        print(token)
    elif args.command == "list-api-tokens":
        found = _in_transaction(settings, lambda s: list_api_tokens(s, email=args.email))
        print(format_tokens(found))
    elif args.command == "revoke-api-token":
        revoked = _in_transaction(settings, lambda s: revoke_api_token(s, args.token_id))
        if revoked is None:
            sys.exit(f"no API token {args.token_id}")
        print(f"API token {revoked.id} ({revoked.prefix}…, {revoked.staff_email}) is revoked")


async def grant_stores(
    session: AsyncSession, email: str, slugs: list[str], role: StoreRole
) -> None:
    """Give an account `role` in each store of `slugs` (audited in each store)."""
    user = await account(session, email)
    for store in await stores_by_slug(session, slugs):
        await grant(session, user, store, role, by="cli")


async def revoke_store(session: AsyncSession, email: str, slug: str) -> bool:
    """Take an account out of a store; False if it was not a member."""
    user = await account(session, email)
    (store,) = await stores_by_slug(session, [slug])
    return await revoke(session, user, store, by="cli")


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def run() -> T:
        db = open_database(settings.DATABASE_URL)
        try:
            await ensure_reachable(db)
            async with db.write() as session:
                return await work(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except (StaffError, MembershipError) as exc:
        sys.exit(f"refused: {exc}")


def _read_password() -> str:
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Again: ") != first:
        sys.exit("the passwords differ")
    return first


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "never"


def format_tokens(tokens: list[TokenInfo]) -> str:
    """A plain table of tokens, one per line, or a sentence when there are none."""
    if not tokens:
        return "no API tokens"
    header = ("ID", "PREFIX", "ACCOUNT", "SCOPE", "STATE", "EXPIRES", "LAST USED", "NAME")
    rows = [header] + [
        (
            str(token.id),
            token.prefix + "…",
            token.staff_email,
            token.scope.value,
            token.state,
            _day(token.expires_at),
            _day(token.last_used_at),
            token.name,
        )
        for token in tokens
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
