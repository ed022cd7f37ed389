"""The outbox against a real database, with SendGrid faked only at the HTTP boundary (respx).

Replies are delivered by the real worker (handlers from `default_handlers`) or by
`outbox.deliver` directly, through a real `SendGridSender` on an httpx client. The promise under
test: a reply is sent at most once; what is not known to be sent is visible, never resent.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
import respx
from pydantic import SecretStr
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message, Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import JobKind, ReplyStatus
from app.db.stores import DEFAULT_STORE_ID
from app.jobs import queue
from app.jobs.queue import RetryLater
from app.jobs.worker import Worker
from app.providers import Providers
from app.replies import outbox
from app.replies.outbox import MAX_REFERENCES, threading_for
from app.replies.senders import MailSender, OutgoingEmail, SendGridSender, SendResult
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory

T = TypeVar("T")

PAYLOADS = Path(__file__).parents[1] / "payloads" / "sendgrid"
API_KEY = "SG.outbox-test.secret"
MAIL_SEND = "https://api.sendgrid.com/v3/mail/send"
SG_ID = "14c5d75ce93.dfd.64b469.filter-147.22649.52A6A5D4B.0"
TRIPWIRE = pytest.mark.respx(assert_all_called=False)
CUSTOMER_ID = "<msg-2@example.com>"
REPLY_ID = "<reply.0a1b2c@shop.test>"
EARLIER_STEP = {"step": "outbox", "ms": 1.5, "outcome": "answered"}


def accepted(message_id: str = SG_ID) -> httpx.Response:
    return httpx.Response(202, headers={"X-Message-Id": message_id})


def sendgrid_error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.loads((PAYLOADS / name).read_text(encoding="utf-8"))
    return httpx.Response(status, json=body, headers=headers)


def sent(route: respx.Route, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def sendgrid(http: httpx.AsyncClient) -> SendGridSender:
    return SendGridSender(client=http, api_key=SecretStr(API_KEY))


SENDER = outbox.ReplyFrom(address="support@shop.test", name="Test Shop")


# Rows.


async def add_message(db: Database) -> int:
    """A customer's email as the pipeline leaves it once it has queued an answer."""
    async with db.write(IN_DEFAULT_STORE) as session:
        message = Message(
            provider="sendgrid",
            payload_format="raw",
            content_type="multipart/form-data; boundary=xYzZY",
            raw=b"stored raw delivery",
            raw_size=19,
            checksum="c" * 64,
            message_id=CUSTOMER_ID,
            has_synthetic_message_id=False,
            status="answered",
            from_address="sara@example.com",
            subject="Where is my order #1001?",
            in_reply_to=["<msg-1@example.com>"],
            references=["<msg-1@example.com>"],
            steps=[EARLIER_STEP],
        )
        session.add(message)
        await session.flush()
        return message.id


async def add_reply(
    db: Database, message_pk: int, *, status: str = "queued", enqueue: bool = True, **values: Any
) -> int:
    """A reply row (and its send job, as the pipeline would enqueue it)."""
    fields: dict[str, Any] = {
        "message_id": message_pk,
        "idempotency_key": f"auto:{message_pk}",
        "from_address": "support@shop.test",
        "to_address": "sara@example.com",
        "subject": "Re: Where is my order #1001?",
        "text_body": "Hi Sara,\n\nYour order #1001 has shipped.\n",
        "html_body": "<p>Hi Sara,</p><p>Your order #1001 has shipped.</p>",
        "rfc_message_id": REPLY_ID,
        "in_reply_to": CUSTOMER_ID,
        "references": ["<msg-1@example.com>", CUSTOMER_ID],
        "is_automated": True,
        "status": status,
        "attempts": 0,
        **values,
    }
    async with db.write(IN_DEFAULT_STORE) as session:
        reply = Reply(**fields)
        session.add(reply)
        await session.flush()
        if enqueue:
            await queue.enqueue(
                session, JobKind.SEND_REPLY, message_id=message_pk, reply_id=reply.id
            )
        return reply.id


