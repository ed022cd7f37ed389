"""The worker: claims jobs, runs them under a renewed lease, retries with backoff, dead-letters.

It runs standalone (`python -m app worker`, which `serve` starts beside the web process) or
inside the API process, woken the moment a webhook commits. A job is claimed, and what it needs
read, in one unit of work; one claim loop keeps up to WORKER_CONCURRENCY jobs in flight. A
worker that dies mid-job loses its lease, and the job comes back to whichever worker claims
next; every job handler is therefore idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.base import utcnow
from app.db.engine import Database
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, JobStatus, ReplyStatus
from app.intake.classify import Loaded, load_inbound
from app.intake.mailbox import read_mailbox
from app.jobs import queue
from app.jobs.aftersale import AftersaleSweep
from app.jobs.queue import ClaimedJob
from app.logs import log_context
from app.pipeline import handle_inbound_email
from app.providers import Providers
from app.replies import outbox
from app.store.directory import StoreDirectory
from app.store.examples import keep_sent_reply
from app.store.privacy.runner import process_due

logger = logging.getLogger(__name__)

JobHandler = Callable[[ClaimedJob], Awaitable[None]]
Loader = Callable[[Session, ClaimedJob], Any]
MAX_IDLE_BACKOFF_SECONDS = 30.0
PRIVACY_EVERY_SECONDS = 60.0
"""How often a running worker carries out due privacy requests (Shopify's privacy webhooks)."""


def worker_name() -> str:
    """A name unique to this worker, readable in the jobs table."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Claims and runs jobs from the jobs table."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        providers: Providers | None = None,
        handlers: Mapping[str, JobHandler] | None = None,
        name: str | None = None,
        privacy_every: float = PRIVACY_EVERY_SECONDS,
        stores: StoreDirectory | None = None,
        loaders: Mapping[str, Loader] | None = None,
    ) -> None:
        self.db = db
        self.providers = providers
        self.privacy_every = privacy_every
        self.settings = settings
        self.name = name or worker_name()
        # Every store's settings: shared with the web process's when it runs in there.
        self.stores = stores or StoreDirectory(db, settings)
        if handlers is None:
            if providers is None:
                raise ValueError("a worker needs providers, or explicit handlers")
            handlers = default_handlers(db, settings, providers, self.stores)
        self.handlers: Mapping[str, JobHandler] = handlers
        # What a job kind reads in its claim's own transaction (none for custom handlers).
        self.loaders: Mapping[str, Loader] = (
            loaders if loaders is not None else (DEFAULT_LOADERS if providers is not None else {})
        )
        self.wakeup = asyncio.Event()

    async def claim(self) -> ClaimedJob | None:
        """Claim the most urgent due job and read what it needs, in one unit of work.

        A loader that finds its row gone (LookupError) leaves `loaded` empty: the handler then
        reads, and fails, on its own, so the failure is recorded on the job instead of undoing
        the claim over and over.
        """
        owner, lease_seconds, loaders = self.name, self.settings.JOB_LEASE_SECONDS, self.loaders

        def work(session: Session) -> ClaimedJob | None:
            job = queue.claim_next_in(session, owner=owner, lease_seconds=lease_seconds)
            load = loaders.get(job.kind) if job is not None else None
            if job is None or load is None:
                return job
            try:
                loaded = load(session, job)
            except LookupError:
                logger.warning("job data could not be read at claim", extra={"job_id": job.id})
                return job
            return dataclasses.replace(job, loaded=loaded)

        return await self.db.unit(work, ALL_STORES)

    async def run_once(self) -> ClaimedJob | None:
        """Claim one due job and run it to completion; return it, or None if none was due."""
        job = await self.claim()
        if job is None:
            return None
        await self.execute(job)
        return job

    async def execute(self, job: ClaimedJob) -> None:
        """Run a claimed job under a renewed lease; record its failure, or complete it.

        A handler that completed the job in its own last unit of work (`job.lease`) saves the
        separate commit here.
        """
        heartbeat = asyncio.create_task(self._heartbeat(job))
        # Every line logged while the job runs, its failure included, names it and its email.
        names = {"job_id": job.id, "message_pk": job.message_id}
        try:
            with log_context(**names):
                await self._dispatch(job)
        except Exception as exc:
            with log_context(**names):
                await self._record_failure(job, exc)
        else:
            if not job.lease.completed and not await self.db.unit(
                job.lease.complete_in, ALL_STORES
            ):
                logger.warning("job lease lost before completion", extra={"job_id": job.id})
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def drain(self) -> int:
        """Run jobs until none is due; return how many ran (tests and benchmarks drain backlogs)."""
        count = 0
        while await self.run_once() is not None:
            count += 1
        return count

    async def run(self, stop: asyncio.Event, *, concurrency: int | None = None) -> None:
        """Work until `stop` is set, on up to `concurrency` jobs at once (WORKER_CONCURRENCY).

        One loop claims a job whenever a slot is free and runs it as its own task: jobs wait
        mostly on the model and the store, so one process keeps many in flight, while an idle
        worker polls the queue once per WORKER_POLL_SECONDS, not once per slot. Stopping lets
        running jobs finish.
        """
        slots = max(1, concurrency or self.settings.WORKER_CONCURRENCY)
        logger.info("worker started", extra={"worker": self.name, "concurrency": slots})
        await asyncio.gather(
            self._claim_loop(stop, asyncio.Semaphore(slots)),
            self._privacy(stop),
            self._aftersale(stop),
            # A connected mailbox (MAILBOX_IMAP_HOST) is read beside the claim loop; its mail
            # wakes the loop the moment it is stored.
            read_mailbox(self.db, self.settings, stop, owner=self.name, on_stored=self.wakeup.set),
        )
        logger.info("worker stopped", extra={"worker": self.name})

    async def _claim_loop(self, stop: asyncio.Event, slots: asyncio.Semaphore) -> None:
        idle_delay = self.settings.WORKER_POLL_SECONDS
        running: set[asyncio.Task[None]] = set()
        while not stop.is_set():
            await slots.acquire()
            # Cleared before claiming, so a wake-up that comes while claiming is not lost.
            self.wakeup.clear()
            try:
                job = await self.claim()
            except (SQLAlchemyError, OSError) as exc:
                slots.release()
                # The database is unreachable: back off instead of spinning on errors.
                logger.error("worker cannot reach the database: %s", type(exc).__name__)
                idle_delay = min(idle_delay * 2, MAX_IDLE_BACKOFF_SECONDS)
                await self._sleep(stop, idle_delay)
                continue
            idle_delay = self.settings.WORKER_POLL_SECONDS
            if job is None:
                slots.release()
                await self._sleep(stop, idle_delay)
                continue
            task = asyncio.create_task(self._execute_in_slot(job, slots))
            running.add(task)
            task.add_done_callback(running.discard)
        if running:
            await asyncio.gather(*running)

    async def _execute_in_slot(self, job: ClaimedJob, slots: asyncio.Semaphore) -> None:
        try:
            await self.execute(job)
        except (SQLAlchemyError, OSError) as exc:
            # Even the failure could not be recorded: the lease runs out and the job comes back.
            logger.error(
                "job outcome not recorded: %s", type(exc).__name__, extra={"job_id": job.id}
            )
        finally:
            slots.release()

    async def _privacy(self, stop: asyncio.Event) -> None:
        """Carry out due privacy requests now and every `privacy_every` seconds until stopped.

        Beside the lanes rather than in them: its pauses must not clear the lanes' wake-ups.
        """
        while not stop.is_set():
            try:
                await process_due(self.db, now=utcnow())
            except (SQLAlchemyError, OSError) as exc:
                logger.error("privacy requests not processed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.privacy_every)

    async def _aftersale(self, stop: asyncio.Event) -> None:
        """Resolution checks and follow-ups every AFTERSALE_EVERY_SECONDS (`jobs.aftersale`)."""
        if self.providers is None:
            return
        sweep = AftersaleSweep(
            db=self.db, settings=self.settings, providers=self.providers, stores=self.stores
        )
        while not stop.is_set():
            try:
                await sweep.run(utcnow())
            except (SQLAlchemyError, OSError) as exc:
                logger.error("after-sale sweep failed: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.AFTERSALE_EVERY_SECONDS)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        if self.wakeup.is_set():
            return
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self.wakeup.wait())]
        _, pending = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
        for task in pending:
            task.cancel()
        for task in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _dispatch(self, job: ClaimedJob) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            raise LookupError(f"no handler for job kind '{job.kind}'")
        await handler(job)

    async def _heartbeat(self, job: ClaimedJob) -> None:
        interval = self.settings.JOB_LEASE_SECONDS / 3
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.write(ALL_STORES) as session:
                    await queue.extend_lease(
                        session,
                        job.id,
                        owner=self.name,
                        lease_seconds=self.settings.JOB_LEASE_SECONDS,
                    )
            except (SQLAlchemyError, OSError):
                logger.warning("could not extend job lease", extra={"job_id": job.id})

    async def _record_failure(self, job: ClaimedJob, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        async with self.db.write(ALL_STORES) as session:
            status = await queue.fail(
                session,
                job,
                owner=self.name,
                error=error,
                max_attempts=self.settings.JOB_MAX_ATTEMPTS,
                retry_after=exc.delay if isinstance(exc, queue.RetryLater) else None,
            )
        log = logger.error if status is JobStatus.DEAD else logger.warning
        log(
            "job failed",
            # An expected, retryable failure needs its message, not a traceback.
            exc_info=None if isinstance(exc, queue.RetryLater) else exc,
            extra={"job_id": job.id, "attempts": job.attempts, "status": status.value},
        )


def default_handlers(
    db: Database, settings: Settings, providers: Providers, stores: StoreDirectory
) -> dict[str, JobHandler]:
    """The job kinds this service runs, each mapped to its handler."""

    async def process_inbound(job: ClaimedJob) -> None:
        if job.message_id is None:
            raise ValueError("process_inbound job without a message")
        await handle_inbound_email(
            job.message_id,
            db=db,
            settings=settings,
            providers=providers,
            stores=stores,
            last_chance=job.attempts >= settings.JOB_MAX_ATTEMPTS,
            loaded=job.loaded if isinstance(job.loaded, Loaded) else None,
            lease=job.lease,
        )

    async def send_reply(job: ClaimedJob) -> None:
        if job.reply_id is None or job.store_id is None:
            raise ValueError("send_reply job without a reply or a store")
        store = await stores.get(job.store_id)
        store_db = db.for_store(job.store_id)
        if store is None or not store.active:
            # A store disabled or uninstalled meanwhile sends nothing more.
            state = store.status.value if store is not None else "gone"
            await outbox.withdraw(
                job.reply_id, db=store_db, reason=f"not sent: the store is {state}"
            )
            return
        status = await outbox.deliver(
            job.reply_id,
            db=store_db,
            mail=providers.mail,
            # From the store that answered, under its own name.
            sender=outbox.ReplyFrom(address=store.support_email, name=store.name),
            max_attempts=settings.JOB_MAX_ATTEMPTS,
            last_chance=job.attempts >= settings.JOB_MAX_ATTEMPTS,
        )
        if status is ReplyStatus.SENT:
            # A reply staff approved teaches the model: kept, scrubbed, as an example.
            await keep_sent_reply(store_db, job.reply_id)

    async def privacy_request(_job: ClaimedJob) -> None:
        # The requests themselves say what is due; a job only asks for it sooner.
        await process_due(db, now=utcnow())

    return {
        JobKind.PROCESS_INBOUND: process_inbound,
        JobKind.SEND_REPLY: send_reply,
        JobKind.PRIVACY_REQUEST: privacy_request,
    }


def _load_inbound(session: Session, job: ClaimedJob) -> Loaded | None:
    return load_inbound(session, job.message_id) if job.message_id is not None else None


DEFAULT_LOADERS: Mapping[str, Loader] = {JobKind.PROCESS_INBOUND: _load_inbound}
"""An inbound email is read in the same unit of work that claims its job."""
