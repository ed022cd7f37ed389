"""Durable intake with group commit: many webhook deliveries, one transaction.

Every delivery is acknowledged only after the transaction holding it (the message row and its
job) has committed. Deliveries that arrive while a commit is running wait for the next one, which
then commits all of them together. Under load this turns one commit per request into one commit
per batch, which is what lets intake keep pace with an empty handler (see `bench/intake.py`); at
low load a batch is a single delivery and nothing waits.

One bad delivery never fails another. When the database refuses a batch (an error about the
rows, not an outage: `app.db.errors`), each of its deliveries is written again in a transaction
of its own, so only the one the database refuses fails; that one is then stored quarantined
under a synthetic Message-ID with its raw bytes, or failing that as a minimal record without
them, and acknowledged. Only an outage, or a delivery not even the minimal record of which can
be stored, reaches the caller as an error (a 503 at the webhook).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError

from app.db.engine import Database
from app.db.errors import describe, is_outage
from app.db.models import Base, Job, Message, utcnow
from app.db.statuses import JobKind, JobStatus, MessageStatus
from app.db.text import storable
from app.intake.messages import NewDelivery
from app.jobs.queue import PRIORITY
from app.mail.mime import synthetic_message_id

logger = logging.getLogger(__name__)

MAX_BATCH = 128
_DEDUPE_KEY = ("message_id", "checksum")
_MESSAGE_KEYS = (
    "provider",
    "payload_format",
    "content_type",
    "raw",
    "raw_size",
    "checksum",
    "message_id",
    "has_synthetic_message_id",
    "message_id_reused",
    "status",
    "status_reason",
    "received_at",
    "store_id",
)
_JOB_KEYS = (
    "kind",
    "message_id",
    "status",
    "priority",
    "attempts",
    "run_after",
    "created_at",
    "store_id",
)


@dataclass(frozen=True, slots=True)
class Stored:
    """The outcome for one delivery: its new row id, and the status it was stored with.

    The id is None when the delivery was already stored; the status is quarantined when the
    database refused the delivery as posted.
    """

    message_pk: int | None
    status: MessageStatus


class _Attempt(IntEnum):
    """How a delivery is being written; each refusal by the database moves it one step on."""

    GROUPED = 0
    """With whatever else arrived at the same time, in one transaction."""
    ALONE = 1
    """In a transaction of its own, because its batch was refused."""
    QUARANTINED = 2
    """Refused alone: quarantined under a synthetic Message-ID, raw bytes kept."""
    MINIMAL = 3
    """Refused even so: quarantined without the raw bytes or the content type."""


@dataclass(slots=True)
class _Waiting:
    delivery: NewDelivery
    future: asyncio.Future[Stored]
    attempt: _Attempt = _Attempt.GROUPED


class IntakeWriter:
    """Stores deliveries durably, batching the ones that arrive together into one commit."""

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._committing = False

    @property
    def queued(self) -> int:
        """How many deliveries wait for the commit after the one running."""
        return len(self._waiting)

    async def store(self, delivery: NewDelivery) -> Stored:
        """Store one delivery (message row and, unless quarantined, its job) and wait for commit.

        A delivery the database refuses is stored quarantined instead (see the module's
        docstring). Raises the database's error when it is down, or when not even a minimal
        record of the delivery could be stored: then nothing of it was stored.
        """
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(delivery, future))
        if not self._committing:
            self._commit_next()
        return await future

    def _commit_next(self) -> None:
        """Start committing what is waiting, right away (not from a task scheduled later).

        Starting now lets the commit run on the database while the event loop goes on parsing
        the requests that arrived with this one; they form the next batch. A commit never
        belongs to one request, so a client that disconnects cannot cancel it.
        """
        size = 1
        if self._waiting and self._waiting[0].attempt is _Attempt.GROUPED:
            # Deliveries being isolated wait at the front; a batch never mixes in one of them.
            limit = min(self._max_batch, len(self._waiting))
            while size < limit and self._waiting[size].attempt is _Attempt.GROUPED:
                size += 1
        batch = self._waiting[:size]
        del self._waiting[:size]
        if not batch:
            self._committing = False
            return
        self._committing = True
        rows, first_of_key = _rows_for(batch)
        now = rows[0]["received_at"]

        def write(connection: Connection) -> dict[tuple[str, str], int]:
            if connection.dialect.name == "sqlite":
                return _insert_sqlite(connection, rows, now)
            return _insert_returning(connection, rows, now)

        pending = self._db.start_write(write)
        pending.add_done_callback(lambda done: self._landed(batch, first_of_key, done))

    def _landed(
        self,
        batch: list[_Waiting],
        first_of_key: dict[tuple[str, str], int],
        done: asyncio.Future[dict[tuple[str, str], int]],
    ) -> None:
        failure = done.exception() if not done.cancelled() else asyncio.CancelledError()
        if failure is not None and not is_outage(failure) and isinstance(failure, Exception):
            self._refused(batch, failure)
            self._commit_next()
            return
        for index, waiting in enumerate(batch):
            if waiting.future.done():
                continue
            if failure is not None:
                waiting.future.set_exception(failure)
                continue
            key = _key(waiting.delivery)
            is_first = first_of_key[key] == index
            message_pk = done.result().get(key) if is_first else None
            waiting.future.set_result(Stored(message_pk, waiting.delivery.status))
        if len(batch) > 1:
            logger.debug("intake batch committed", extra={"deliveries": len(batch)})
        self._commit_next()

    def _refused(self, batch: list[_Waiting], failure: Exception) -> None:
        """The database refused the batch's rows: write them again, a step plainer each time.

        The retries go to the front of the queue, one delivery per transaction, ahead of the
        deliveries that arrived meanwhile (those are not held back for long: each retry is a
        single small transaction).
        """
        pending = [waiting for waiting in batch if not waiting.future.done()]
        if len(batch) > 1:
            logger.warning(
                "intake batch refused by the database (%s); storing its deliveries one by one",
                describe(failure),
                extra={"deliveries": len(batch)},
            )
            for waiting in pending:
                waiting.attempt = _Attempt.ALONE
            self._waiting[:0] = pending
            return
        if not pending:
            return
        [waiting] = pending
        if waiting.attempt is _Attempt.MINIMAL:
            # Not even a record without the email's content could be stored: not the email.
            waiting.future.set_exception(failure)
            return
        logger.warning(
            "delivery %s refused by the database (%s); storing it quarantined",
            waiting.delivery.checksum[:16],
            describe(failure),
        )
        if waiting.attempt is _Attempt.QUARANTINED:
            waiting.attempt = _Attempt.MINIMAL
            waiting.delivery = _without_payload(waiting.delivery)
        else:
            waiting.attempt = _Attempt.QUARANTINED
            waiting.delivery = _quarantined(waiting.delivery, describe(failure))
        self._waiting.insert(0, waiting)


def _key(delivery: NewDelivery) -> tuple[str, str]:
    """The dedupe key as the database stores it (the text columns drop control characters)."""
    return (storable(delivery.message_id), delivery.checksum)


def _quarantined(delivery: NewDelivery, refusal: str) -> NewDelivery:
    """The delivery as a quarantined record for staff, under a Message-ID the database takes."""
    reason = f"the database refused this delivery as posted ({refusal}); kept for staff"
    if delivery.status_reason:
        reason = f"{reason}; {delivery.status_reason}"
    return replace(
        delivery,
        message_id=synthetic_message_id(delivery.checksum),
        has_synthetic_message_id=True,
        status=MessageStatus.QUARANTINED,
        status_reason=reason,
    )


def _without_payload(delivery: NewDelivery) -> NewDelivery:
    """The last resort: a record that the delivery came, without anything it carried."""
    return replace(
        delivery,
        content_type="",
        raw=b"",
        status_reason=(
            f"{delivery.status_reason}; refused again with its {len(delivery.raw)} bytes, "
            "which are therefore not kept"
        ),
    )


def _rows_for(batch: list[_Waiting]) -> tuple[list[dict[str, Any]], dict[tuple[str, str], int]]:
    """One row per distinct (Message-ID, checksum); a repeat within the batch is a duplicate."""
    now = utcnow()
    first_of_key: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    for index, waiting in enumerate(batch):
        key = _key(waiting.delivery)
        if key not in first_of_key:
            first_of_key[key] = index
            rows.append(_message_row(waiting.delivery, now))
    return rows, first_of_key


def _insert_returning(
    connection: Connection, rows: list[dict[str, Any]], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert with one multi-row INSERT ... ON CONFLICT DO NOTHING RETURNING (PostgreSQL)."""
    statement = (
        postgresql.insert(Message)
        .on_conflict_do_nothing(index_elements=_DEDUPE_KEY)
        .returning(
            Message.id, Message.message_id, Message.checksum, Message.status, Message.store_id
        )
    )
    inserted = connection.execute(statement, rows).all()
    jobs = [
        _job_row(row.id, row.store_id, now)
        for row in inserted
        if row.status == MessageStatus.RECEIVED
    ]
    if jobs:
        connection.execute(postgresql.insert(Job), jobs)
    return {(row.message_id, row.checksum): row.id for row in inserted}