async def queued_reply(db: Database) -> tuple[int, int]:
    message_pk = await add_message(db)
    return message_pk, await add_reply(db, message_pk)


async def load_reply(db: Database, reply_pk: int) -> Reply:
    async with db.read(ALL_STORES) as session:
        reply = await session.get(Reply, reply_pk)
        assert reply is not None
        return reply


async def load_message(db: Database, message_pk: int) -> Message:
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, message_pk)
        assert message is not None
        return message


async def the_job(db: Database) -> Job:
    async with db.read(ALL_STORES) as session:
        [job] = (await session.execute(select(Job))).scalars()
        return job


async def make_due(db: Database) -> None:
    """Skip the backoff: the job's retry time has come."""
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Job).values(run_after=utcnow()))


def send_steps(message: Message) -> list[dict[str, Any]]:
    return [step for step in message.steps or [] if step["step"] == "send"]


def worker(
    db: Database, settings: Settings, providers: Providers, mail: MailSender, name: str = "w1"
) -> Worker:
    """The real worker with the real handlers, sending through `mail`."""
    return Worker(
        db=db, settings=settings, providers=dataclasses.replace(providers, mail=mail), name=name
    )


async def deliver(db: Database, reply_pk: int, mail: MailSender, max_attempts: int = 5) -> Any:
    return await outbox.deliver(
        reply_pk,
        db=db.for_store(DEFAULT_STORE_ID),
        mail=mail,
        sender=SENDER,
        max_attempts=max_attempts,
    )


# Retries.


async def test_a_5xx_is_retried_with_backoff_then_sent_exactly_once(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(
        side_effect=[sendgrid_error(500, "mail_send_500.json"), accepted()]
    )
    message_pk, reply_pk = await queued_reply(db)
    w = worker(db, settings, providers, sendgrid)

    assert await w.drain() == 1

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts, reply.provider_message_id) == ("failed", 1, None)
    assert reply.last_error == "SendGrid 500: internal error"
    job = await the_job(db)
    assert (job.status, job.attempts) == ("queued", 1)
    assert job.last_error == "RetryLater: SendGrid 500: internal error"
    # Backed off (the first send retry waits 30 s), not retried in a hot loop.
    wait = job.run_after - utcnow()
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)
    assert await w.drain() == 0

    await make_due(db)
    assert await w.drain() == 1

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts, reply.provider_message_id) == ("sent", 2, SG_ID)
    assert reply.last_error is None
    assert reply.sent_at is not None
    assert (await the_job(db)).status == "done"
    assert route.call_count == 2
    # Both attempts were the same email: the retry did not mint a new Message-ID.
    assert [sent(route, i)["headers"]["Message-ID"] for i in range(2)] == [REPLY_ID, REPLY_ID]
    message = await load_message(db, message_pk)
    assert [step["outcome"] for step in send_steps(message)] == ["failed", "sent"]


async def test_a_429_waits_for_sendgrids_rate_limit_reset(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 600)}
    respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(429, "mail_send_429.json", headers))
    _, reply_pk = await queued_reply(db)

    await worker(db, settings, providers, sendgrid).drain()

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.last_error) == ("failed", "SendGrid 429: too many requests")
    job = await the_job(db)
    assert job.status == "queued"
    wait = job.run_after - utcnow()
    assert timedelta(seconds=585) <= wait <= timedelta(seconds=600)


async def test_a_400_is_dead_with_sendgrids_reason_and_never_retried(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=sendgrid_error(400, "mail_send_400.json"))
    _, reply_pk = await queued_reply(db)
    w = worker(db, settings, providers, sendgrid)

    assert await w.drain() == 1
    await make_due(db)
    assert await w.drain() == 0

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts) == ("dead", 1)
    assert reply.last_error is not None
    assert reply.last_error.startswith(
        "SendGrid 400: from.email: The from object must be provided for every email send."
    )
    job = await the_job(db)
    assert (job.status, job.attempts, job.last_error) == ("done", 1, None)
    assert route.call_count == 1


