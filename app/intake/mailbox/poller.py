"""Reading the mailbox: new messages into the same durable store as webhook deliveries.

One worker process at a time reads the mailbox (a lease on its row). It selects the folder,
stores every message above the checkpoint through `IntakeWriter` (dedupe by Message-ID and
checksum, a job for the worker), marks each one processed (a flag, or a move to a folder), then
moves the checkpoint past it; then it waits for news with IDLE (or a pause where the server has
none) and looks again. A crash between storing and the checkpoint fetches the message again,
and the dedupe stores it no second time.

- First read of a folder: reading starts after the mail already there, which is left to a
  person (a backlog of old mail is never answered in a burst).
- UIDVALIDITY changed (the folder was rebuilt): every message in it is looked at again; those
  already stored are recognised by Message-ID and checksum.
- A message over INBOUND_MAX_BODY_BYTES is not fetched: its header is stored quarantined for
  staff, and the message stays where it is, unmarked, for a person.
- An email whose Message-ID is already stored from elsewhere (the same email by a webhook) is
  kept as skipped, never answered twice.
- Any failure: the state says why, and the poller reconnects after a growing pause.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from app.config import Settings
from app.db.engine import Database
from app.db.statuses import MessageStatus
from app.intake.mailbox import checkpoint
from app.intake.mailbox.checkpoint import Checkpoint, LeaseLost
from app.intake.mailbox.imap import (
    Endpoint,
    FolderState,
    ImapConnection,
    ImapRefused,
    MailboxUnavailable,
)
from app.intake.mailbox.oauth import Credentials, TokenUnavailable
from app.intake.messages import NewDelivery
from app.intake.writer import IntakeWriter
from app.mail.mime import content_checksum, synthetic_message_id
from app.mail.normalise import raw_delivery
from app.mail.providers.mailbox import FORMAT, PROVIDER, content_type_for

logger = logging.getLogger(__name__)

HEADER_KEPT_BYTES = 64 * 1024
"""How much of an oversized message's header is kept for staff."""
MIN_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
MIN_LEASE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class PollerOptions:
    """What the poller does, from settings."""

    folder: str
    processed: str
    processed_flag: str
    processed_folder: str
    poll_seconds: float
    max_message_bytes: int
    authserv_id: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> PollerOptions:
        """The options MAILBOX_* and INBOUND_MAX_BODY_BYTES describe."""
        return cls(
            folder=settings.MAILBOX_FOLDER,
            processed=settings.MAILBOX_PROCESSED,
            processed_flag=settings.MAILBOX_PROCESSED_FLAG,
            processed_folder=settings.MAILBOX_PROCESSED_FOLDER,
            poll_seconds=settings.MAILBOX_POLL_SECONDS,
            max_message_bytes=settings.INBOUND_MAX_BODY_BYTES,
            authserv_id=settings.MAILBOX_AUTHSERV_ID,
        )

    @property
    def lease_seconds(self) -> float:
        """How long the reader's lease lasts: a few rounds of waiting for news."""
        return max(MIN_LEASE_SECONDS, 3 * self.poll_seconds)


