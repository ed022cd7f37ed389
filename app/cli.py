"""Command line: `python -m app serve | worker | migrate | demo | eval`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from app.config import Settings
from app.db import Database
from app.logs import configure_logging
from app.migrate import upgrade_database


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP service (with the in-process worker)")
    serve.add_argument("--host", help="interface to bind (default: HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT)")
    commands.add_parser("worker", help="run a standalone worker")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("demo", help="run the bundled sample emails through the real webhook")
    commands.add_parser("eval", help="score the configured model on the labelled email set")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from app.demo.run import run_demo

        sys.exit(asyncio.run(run_demo()))
    if args.command == "eval":
        from app.evals.run import main as run_eval_command

        sys.exit(asyncio.run(run_eval_command()))
    settings = _load_settings()
    configure_logging(settings.LOG_LEVEL)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("database is at the latest revision")
    elif args.command == "worker":
        asyncio.run(_work(settings))
    elif args.command == "serve":
        _serve(settings, host=args.host or settings.HOST, port=args.port or settings.PORT)


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


async def _work(settings: Settings) -> None:
    import signal

    from app.providers import build_providers
    from app.worker import Worker

    db = Database.connect(
        settings.DATABASE_URL, sqlite_busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    providers = build_providers(settings)
    try:
        await Worker(db=db, settings=settings, providers=providers).run(stop)
    finally:
        await providers.aclose()
        await db.dispose()


def _serve(settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    from app.main import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, proxy_headers=True)