async def test_repeated_5xx_gives_up_after_the_last_attempt(
    respx_mock: respx.MockRouter,
    db: Database,
    make_settings: SettingsFactory,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503))
    _, reply_pk = await queued_reply(db)
    w = worker(db, make_settings(JOB_MAX_ATTEMPTS=3), providers, sendgrid)

    for _ in range(4):
        await make_due(db)
        await w.drain()

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts) == ("dead", 3)
    assert reply.last_error == "gave up after 3 attempts: SendGrid 503: Service Unavailable"
    assert (await the_job(db)).status == "done"
    assert route.call_count == 3


async def test_a_reply_whose_job_has_no_attempts_left_is_dead_not_stranded(
    respx_mock: respx.MockRouter,
    db: Database,
    make_settings: SettingsFactory,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    """Job attempts used up elsewhere (e.g. database errors before sending): the reply ends."""
    respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503))
    _, reply_pk = await queued_reply(db)
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Job).values(attempts=2))
    w = worker(db, make_settings(JOB_MAX_ATTEMPTS=3), providers, sendgrid)

    assert await w.drain() == 1

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts) == ("dead", 1)
    assert (reply.last_error or "").startswith("gave up after 1 attempts")
    assert (await the_job(db)).status == "done"


def test_send_retries_back_off_from_30_seconds_and_never_wait_over_an_hour() -> None:
    assert [outbox.retry_delay(n, None).total_seconds() for n in (1, 2, 3, 4)] == [
        30.0,
        60.0,
        120.0,
        240.0,
    ]
    assert outbox.retry_delay(1, 5.0).total_seconds() == 5.0
    assert outbox.retry_delay(1, 86_400.0).total_seconds() == 3600.0
    assert outbox.retry_delay(1, 0.0).total_seconds() == 1.0


# At most once.


class CrashAfterSend:
    """Sends for real, then fails before the outbox can record SendGrid's answer."""

    kind = "sendgrid"

    def __init__(self, inner: MailSender, crash: BaseException) -> None:
        self.inner = inner
        self.crash = crash
        self.results: list[SendResult] = []

    async def send(self, email: OutgoingEmail) -> SendResult:
        self.results.append(await self.inner.send(email))
        raise self.crash


async def test_a_crash_after_the_202_is_marked_unknown_by_the_retry_and_not_resent(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    message_pk, reply_pk = await queued_reply(db)
    crashing = CrashAfterSend(sendgrid, RuntimeError("lost the database connection"))
    w = worker(db, settings, providers, crashing)

    await w.drain()

    assert crashing.results == [SendResult(provider_message_id=SG_ID)]
    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts, reply.sent_at) == ("sending", 1, None)
    job = await the_job(db)
    assert (job.status, job.last_error) == ("queued", "RuntimeError: lost the database connection")

    await make_due(db)
    await w.drain()

    reply = await load_reply(db, reply_pk)
    assert reply.status == "unknown"
    assert reply.attempts == 1
    assert reply.last_error is not None
    assert "may have accepted it" in reply.last_error
    assert (await the_job(db)).status == "done"
    assert route.call_count == 1
    assert len(crashing.results) == 1
    steps = send_steps(await load_message(db, message_pk))
    assert steps[-1] == {"step": "send", "ms": 0.0, "outcome": "unknown", "reply": reply_pk}


