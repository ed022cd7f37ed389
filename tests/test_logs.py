"""Log lines: text with key=value fields or JSON, and every line of a job names its email."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from app.jobs.queue import ClaimedJob
from app.jobs.worker import Worker, default_handlers
from app.logs import configure_logging, log_context
from app.providers import Providers
from app.store.directory import StoreDirectory
from tests.builders import make_eml
from tests.fakes import post_email

logger = logging.getLogger("tests.logs")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the root logger writes after `configure_logging`, which replaces its handlers."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved
    root.setLevel(level)


def configure(stream: io.StringIO, level: str, log_format: Any) -> None:
    configure_logging(level, log_format)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def test_json_lines_carry_the_message_the_extras_and_the_exception(
    captured: io.StringIO,
) -> None:
    configure(captured, "INFO", "json")
    logger.info("hello %s", "world", extra={"order": "#1001", "attempts": 2})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("it failed")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert first["message"] == "hello world"
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.logs"
    assert first["order"] == "#1001"
    assert first["attempts"] == 2
    assert first["time"].endswith("+00:00")
    assert second["level"] == "ERROR"
    assert "ValueError: boom" in second["exception"]


def test_text_lines_drop_uvicorns_color_message(captured: io.StringIO) -> None:
    configure(captured, "INFO", "text")
    logger.info("GET /healthz", extra={"color_message": "\x1b[1mGET\x1b[0m", "status": 200})
    line = captured.getvalue()
    assert "GET /healthz" in line
    assert "status=200" in line
    assert "color_message" not in line
    assert "\x1b" not in line


def test_json_lines_drop_uvicorns_color_message(captured: io.StringIO) -> None:
    configure(captured, "INFO", "json")
    logger.info("GET /healthz", extra={"color_message": "\x1b[1mGET\x1b[0m"})
    assert "color_message" not in json.loads(captured.getvalue())


def test_a_bound_context_reaches_every_line_inside_it_and_no_line_after(
    captured: io.StringIO,
) -> None:
    configure(captured, "INFO", "text")
    with log_context(message_pk=7, job_id=None):
        logger.info("inside")
        with log_context(job_id=3):
            logger.info("nested", extra={"message_pk": 99})
    logger.info("after")
    inside, nested, after = captured.getvalue().splitlines()
    assert "message_pk=7" in inside
    assert "job_id" not in inside
    # A record's own extra wins over the bound value.
    assert "message_pk=99" in nested
    assert "job_id=3" in nested
    assert "message_pk" not in after


async def test_every_line_of_a_job_names_its_email_in_json(
    captured: io.StringIO,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
) -> None:
    pk = await post_email(client, make_eml(body="Where is my order #1001?"), "example.com")
    configure(captured, "INFO", "json")
    handlers = default_handlers(db, settings, providers, StoreDirectory(db, settings))

    def traced(kind: str) -> Any:
        async def run(job: ClaimedJob) -> None:
            logger.info("job begins")
            await handlers[kind](job)
            logger.info("job ends")

        return run

    worker = Worker(db=db, settings=settings, handlers={kind: traced(kind) for kind in handlers})
    assert await worker.drain() >= 1
    entries = [json.loads(line) for line in captured.getvalue().splitlines()]
    inside: list[dict[str, Any]] = []
    job: Any = None
    for entry in entries:
        if entry["message"] == "job begins":
            job = entry["job_id"]
        if job is not None:
            inside.append(entry)
            assert entry.get("job_id") == job, entry
            assert entry.get("message_pk") == pk, entry
        if entry["message"] == "job ends":
            job = None
    # The pipeline's own lines were among them, not only the test's.
    assert {"app.planning", "app.pipeline"} <= {entry["logger"] for entry in inside}


async def test_the_webhook_names_the_email_it_stored(
    captured: io.StringIO, client: httpx.AsyncClient
) -> None:
    configure(captured, "DEBUG", "json")
    pk = await post_email(client, make_eml(body="Where is my order #1001?"), "example.com")
    stored = [
        entry
        for entry in map(json.loads, captured.getvalue().splitlines())
        if entry["logger"] == "app.intake.routes"
    ]
    assert [(entry["message"], entry["message_pk"]) for entry in stored] == [
        ("inbound delivery stored", pk)
    ]
