"""Command line: `python -m app serve | worker | migrate | demo | eval | create-admin | ...`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from importlib.metadata import PackageNotFoundError, version

from app import metrics
from app.config import ConfigError, Settings, load_settings
from app.db.migrate import DatabaseUnreachable, ensure_reachable, open_database, upgrade_database
from app.db.statuses import StoreRole, TokenScope
from app.jobs.process import SUPERVISED_FLAG, read_settings
from app.logs import configure_logging
from app.store.commands import add_store_commands, run_store_command
from app.store.knowledge.commands import add_knowledge_commands, run_knowledge_command
from app.store.segment_commands import add_segment_commands, run_segment_command

DISTRIBUTION = "shop-support-mail"
STAFF_COMMANDS = frozenset(
    {
        "create-admin",
        "create-staff",
        "grant-store",
        "revoke-store",
        "set-password",
        "disable-staff",
        "create-api-token",
        "list-api-tokens",
        "revoke-api-token",
    }
)


def package_version() -> str:
    """The installed distribution's version, or a marker when running from an uninstalled tree."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install -e .`)"


def build_parser() -> argparse.ArgumentParser:
    """The command line: every command has a description and every option a help text."""
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="AI email support for Shopify stores. Settings come from the environment "
        "(or .env); see .env.example.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=description)

    serve = command(
        "serve",
        "run the HTTP service (and its worker process)",
        "Serve the inbound webhook, the admin and the JSON API. With WORKER_MODE=process (the "
        "default) it also starts a worker process, wakes it when mail arrives, restarts it if it "
        "dies and stops it on shutdown; with WORKER_MODE=off run workers yourself. Run `migrate` "
        "first.",
    )
    serve.add_argument("--host", help="interface to bind (default: HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT)")
    worker = command(
        "worker",
        "run a standalone worker",
        "Work through queued jobs (answering emails, sending replies) until SIGINT or SIGTERM; "
        "running jobs finish first. On PostgreSQL several workers can run side by side.",
    )
    worker.add_argument(
        "--concurrency", type=int, metavar="K", help="jobs at once (default: WORKER_CONCURRENCY)"
    )
    worker.add_argument(
        SUPERVISED_FLAG,
        action="store_true",
        help="how `serve` starts its worker process (WORKER_MODE=process): settings, wake-ups "
        "and the end of serve come on standard input; not for use by hand",
    )
    command(
        "migrate",
        "apply database migrations",
        "Bring the database at DATABASE_URL to the latest schema revision (safe to repeat).",
    )
    demo = command(
        "demo",
        "run the bundled sample emails through the real webhook",
        "Start the service on a fresh SQLite file with embedded defaults (no keys needed), post "
        "the bundled sample emails to its webhook and print what happened to each.",
    )
    demo.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=8000,
        metavar="PORT",
        help="then keep the service running for the admin on PORT (default 8000)",
    )
    command(
        "eval",
        "score the configured model on the labelled email set",
        "Run the configured model (the offline rules without OPENAI_API_KEY) on the labelled "
        "emails and print its scores and misses.",
    )
    for name in ("create-admin", "create-staff"):
        create_admin = command(
            name,
            "create a staff account for the admin (or reset its password)",
            "Create a staff account for the admin, or reset its password and re-enable it; a "
            "reset ends every session of the account. The password is read from the terminal, "
            "or from the first line of standard input. The account joins the stores named by "
            "--store with --role; without --store, a new account becomes an owner of the default "
            "store while it is the only store (with several stores --store is required).",
        )
        create_admin.add_argument("--email", required=True, help="the staff member's email address")
        create_admin.add_argument("--name", default="", help="the name shown in the admin")
        _store_arguments(create_admin, required=False)
    grant = command(
        "grant-store",
        "give a staff account a role in a store (or change it)",
        "Make a staff account a member of a store with a role, or change its role there "
        "(audited in that store).",
    )
    grant.add_argument("--email", required=True, help="the staff account")
    _store_arguments(grant, required=True)
    revoke_store = command(
        "revoke-store",
        "take a staff account out of a store",
        "Take a staff account out of a store (audited in that store); its sessions and tokens "
        "no longer reach that store.",
    )
    revoke_store.add_argument("--email", required=True, help="the staff account")
    revoke_store.add_argument("--store", required=True, metavar="SLUG", help="the store's slug")
    set_password = command(
        "set-password",
        "give an existing staff account a new password (ends its sessions)",
        "Set a new password for an existing staff account; every browser session of the account "
        "ends. The password is read from the terminal, or from the first line of standard input.",
    )
    set_password.add_argument("--email", required=True, help="the staff account")
    disable = command(
        "disable-staff",
        "disable a staff account: end its sessions and revoke its API tokens",
        "Disable a staff account: it can no longer log in, its browser sessions end and its API "
        "tokens are revoked. `create-admin` enables it again with a new password (but no tokens).",
    )
    disable.add_argument("--email", required=True, help="the staff account")
    create_token = command(
        "create-api-token",
        "create a token for the admin JSON API and print it once",
        "Create a bearer token for the admin JSON API, acting as an existing staff account, and "
        "print it once (only its hash is stored).",
    )
    create_token.add_argument("--email", required=True, help="the staff account it acts as")
    create_token.add_argument("--name", default="", help="what the token is for")
    create_token.add_argument(
        "--scope",
        choices=[scope.value for scope in TokenScope],
        default=TokenScope.REVIEW.value,
        help="read: reads only; review: reads and review decisions (default: review)",
    )
    create_token.add_argument(
        "--days", type=int, metavar="N", help="days until it expires (default: API_TOKEN_DAYS)"
    )
    create_token.add_argument(
        "--store",
        metavar="SLUG",
        help="the one store the token works in (default: the account's first store)",
    )
    list_tokens = command(
        "list-api-tokens",
        "list the admin API tokens (never the tokens themselves)",
        "List API tokens, newest first: id, prefix, account, scope, state, expiry and last use.",
    )
    list_tokens.add_argument("--email", help="only this staff account's tokens")
    revoke = command(
        "revoke-api-token",
        "revoke an admin API token by its id",
        "Revoke an API token at once; the id is the first column of `list-api-tokens`.",
    )
    revoke.add_argument("token_id", type=int, metavar="ID", help="the token's id")
    privacy = command(
        "privacy",
        "carry out Shopify's privacy requests that are due",
        "Carry out the due privacy requests of every store now (exports, customer and shop "
        "erasure), as the worker does every minute; failed ones are tried again.",
    )
    privacy.add_argument("action", choices=["run"], help="run: carry out the due requests")
    add_store_commands(commands)
    add_knowledge_commands(commands)
    add_segment_commands(commands)
    return parser