async def test_a_worker_killed_after_the_202_is_reclaimed_after_its_lease_and_not_resent(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    _, reply_pk = await queued_reply(db)
    dying = worker(db, settings, providers, CrashAfterSend(sendgrid, asyncio.CancelledError()))

    with pytest.raises(asyncio.CancelledError):
        await dying.run_once()

    job = await the_job(db)
    assert (job.status, job.lease_owner) == ("running", "w1")
    assert (await load_reply(db, reply_pk)).status == "sending"
    survivor = worker(db, settings, providers, sendgrid, name="w2")
    # The lease still holds: nobody else touches the job yet.
    assert await survivor.drain() == 0

    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    assert await survivor.drain() == 1

    reply = await load_reply(db, reply_pk)
    assert reply.status == "unknown"
    assert reply.last_error is not None
    assert "before its result was recorded" in reply.last_error
    job = await the_job(db)
    assert (job.status, job.attempts, job.lease_owner) == ("done", 2, "w2")
    assert route.call_count == 1


class SecondWriteFails:
    """The database goes away between the send and recording its result."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.writes = 0

    def for_store(self, _store_id: int) -> SecondWriteFails:
        return self

    async def unit(self, work: Callable[[Session], T], scope: object = None) -> T:
        self.writes += 1
        if self.writes == 2:
            raise OperationalError("COMMIT", {}, ConnectionResetError("server closed"))
        return await self.db.unit(work, IN_DEFAULT_STORE)


async def test_a_database_failure_after_the_202_logs_sendgrids_id_and_never_resends(
    respx_mock: respx.MockRouter,
    db: Database,
    sendgrid: SendGridSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    _, reply_pk = await queued_reply(db)
    flaky = cast(Database, SecondWriteFails(db))

    with (
        caplog.at_level(logging.ERROR, logger="app.replies.outbox"),
        pytest.raises(OperationalError),
    ):
        await deliver(flaky, reply_pk, sendgrid)

    assert (await load_reply(db, reply_pk)).status == "sending"
    [record] = [r for r in caplog.records if r.getMessage() == "reply delivery result not recorded"]
    assert getattr(record, "provider_message_id", None) == SG_ID
    assert getattr(record, "status", None) == "sent"

    assert await deliver(db, reply_pk, sendgrid) is ReplyStatus.UNKNOWN
    assert await deliver(db, reply_pk, sendgrid) is ReplyStatus.UNKNOWN
    assert (await load_reply(db, reply_pk)).status == "unknown"
    assert route.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=lambda failure: type(failure).__name__,
)
async def test_an_uncertain_send_is_unknown_and_never_resent(
    respx_mock: respx.MockRouter,
    db: Database,
    settings: Settings,
    providers: Providers,
    sendgrid: SendGridSender,
    failure: Exception,
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(side_effect=failure)
    _, reply_pk = await queued_reply(db)
    w = worker(db, settings, providers, sendgrid)

    assert await w.drain() == 1
    await make_due(db)
    assert await w.drain() == 0
    assert await deliver(db, reply_pk, sendgrid) is ReplyStatus.UNKNOWN

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts) == ("unknown", 1)
    assert reply.last_error == (
        f"SendGrid did not answer after the request was sent ({type(failure).__name__})"
    )
    assert (await the_job(db)).status == "done"
    assert route.call_count == 1


class TakenOverDuringSend:
    """While this attempt waits on SendGrid, another worker takes the job over (our lease ran
    out) and, finding the row `sending`, marks it `unknown` and finishes the job."""

    kind = "sendgrid"

    def __init__(self, inner: MailSender, db: Database) -> None:
        self.inner = inner
        self.db = db

    async def send(self, email: OutgoingEmail) -> SendResult:
        reply_pk = int(email.custom_args["reply_id"])
        assert await deliver(self.db, reply_pk, self.inner) is ReplyStatus.UNKNOWN
        return await self.inner.send(email)


async def test_a_late_failure_does_not_strand_a_reply_someone_else_marked_unknown(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503))
    _, reply_pk = await queued_reply(db)

    # No RetryLater: the job is already finished by the other worker, nothing would retry it.
    assert await deliver(db, reply_pk, TakenOverDuringSend(sendgrid, db)) is ReplyStatus.UNKNOWN

    reply = await load_reply(db, reply_pk)
    assert reply.status == "unknown"
    assert reply.last_error is not None
    assert "may have accepted it" in reply.last_error
    assert reply.last_error.endswith(
        "The attempt then failed (it was not sent): SendGrid 503: Service Unavailable"
    )
    assert route.call_count == 1


async def test_a_late_202_still_records_the_reply_as_sent(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    _, reply_pk = await queued_reply(db)

    assert await deliver(db, reply_pk, TakenOverDuringSend(sendgrid, db)) is ReplyStatus.SENT

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.provider_message_id, reply.last_error) == ("sent", SG_ID, None)


# What is delivered, and what is not.


@TRIPWIRE
@pytest.mark.parametrize("status", ["draft", "rejected", "sent", "dead", "unknown"])
async def test_replies_not_waiting_to_go_are_left_alone(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender, status: str
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk, status=status, enqueue=False)

    assert await deliver(db, reply_pk, sendgrid) == ReplyStatus(status)

    reply = await load_reply(db, reply_pk)
    assert (reply.status, reply.attempts, reply.sending_started_at) == (status, 0, None)
    assert reply.last_error is None
    assert (await load_message(db, message_pk)).steps == [EARLIER_STEP]
    assert route.call_count == 0


async def test_the_stored_reply_goes_out_as_written(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    message_pk, reply_pk = await queued_reply(db)

    assert await deliver(db, reply_pk, sendgrid) is ReplyStatus.SENT

    body = sent(route)
    assert body["personalizations"] == [{"to": [{"email": "sara@example.com"}]}]
    assert body["from"] == {"email": "support@shop.test", "name": "Test Shop"}
    assert body["subject"] == "Re: Where is my order #1001?"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["Message-ID"] == REPLY_ID
    assert body["headers"]["In-Reply-To"] == CUSTOMER_ID
    assert body["headers"]["References"] == f"<msg-1@example.com> {CUSTOMER_ID}"
    assert body["headers"]["Auto-Submitted"] == "auto-replied"
    # Our ids only: custom args are visible to SendGrid's staff.
    assert body["custom_args"] == {"reply_id": str(reply_pk), "message_id": str(message_pk)}


async def test_a_reply_without_a_message_id_gets_one_of_ours_before_it_leaves(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender
) -> None:
    route = respx_mock.post(MAIL_SEND).mock(return_value=accepted())
    message_pk = await add_message(db)
    reply_pk = await add_reply(db, message_pk, rfc_message_id=None, enqueue=False)

    await deliver(db, reply_pk, sendgrid)

    stored = (await load_reply(db, reply_pk)).rfc_message_id
    assert stored is not None
    assert stored.startswith("<reply.")
    assert stored.endswith("@shop.test>")
    assert sent(route)["headers"]["Message-ID"] == stored


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (accepted(), "sent"),
        (sendgrid_error(400, "mail_send_400.json"), "dead"),
        (httpx.ReadTimeout("timed out"), "unknown"),
        (sendgrid_error(500, "mail_send_500.json"), "failed"),
    ],
    ids=["sent", "dead", "unknown", "failed"],
)
async def test_every_delivery_appends_a_timed_send_step(
    respx_mock: respx.MockRouter,
    db: Database,
    sendgrid: SendGridSender,
    answer: httpx.Response | Exception,
    outcome: str,
) -> None:
    if isinstance(answer, httpx.Response):
        respx_mock.post(MAIL_SEND).mock(return_value=answer)
    else:
        respx_mock.post(MAIL_SEND).mock(side_effect=answer)
    message_pk, reply_pk = await queued_reply(db)

    with contextlib.suppress(RetryLater):
        await deliver(db, reply_pk, sendgrid)

    steps = (await load_message(db, message_pk)).steps
    assert steps is not None
    assert steps[0] == EARLIER_STEP
    [step] = steps[1:]
    assert (step["step"], step["outcome"], step["reply"]) == ("send", outcome, reply_pk)
    assert isinstance(step["ms"], float | int)
    assert step["ms"] >= 0


async def test_the_failed_step_raises_retry_later_with_the_reason(
    respx_mock: respx.MockRouter, db: Database, sendgrid: SendGridSender
) -> None:
    respx_mock.post(MAIL_SEND).mock(return_value=httpx.Response(503, headers={"Retry-After": "42"}))
    _, reply_pk = await queued_reply(db)

    with pytest.raises(RetryLater, match="SendGrid 503") as caught:
        await deliver(db, reply_pk, sendgrid)

    assert caught.value.delay == timedelta(seconds=42)


# Threading.


def customer_email(
    message_id: str = CUSTOMER_ID,
    *,
    references: list[str] | None = None,
    in_reply_to: list[str] | None = None,
    synthetic: bool = False,
) -> Message:
    return Message(
        message_id=message_id,
        references=references or [],
        in_reply_to=in_reply_to or [],
        has_synthetic_message_id=synthetic,
    )


def test_a_reply_answers_the_customers_message_and_extends_their_chain() -> None:
    message = customer_email(
        references=["<msg-0@example.com>", "<msg-1@example.com>"],
        in_reply_to=["<msg-1@example.com>"],
    )

    assert threading_for(message) == (
        CUSTOMER_ID,
        ("<msg-0@example.com>", "<msg-1@example.com>", CUSTOMER_ID),
    )


def test_a_first_email_is_referenced_by_its_own_message_id() -> None:
    assert threading_for(customer_email()) == (CUSTOMER_ID, (CUSTOMER_ID,))


def test_without_references_a_single_in_reply_to_starts_the_chain() -> None:
    # RFC 5322 §3.6.4: the parent's In-Reply-To (one id) stands in for its missing References.
    message = customer_email(in_reply_to=["<msg-1@example.com>"])

    assert threading_for(message) == (CUSTOMER_ID, ("<msg-1@example.com>", CUSTOMER_ID))


def test_an_in_reply_to_naming_several_messages_is_not_a_chain() -> None:
    message = customer_email(in_reply_to=["<a@example.com>", "<b@example.com>"])

    assert threading_for(message) == (CUSTOMER_ID, (CUSTOMER_ID,))


def test_the_chain_has_no_duplicates() -> None:
    message = customer_email(
        references=["<a@x>", "<b@x>", "<a@x>", CUSTOMER_ID, "<c@x>", "<b@x>"],
    )

    _, references = threading_for(message)

    assert references == ("<a@x>", "<b@x>", "<c@x>", CUSTOMER_ID)


def test_a_long_chain_is_bounded_keeping_the_first_and_the_newest() -> None:
    chain = [f"<m{i}@example.com>" for i in range(40)]
    message = customer_email(references=[*chain, chain[5], chain[39]])

    in_reply_to, references = threading_for(message)

    assert in_reply_to == CUSTOMER_ID
    assert len(references) == MAX_REFERENCES == 20
    assert len(set(references)) == len(references)
    assert references == (chain[0], *chain[-18:], CUSTOMER_ID)


def test_a_synthetic_message_id_is_never_used_for_threading() -> None:
    message = customer_email(
        "<" + "f" * 64 + "@checksum.invalid>",
        references=["<a@x>", "<b@x>", "<a@x>"],
        synthetic=True,
    )

    assert threading_for(message) == (None, ("<a@x>", "<b@x>"))


def test_a_synthetic_message_id_without_a_thread_has_no_threading() -> None:
    message = customer_email("<" + "f" * 64 + "@checksum.invalid>", synthetic=True)

    assert threading_for(message) == (None, ())


def test_a_long_chain_under_a_synthetic_message_id_is_bounded_too() -> None:
    chain = [f"<m{i}@example.com>" for i in range(30)]
    message = customer_email("<x@checksum.invalid>", references=chain, synthetic=True)

    in_reply_to, references = threading_for(message)

    assert in_reply_to is None
    assert references == (chain[0], *chain[-19:])
