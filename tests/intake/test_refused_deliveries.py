"""One bad delivery never fails another, and a 5xx means "our database is down", nothing else.

A NUL in a Message-ID once made every post of its email answer 503 on PostgreSQL, and in a
burst 53 of 54 innocent deliveries sharing its group commit failed with it. Here the database
refuses rows for real (PostgreSQL's NUL refusal, or a trigger standing in for any refusal of a
row's content, on both databases) and the webhook's answers are checked delivery by delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import SendGridPost, parsed_mode_post, raw_mode_post
from app.intake import writer
from app.intake.writer import IntakeWriter
from app.mail.mime import synthetic_message_id
from app.main import create_app
from app.providers import Providers
from tests.builders import IN_DEFAULT_STORE, make_eml
from tests.intake.test_webhooks import count, post, stored_messages

REFUSE = "refuse-me"
"""What the refusing trigger looks for in a column."""
BURST = 54


def eml_with_message_id(raw_id: bytes) -> bytes:
    """An email whose Message-ID header holds exactly `raw_id`, with a NUL in its body too."""
    return (
        b"From: Sara <sara@example.com>\r\nTo: support@shop.test\r\nSubject: Order\r\n"
        b"Message-ID: " + raw_id + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Where is order \x00 #1001?\r\n"
    )


def innocent(index: int) -> SendGridPost:
    return raw_mode_post(
        make_eml(message_id=f"<burst-{index}@example.com>", body=f"Order #{1000 + index}?\n")
    )


@pytest.fixture
async def app(settings: Settings, db: Database, providers: Providers) -> FastAPI:
    return create_app(settings, db=db, providers=providers)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def refuse_rows(db: Database) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """Make the database refuse inserted messages matching an SQL condition on `NEW`.

    A real refusal by the database, as for a NUL on PostgreSQL (the same SQLSTATE there), for
    any content the database might refuse that the text types do not clean.
    """

    async def refuse(condition: str) -> None:
        async with db.engine.begin() as connection:
            if db.dialect == "postgresql":
                await connection.execute(
                    text(
                        "CREATE FUNCTION refuse_test() RETURNS trigger LANGUAGE plpgsql AS $$ "
                        f"BEGIN IF {condition} THEN RAISE EXCEPTION 'refused' "
                        "USING ERRCODE = 'character_not_in_repertoire'; END IF; "
                        "RETURN NEW; END $$"
                    )
                )
                await connection.execute(
                    text(
                        "CREATE TRIGGER refuse_test BEFORE INSERT ON messages "
                        "FOR EACH ROW EXECUTE FUNCTION refuse_test()"
                    )
                )
            else:
                await connection.execute(
                    text(
                        f"CREATE TRIGGER refuse_test BEFORE INSERT ON messages WHEN {condition} "
                        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                    )
                )

    yield refuse
    # The PostgreSQL test database outlives the test: leave no trigger behind.
    async with db.engine.begin() as connection:
        if db.dialect == "postgresql":
            await connection.execute(text("DROP TRIGGER IF EXISTS refuse_test ON messages"))
            await connection.execute(text("DROP FUNCTION IF EXISTS refuse_test()"))
        else:
            await connection.execute(text("DROP TRIGGER IF EXISTS refuse_test"))


@contextlib.asynccontextmanager
async def writes_held(db: Database) -> AsyncIterator[None]:
    """Hold the messages table in another transaction, so intake's first commit waits."""
    async with db.write(IN_DEFAULT_STORE) as session:
        if db.dialect == "postgresql":
            await session.execute(text("LOCK TABLE messages IN EXCLUSIVE MODE"))
        else:
            # A write unit of work begins IMMEDIATE: it holds SQLite's write lock until it ends.
            await session.execute(text("SELECT 1"))
        yield


async def post_burst(
    app: FastAPI, http: httpx.AsyncClient, db: Database, payloads: list[SendGridPost]
) -> list[httpx.Response]:
    """Post all at once so that all but the first share one group commit, and answer them."""
    intake: IntakeWriter = app.state.services.intake
    async with writes_held(db):
        tasks = [asyncio.create_task(post(http, payload)) for payload in payloads]
        deadline = time.monotonic() + 4  # within SQLite's 5 s busy timeout
        while intake.queued < len(payloads) - 1:
            assert time.monotonic() < deadline, f"only {intake.queued} deliveries queued"
            await asyncio.sleep(0.01)
    return list(await asyncio.gather(*tasks))


async def jobs_for(db: Database) -> set[int | None]:
    async with db.read(ALL_STORES) as session:
        return set((await session.execute(select(Job.message_id))).scalars())


@contextlib.contextmanager
def refusals_logged(caplog: pytest.LogCaptureFixture) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    with caplog.at_level(logging.WARNING, logger=writer.__name__):
        yield records
    records.extend(r for r in caplog.records if r.name == writer.__name__)