def _insert_sqlite(
    connection: Connection, rows: list[dict[str, Any]], now: datetime
) -> dict[tuple[str, str], int]:
    """Insert row by row on the sqlite3 cursor (it cannot combine RETURNING with executemany)."""
    messages = _prepared(connection.dialect, Message, _MESSAGE_KEYS, conflict=_DEDUPE_KEY)
    jobs = _prepared(connection.dialect, Job, _JOB_KEYS)
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    new_ids: dict[tuple[str, str], int] = {}
    job_rows: list[tuple[Any, ...]] = []
    try:
        for row in rows:
            cursor.execute(messages.sql, messages.parameters(row))
            if cursor.rowcount == 1:
                new_ids[(row["message_id"], row["checksum"])] = cursor.lastrowid
                if row["status"] == MessageStatus.RECEIVED:
                    job_rows.append(
                        jobs.parameters(_job_row(cursor.lastrowid, row["store_id"], now))
                    )
        if job_rows:
            cursor.executemany(jobs.sql, job_rows)
    except sqlite3.Error as exc:
        # Callers handle SQLAlchemy's error types, whichever path the write took.
        raise DBAPIError.instance(messages.sql, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()
    return new_ids


@dataclass(frozen=True, slots=True)
class _PreparedInsert:
    """An INSERT that SQLAlchemy compiled from the table once, for the DBAPI cursor.

    The column list and each column's bind conversion come from the model, so a new column
    cannot be forgotten here; only the per-row SQLAlchemy overhead is skipped.
    """

    sql: str
    columns: tuple[tuple[str, Callable[[Any], Any] | None], ...]

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(convert(row[key]) if convert else row[key] for key, convert in self.columns)


@functools.cache
def _prepared(
    dialect: Dialect, model: type[Base], keys: tuple[str, ...], conflict: tuple[str, ...] = ()
) -> _PreparedInsert:
    table = model.__table__
    statement = sqlite.insert(model)
    if conflict:
        statement = statement.on_conflict_do_nothing(index_elements=list(conflict))
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    order = compiled.positiontup or []
    return _PreparedInsert(
        sql=str(compiled),
        columns=tuple((key, table.c[key].type.bind_processor(dialect)) for key in order),
    )


def _message_row(delivery: NewDelivery, now: datetime) -> dict[str, Any]:
    return {
        "provider": delivery.provider,
        "payload_format": delivery.payload_format,
        "content_type": delivery.content_type,
        "raw": delivery.raw,
        "raw_size": len(delivery.raw),
        "checksum": delivery.checksum,
        # Already as stored, so the keys of inserted rows match the deliveries' keys.
        "message_id": storable(delivery.message_id),
        "has_synthetic_message_id": delivery.has_synthetic_message_id,
        "message_id_reused": False,
        "status": delivery.status,
        "status_reason": delivery.status_reason,
        "received_at": now,
        "store_id": delivery.store_id,
    }


def _job_row(message_pk: int, store_id: int | None, now: datetime) -> dict[str, Any]:
    return {
        "store_id": store_id,
        "kind": JobKind.PROCESS_INBOUND,
        "message_id": message_pk,
        "status": JobStatus.QUEUED,
        "priority": PRIORITY[JobKind.PROCESS_INBOUND],
        "attempts": 0,
        "run_after": now,
        "created_at": now,
    }
