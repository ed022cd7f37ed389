"""A connected mailbox: IMAP in (the worker reads it into intake), SMTP out (replies).

Owns: `imap` (the IMAP commands, on aioimaplib: the only module that knows it), `oauth`
(password or XOAUTH2 credentials, access tokens by refresh token over httpx), `checkpoint` (the
mailbox's row: UIDVALIDITY + last UID, the reader's lease, its state), `poller` (new mail into
`IntakeWriter`, flagged or moved, reconnecting with backoff), `sender` (the SMTP `MailSender`,
with a copy appended to the Sent folder). `read_mailbox` runs beside the worker's claim loop.
May import what `intake` may, and `replies.senders` (the sender's contract).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx

from app.config import Settings
from app.db.engine import Database
from app.intake.mailbox import checkpoint
from app.intake.mailbox.imap import Endpoint
from app.intake.mailbox.oauth import credentials_from
from app.intake.mailbox.poller import MailboxPoller, PollerOptions

logger = logging.getLogger(__name__)

RESTART_AFTER_SECONDS = 60.0
"""How long the reader waits after an unexpected error before it starts again."""
TOKEN_TIMEOUT_SECONDS = 20.0


def imap_endpoint(settings: Settings) -> Endpoint:
    """Where MAILBOX_IMAP_* says the server is."""
    return Endpoint(
        host=settings.MAILBOX_IMAP_HOST or "",
        port=settings.MAILBOX_IMAP_PORT,
        security=settings.MAILBOX_IMAP_SECURITY,
    )


async def read_mailbox(
    db: Database,
    settings: Settings,
    stop: asyncio.Event,
    *,
    owner: str,
    on_stored: Callable[[], None] = lambda: None,
) -> None:
    """Read the configured mailbox until `stop` (at once, when MAILBOX_IMAP_HOST is unset)."""
    if settings.MAILBOX_IMAP_HOST is None:
        return
    async with httpx.AsyncClient(timeout=TOKEN_TIMEOUT_SECONDS) as client:
        poller = MailboxPoller(
            db=db,
            endpoint=imap_endpoint(settings),
            credentials=credentials_from(settings, client),
            options=PollerOptions.from_settings(settings),
            owner=owner,
            on_stored=on_stored,
        )
        while not stop.is_set():
            try:
                await poller.run(stop)
            except Exception:
                # A bug must not stop the worker's claim loop beside it: log, pause, go on.
                logger.exception("mailbox reader failed; starting again")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=RESTART_AFTER_SECONDS)
                except TimeoutError:
                    pass


async def mailbox_status(db: Database, settings: Settings) -> dict[str, Any]:
    """The connected mailbox's state for /readyz and the admin (`{"state": "off"}` without one).

    `stale` means the worker reading it stopped writing its heartbeat (it is down or stuck).
    """
    if settings.MAILBOX_IMAP_HOST is None:
        return {"state": "off"}
    lease = PollerOptions.from_settings(settings).lease_seconds
    return await checkpoint.status(db, stale_after=2 * lease)