class TestControlCharactersInTheMessageId:
    @pytest.mark.parametrize("control", [b"\x00", b"\x01", b"\x1b", b"\x7f"])
    async def test_the_email_is_stored_under_a_synthetic_id_and_its_retry_is_a_duplicate(
        self, http: httpx.AsyncClient, db: Database, control: bytes
    ) -> None:
        payload = raw_mode_post(eml_with_message_id(b"<order" + control + b"1001@example.com>"))
        response = await post(http, payload)
        assert response.status_code == 200
        assert response.json()["status"] == "received"
        [message] = await stored_messages(db)
        assert message.has_synthetic_message_id is True
        assert message.message_id == synthetic_message_id(message.checksum)
        assert message.raw == payload.body
        assert await jobs_for(db) == {message.id}
        # The provider's retry is acknowledged as already stored, not refused forever.
        retry = await post(http, payload)
        assert (retry.status_code, retry.json()) == (200, {"status": "duplicate"})

    async def test_a_parsed_mode_post_is_treated_the_same(
        self, http: httpx.AsyncClient, db: Database
    ) -> None:
        payload = parsed_mode_post(
            {
                "headers": ("utf-8", "From: a@example.com\nMessage-ID: <p\x00arsed@example.com>\n"),
                "from": ("utf-8", "a@example.com"),
                "text": ("utf-8", "Where is \x00 my order?"),
            }
        )
        response = await post(http, payload)
        assert response.status_code == 200
        [message] = await stored_messages(db)
        assert message.has_synthetic_message_id is True
        assert message.raw == payload.body

    async def test_a_burst_sharing_its_group_commit_is_stored_whole(
        self, app: FastAPI, http: httpx.AsyncClient, db: Database
    ) -> None:
        payloads = [innocent(index) for index in range(BURST)]
        payloads[BURST // 2] = raw_mode_post(eml_with_message_id(b"<nul\x00id@example.com>"))
        responses = await post_burst(app, http, db, payloads)
        assert [r.status_code for r in responses] == [200] * BURST
        assert {r.json()["status"] for r in responses} == {"received"}
        assert await count(db, Message) == BURST
        assert await count(db, Job) == BURST


class TestARefusedDelivery:
    async def test_only_it_fails_its_group_commit_and_it_is_quarantined_with_its_bytes(
        self,
        app: FastAPI,
        http: httpx.AsyncClient,
        db: Database,
        refuse_rows: Callable[[str], Awaitable[None]],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        await refuse_rows(f"NEW.message_id LIKE '%{REFUSE}%'")
        payloads = [innocent(index) for index in range(BURST)]
        bad = BURST // 2
        payloads[bad] = raw_mode_post(make_eml(message_id=f"<{REFUSE}@example.com>"))
        with refusals_logged(caplog) as records:
            responses = await post_burst(app, http, db, payloads)

        assert [r.status_code for r in responses] == [200] * BURST
        statuses = [r.json()["status"] for r in responses]
        assert statuses == ["received"] * bad + ["quarantined"] + ["received"] * (BURST - bad - 1)
        messages = {m.id: m for m in await stored_messages(db)}
        assert len(messages) == BURST
        quarantined = messages[responses[bad].json()["id"]]
        assert quarantined.status == "quarantined"
        assert quarantined.raw == payloads[bad].body
        assert quarantined.has_synthetic_message_id is True
        assert quarantined.message_id == synthetic_message_id(quarantined.checksum)
        assert quarantined.status_reason is not None
        assert "refused" in quarantined.status_reason
        # Staff decide about it; every innocent delivery waits for the worker as usual.
        assert await jobs_for(db) == set(messages) - {quarantined.id}
        # They did share a group commit: the whole batch but the first delivery was refused.
        [batch] = [r for r in records if "batch refused" in r.getMessage()]
        assert getattr(batch, "deliveries", None) == BURST - 1

    async def test_refused_again_as_quarantined_it_is_kept_as_a_minimal_record(
        self,
        http: httpx.AsyncClient,
        db: Database,
        refuse_rows: Callable[[str], Awaitable[None]],
    ) -> None:
        await refuse_rows(f"NEW.content_type LIKE '%{REFUSE}%'")
        payload = raw_mode_post(make_eml())
        odd = SendGridPost(body=payload.body, content_type=f"{payload.content_type}; x={REFUSE}")
        response = await post(http, odd)
        assert response.status_code == 200
        assert response.json()["status"] == "quarantined"
        [message] = await stored_messages(db)
        assert (message.raw, message.content_type) == (b"", "")
        assert message.status_reason is not None
        assert f"{len(payload.body)} bytes" in message.status_reason
        assert await count(db, Job) == 0

    async def test_a_delivery_not_even_a_minimal_record_of_which_is_stored_gets_503(
        self,
        http: httpx.AsyncClient,
        db: Database,
        refuse_rows: Callable[[str], Awaitable[None]],
    ) -> None:
        # The database refuses every row: that is not about this email, and 2xx would lose it.
        await refuse_rows("NEW.raw_size >= 0")
        response = await post(http, raw_mode_post(make_eml()))
        assert response.status_code == 503
        assert await count(db, Message) == 0


class TestAnOutage:
    async def test_a_connection_dropped_in_a_group_commit_fails_every_delivery_with_503(
        self,
        app: FastAPI,
        http: httpx.AsyncClient,
        db: Database,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        def dropped(message_pk: int, store_id: int | None, now: Any) -> dict[str, Any]:
            # The connection drops after the messages were inserted, inside the transaction.
            raise OperationalError("INSERT INTO jobs", {}, ConnectionResetError("server closed"))

        monkeypatch.setattr(writer, "_job_row", dropped)
        with refusals_logged(caplog) as records:
            responses = await post_burst(app, http, db, [innocent(i) for i in range(10)])
        assert [r.status_code for r in responses] == [503] * 10
        assert await count(db, Message) == 0
        # Nothing was retried row by row or quarantined: the provider retries them all.
        assert records == []