class MailboxPoller:
    """Reads one mailbox into intake until stopped."""

    def __init__(
        self,
        *,
        db: Database,
        endpoint: Endpoint,
        credentials: Credentials,
        options: PollerOptions,
        owner: str,
        writer: IntakeWriter | None = None,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.endpoint = endpoint
        self.credentials = credentials
        self.options = options
        self.owner = owner
        self.writer = writer or IntakeWriter(db)
        self.on_stored = on_stored
        self.failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Read the mailbox until `stop` is set, reconnecting after failures with backoff."""
        try:
            while not stop.is_set():
                pause = await self._attempt(stop)
                if pause:
                    await _sleep(stop, pause)
        finally:
            try:
                await checkpoint.release(self.db, owner=self.owner)
            except (SQLAlchemyError, OSError):
                logger.warning("mailbox lease not released", exc_info=True)

    async def _attempt(self, stop: asyncio.Event) -> float:
        """One connection's life; returns how long to wait before the next one."""
        lease = self.options.lease_seconds
        try:
            found = await checkpoint.take_lease(
                self.db, owner=self.owner, folder=self.options.folder, seconds=lease
            )
            if found is None:
                # Another worker reads the mailbox; look again before its lease runs out.
                return lease / 3
            await self._session(found, stop)
            return 0.0
        except LeaseLost:
            logger.warning("mailbox taken over by another worker")
            return lease / 3
        except (MailboxUnavailable, TokenUnavailable) as exc:
            refused = isinstance(exc, ImapRefused | TokenUnavailable)
            return await self._failed("failed" if refused else "reconnecting", str(exc))
        except (SQLAlchemyError, OSError) as exc:
            logger.warning("mailbox: database unavailable (%s)", type(exc).__name__)
            return self._backoff()

    async def _failed(self, state: str, error: str) -> float:
        pause = self._backoff()
        logger.warning("mailbox %s: %s (next attempt in %.0f s)", state, error, pause)
        try:
            await checkpoint.report(
                self.db,
                owner=self.owner,
                state=state,
                error=error[:500],
                lease_seconds=pause + self.options.lease_seconds,
            )
        except (LeaseLost, SQLAlchemyError, OSError):
            logger.warning("mailbox state not recorded", exc_info=True)
        return pause

    def _backoff(self) -> float:
        self.failures += 1
        ceiling = min(MAX_BACKOFF_SECONDS, MIN_BACKOFF_SECONDS * 2.0 ** min(self.failures - 1, 30))
        # Jitter, so many deployments restarted together do not reconnect in step.
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - not a secret.

    async def _session(self, found: Checkpoint, stop: asyncio.Event) -> None:
        connection = await ImapConnection.open(self.endpoint, self.credentials)
        try:
            folder = await connection.select(self.options.folder)
            current = await self._starting_point(found, folder)
            if self.options.processed == "move":
                await connection.create(self.options.processed_folder)
            await checkpoint.report(
                self.db,
                owner=self.owner,
                state="connected",
                lease_seconds=self.options.lease_seconds,
                connected=True,
            )
            self.failures = 0
            logger.info(
                "mailbox connected",
                extra={"folder": self.options.folder, "last_uid": current.last_uid},
            )
            while not stop.is_set():
                current = await self.sync(connection, current)
                await checkpoint.report(
                    self.db,
                    owner=self.owner,
                    state="connected",
                    lease_seconds=self.options.lease_seconds,
                )
                waiting = asyncio.ensure_future(connection.wait_for_mail(self.options.poll_seconds))
                stopping = asyncio.ensure_future(stop.wait())
                try:
                    await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
                if not waiting.done():
                    waiting.cancel()
                    break
                waiting.result()
        finally:
            await connection.logout()

    async def _starting_point(self, found: Checkpoint, folder: FolderState) -> Checkpoint:
        """The checkpoint to read from: as stored, or a new one (first read, UIDVALIDITY)."""
        if found.uidvalidity == folder.uidvalidity:
            return found
        if found.uidvalidity is None:
            start = max(0, (folder.uidnext or 1) - 1)
            logger.info("mailbox read for the first time: starting after UID %d", start)
        else:
            start = 0
            logger.warning(
                "mailbox UIDVALIDITY changed (%d -> %d): looking at every message again",
                found.uidvalidity,
                folder.uidvalidity,
            )
        await checkpoint.restart_at(
            self.db, owner=self.owner, uidvalidity=folder.uidvalidity, last_uid=start
        )
        return Checkpoint(folder=found.folder, uidvalidity=folder.uidvalidity, last_uid=start)

    async def sync(self, connection: ImapConnection, current: Checkpoint) -> Checkpoint:
        """Store every message above the checkpoint, in UID order; return the new checkpoint."""
        uids = await connection.uids_after(current.last_uid)
        sizes = await connection.sizes(uids)
        for uid in uids:
            stored = await self._take(connection, uid, sizes.get(uid))
            await checkpoint.advance(self.db, owner=self.owner, uid=uid, stored=stored)
            current = Checkpoint(current.folder, current.uidvalidity, uid)
        return current

    async def _take(self, connection: ImapConnection, uid: int, size: int | None) -> bool:
        """Store one message and mark it processed; True when it was new to the database."""
        limit = self.options.max_message_bytes
        raw = None if size is not None and size > limit else await connection.fetch(uid)
        if raw is not None and len(raw) > limit:
            size, raw = len(raw), None
        if raw is None and size is None:
            return False  # Expunged meanwhile: nothing to store.
        if raw is None:
            header = await connection.fetch(uid, header_bytes=HEADER_KEPT_BYTES) or b""
            return await self._store_oversized(uid, size or 0, header)
        new = await self._store(raw)
        await self._mark_processed(connection, uid)
        return new

    async def _store(self, raw: bytes) -> bool:
        delivery = raw_delivery(raw, FORMAT)
        status, reason = MessageStatus.RECEIVED, None
        if not delivery.has_synthetic_message_id and await checkpoint.message_id_known(
            self.db, delivery.message_id
        ):
            # The same email arrived another way too (a webhook), or this one was stored before
            # a crash: kept for the record, answered at most once.
            status = MessageStatus.SKIPPED
            reason = "an email with this Message-ID was already stored; not answered again"
        result = await self.writer.store(
            NewDelivery(
                provider=PROVIDER,
                payload_format=FORMAT,
                content_type=content_type_for(self.options.authserv_id),
                raw=raw,
                checksum=delivery.checksum,
                message_id=delivery.message_id,
                has_synthetic_message_id=delivery.has_synthetic_message_id,
                status=status,
                status_reason=reason,
            )
        )
        if result.message_pk is not None and status is MessageStatus.RECEIVED:
            self.on_stored()
        return result.message_pk is not None

    async def _store_oversized(self, uid: int, size: int, header: bytes) -> bool:
        reason = (
            f"the message is {size} bytes, over INBOUND_MAX_BODY_BYTES "
            f"({self.options.max_message_bytes}): only its header is kept here; the message "
            f"stays in {self.options.folder} (UID {uid}) for a person"
        )
        found = raw_delivery(header, FORMAT)
        checksum = content_checksum(b"oversized:%d:%d:" % (uid, size) + header)
        message_id = found.message_id
        if found.has_synthetic_message_id:
            message_id = synthetic_message_id(checksum)
        result = await self.writer.store(
            NewDelivery(
                provider=PROVIDER,
                payload_format=FORMAT,
                content_type=content_type_for(self.options.authserv_id),
                raw=header,
                checksum=checksum,
                message_id=message_id,
                has_synthetic_message_id=found.has_synthetic_message_id,
                status=MessageStatus.QUARANTINED,
                status_reason=reason,
            )
        )
        logger.warning("mailbox message over the size limit quarantined", extra={"uid": uid})
        return result.message_pk is not None

    async def _mark_processed(self, connection: ImapConnection, uid: int) -> None:
        """Flag or move a stored message; a failure here loses nothing (it is stored)."""
        try:
            if self.options.processed == "move":
                await connection.move(uid, self.options.processed_folder)
            else:
                await connection.add_flag(uid, self.options.processed_flag)
        except ImapRefused as exc:
            logger.warning("mailbox message %d stored but not marked processed: %s", uid, exc)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
