"""A real worker process that kills itself with SIGKILL at a chosen point (for the fault tests).

    python -m tests.faults.crashing_worker claimed|drafted|after_send

Settings come from the environment, as for `python -m app worker`. The process runs until the
crash point is reached (exit by SIGKILL) or the queue is empty (exit 0).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from app import pipeline
from app.config import Settings
from app.db.engine import Database
from app.jobs import worker
from app.providers import build_providers
from app.replies.senders import LogMailSender, OutgoingEmail, SendResult


def die() -> None:
    """What `kill -9` does: no cleanup, no rollback handlers, no lease release."""
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    if point == "claimed":
        # The job is claimed and committed as running; the worker dies before doing anything.
        async def dispatch(self: worker.Worker, job: Any) -> None:
            die()

        worker.Worker._dispatch = dispatch  # type: ignore[method-assign]
    elif point == "drafted":
        # The email, its plan and its draft are committed in one unit of work; the worker dies
        # right after, before its job is completed.
        file_email = pipeline.file_email

        async def file_then_die(*args: Any, **kwargs: Any) -> Any:
            await file_email(*args, **kwargs)
            die()

        pipeline.file_email = file_then_die
    elif point == "after_send":
        send = LogMailSender.send

        async def send_then_die(self: LogMailSender, email: OutgoingEmail) -> SendResult:
            await send(self, email)  # The provider has accepted it (the .eml is written) ...
            die()  # ... and the worker dies before recording that.
            raise AssertionError("unreachable")

        LogMailSender.send = send_then_die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


async def main(point: str) -> None:
    arm(point)
    settings = Settings()
    db = Database.connect(settings.DATABASE_URL)
    providers = build_providers(settings)
    try:
        await worker.Worker(db=db, settings=settings, providers=providers).drain()
    finally:
        await providers.aclose()
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
