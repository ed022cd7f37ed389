"""Fixtures of the mailbox tests: a real Dovecot and a real SMTP server per test, a poller."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from pydantic import SecretStr

from app.db.engine import Database
from app.intake.mailbox.imap import Endpoint
from app.intake.mailbox.oauth import Credentials
from app.intake.mailbox.poller import MailboxPoller, PollerOptions
from tests.mailbox.servers import (
    HAVE_DOVECOT,
    HOST,
    PASSWORD,
    USER,
    WHY_NO_DOVECOT,
    Dovecot,
    SmtpServer,
)

OPTIONS = PollerOptions(
    folder="INBOX",
    processed="flag",
    processed_flag="\\Seen",
    processed_folder="Processed",
    poll_seconds=1.0,
    max_message_bytes=1024 * 1024,
    authserv_id=None,
)
CREDENTIALS = Credentials(user=USER, password=SecretStr(PASSWORD))


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not HAVE_DOVECOT:
        pytest.skip(WHY_NO_DOVECOT)
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def endpoint_of(dovecot: Dovecot) -> Endpoint:
    return Endpoint(host=HOST, port=dovecot.port, security="none", timeout=5.0)


@pytest.fixture
def run_poller(db: Database, dovecot: Dovecot) -> Callable[..., object]:
    """`async with run_poller(**option_overrides) as poller:` a poller running in a task."""

    @asynccontextmanager
    async def running(
        owner: str = "test-worker", **overrides: object
    ) -> AsyncIterator[MailboxPoller]:
        poller = MailboxPoller(
            db=db,
            endpoint=endpoint_of(dovecot),
            credentials=CREDENTIALS,
            options=replace(OPTIONS, **overrides),  # type: ignore[arg-type]
            owner=owner,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        try:
            yield poller
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)

    return running


async def eventually(
    check: Callable[[], Awaitable[bool]], *, seconds: float = 20.0, what: str = "condition"
) -> None:
    """Wait until `check()` is true (the poller works on its own schedule)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
