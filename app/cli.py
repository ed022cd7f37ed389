"""Command line: `python -m app serve | worker | migrate | demo | eval | create-admin | ...`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from app.config import Settings
from app.db.engine import Database
from app.db.migrate import upgrade_database
from app.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service (with the in-process worker)")
    serve.add_argument("--host", help="interface to bind (default: HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT)")
    worker = commands.add_parser("worker", help="run a standalone worker")
    worker.add_argument(
        "--concurrency", type=int, metavar="K", help="jobs at once (default: WORKER_CONCURRENCY)"
    )
    commands.add_parser("migrate", help="apply database migrations")
    demo = commands.add_parser(
        "demo", help="run the bundled sample emails through the real webhook"
    )
    demo.add_argument(
        "--serve",
        type=int,
        nargs="?",
        const=8000,
        metavar="PORT",
        help="then keep the service running for the admin on PORT (default 8000)",
    )
    commands.add_parser("eval", help="score the configured model on the labelled email set")
    create_admin = commands.add_parser(
        "create-admin",
        help="create a staff account for the admin (or reset its password); the password is "
        "read from the terminal, or from the first line of standard input",
    )
    create_admin.add_argument("--email", required=True)
    create_admin.add_argument("--name", default="")
    create_token = commands.add_parser(
        "create-api-token", help="create a token for the admin JSON API and print it once"
    )
    create_token.add_argument("--email", required=True, help="the staff account it acts as")
    create_token.add_argument("--name", default="", help="what the token is for")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from app.demo.run import run_demo

        try:
            sys.exit(asyncio.run(run_demo(serve_port=args.serve)))
        except KeyboardInterrupt:
            sys.exit(0)
    if args.command == "eval":
        from app.agent.evals import main as run_eval_command

        sys.exit(asyncio.run(run_eval_command()))
    settings = _load_settings()
    configure_logging(settings.LOG_LEVEL)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("database is at the latest revision")
    elif args.command == "worker":
        asyncio.run(_work(settings, concurrency=args.concurrency))
    elif args.command == "serve":
        _serve(settings, host=args.host or settings.HOST, port=args.port or settings.PORT)
    elif args.command == "create-admin":
        password = _read_password()
        asyncio.run(_create_admin(settings, email=args.email, name=args.name, password=password))
        print(f"staff account {args.email.strip().lower()} is ready; log in at /admin")
    elif args.command == "create-api-token":
        token = asyncio.run(_create_token(settings, email=args.email, name=args.name))
        print(token)


def _load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "\n".join(f"  - {error['msg']}" for error in exc.errors())
        sys.exit(f"configuration error:\n{problems}")


async def _migrate(settings: Settings) -> None:
    db = Database.connect(settings.DATABASE_URL)
    try:
        await upgrade_database(db)
    finally:
        await db.dispose()


async def _work(settings: Settings, *, concurrency: int | None = None) -> None:
    import signal

    from app.jobs.worker import Worker
    from app.providers import build_providers

    db = Database.connect(
        settings.DATABASE_URL, sqlite_busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    providers = build_providers(settings)
    try:
        await Worker(db=db, settings=settings, providers=providers).run(
            stop, concurrency=concurrency
        )
    finally:
        await providers.aclose()
        await db.dispose()


def _serve(settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    from app.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=True)


def _read_password() -> str:
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Again: ") != first:
        sys.exit("the passwords differ")
    return first


async def _create_admin(settings: Settings, *, email: str, name: str, password: str) -> None:
    from app.admin.staff import StaffError, create_staff

    db = Database.connect(settings.DATABASE_URL)
    try:
        async with db.write() as session:
            await create_staff(session, email=email, password=password, name=name)
    except StaffError as exc:
        sys.exit(f"cannot create the account: {exc}")
    finally:
        await db.dispose()


async def _create_token(settings: Settings, *, email: str, name: str) -> str:
    from app.admin.staff import StaffError, create_api_token

    db = Database.connect(settings.DATABASE_URL)
    try:
        async with db.write() as session:
            return await create_api_token(session, email=email, name=name)
    except StaffError as exc:
        sys.exit(f"cannot create the token: {exc}")
    finally:
        await db.dispose()