def _store_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--store",
        action="append",
        required=required,
        metavar="SLUG",
        help="a store's slug (repeat it, or separate slugs with commas, for several)",
    )
    parser.add_argument(
        "--role",
        choices=[role.value for role in StoreRole],
        default=StoreRole.OWNER.value,
        help="owner: everything, the store's settings too; agent: the queue and decisions "
        "(default: owner)",
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    args = build_parser().parse_args(argv)
    if args.command not in ("serve", "worker"):
        gc.enable()  # Paused for startup by `python -m app`; serve and worker resume it later.
    if args.command == "demo":
        from app.demo.run import run_demo

        try:
            sys.exit(asyncio.run(run_demo(serve_port=args.serve)))
        except KeyboardInterrupt:
            sys.exit(0)
    if args.command == "eval":
        from app.agent.evals import main as run_eval_command

        sys.exit(asyncio.run(run_eval_command()))
    if args.command == "stores" and args.stores_command == "new-key":
        # A key is made before anything is configured: it needs no settings and no database.
        from app.store.secrets import new_key

        print(new_key())
        return
    try:
        settings = read_settings() if getattr(args, "supervised", False) else load_settings()
    except ConfigError as exc:
        sys.exit(str(exc))
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    if args.command in {"serve", "worker"}:
        # Before anything records a metric; a worker `serve` starts inherits the directory.
        metrics.use_directory(settings.METRICS_DIR, temporary_if_unset=args.command == "serve")
    try:
        _run(args, settings)
    except DatabaseUnreachable as exc:
        sys.exit(str(exc))


def _run(args: argparse.Namespace, settings: Settings) -> None:
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("database is at the latest revision")
    elif args.command == "worker":
        asyncio.run(_work(settings, concurrency=args.concurrency, supervised=args.supervised))
    elif args.command == "serve":
        _serve(settings, host=args.host or settings.HOST, port=args.port or settings.PORT)
    elif args.command == "privacy":
        done = asyncio.run(_privacy(settings))
        print(f"{done} privacy request(s) carried out")
    elif args.command in STAFF_COMMANDS:
        from app.admin.commands import run_staff_command

        run_staff_command(args, settings)
    elif args.command == "stores":
        run_store_command(args, settings)
    elif args.command == "knowledge":
        run_knowledge_command(args, settings)
    elif args.command == "segments":
        run_segment_command(args, settings)


async def _migrate(settings: Settings) -> None:
    db = open_database(settings.DATABASE_URL)
    try:
        await ensure_reachable(db)
        await upgrade_database(db)
    finally:
        await db.dispose()


async def _privacy(settings: Settings) -> int:
    from app.db.base import utcnow
    from app.store.privacy.runner import process_due

    db = open_database(settings.DATABASE_URL)
    try:
        await ensure_reachable(db)
        return await process_due(db, now=utcnow())
    finally:
        await db.dispose()


async def _work(
    settings: Settings, *, concurrency: int | None = None, supervised: bool = False
) -> None:
    from app.jobs.process import follow_parent
    from app.jobs.worker import Worker
    from app.providers import build_providers
    from app.store.directory import StoreDirectory
    from app.tools import tool_registry

    lanes = concurrency or settings.WORKER_CONCURRENCY
    # Only opening the database is checked here: once running, the worker rides out an
    # unreachable database by backing off, so a restart of PostgreSQL does not stop it.
    db = open_database(
        settings.DATABASE_URL,
        sqlite_busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS,
        concurrency=lanes,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    providers = build_providers(settings)
    parent: asyncio.Task[None] | None = None
    try:
        stores = StoreDirectory(db, settings)
        worker = Worker(db=db, settings=settings, providers=providers, stores=stores)
        if supervised:
            parent = asyncio.create_task(follow_parent(worker.wakeup, stop), name="parent")
        # Built now rather than for the first email: the tools' schemas (the OpenAI SDK's helper).
        for tool in tool_registry().all():
            tool.function_schema()
        # Everything imported and built so far lives as long as the process: out of the
        # collector's full scans, which would otherwise pause every lane.
        gc.freeze()
        gc.enable()
        await worker.run(stop, concurrency=lanes)
    finally:
        if parent is not None:
            parent.cancel()
        await providers.aclose()
        await db.dispose()


def _serve(settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    from app.main import create_app

    # uvicorn shuts down gracefully on SIGINT/SIGTERM (the worker process too), then raises the
    # signal again for its default action; after that shutdown, or before serving, it is a clean
    # exit (status 0, no KeyboardInterrupt traceback).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _exit_cleanly)
    # Only `create_app` decides whom to believe about X-Forwarded-For (FORWARDED_ALLOW_IPS):
    # uvicorn's own handling would trust 127.0.0.1 by default.
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=False)


def _exit_cleanly(_signum: int, _frame: object) -> None:
    sys.exit(0)
