"""An email over a MIME ceiling, end to end: acknowledged, then quarantined for staff by the worker.

The webhook stores it like any other (its cost there is a checksum); the worker's parser stops at
the first ceiling crossed, and the reason names the ceiling. How fast that is, is measured by
`bench/ceilings.py`, not asserted here.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message, Reply
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import (
    SendGridPost,
    Transport,
    encode_form,
    parsed_mode_post,
    raw_mode_post,
)
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from tests.conftest import BASIC_AUTH, SettingsFactory


def many_parts(parts: int) -> bytes:
    """An email of `parts` tiny MIME parts (the message itself is one more)."""
    part = b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    return (
        b"From: Sara <sara@example.com>\r\nTo: support@shop.test\r\nSubject: parts\r\n"
        b"Message-ID: <parts@example.com>\r\n"
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n" + part * parts + b"--B--\r\n"
    )


def raw_post(eml: bytes) -> SendGridPost:
    """A raw-mode post built without parsing the email (the demo builder parses it: slow here)."""
    return encode_form([*Transport().fields(), ("email", eml), ("from", b"sara@example.com")])


async def deliver(client: httpx.AsyncClient, payload: SendGridPost) -> int:
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=payload.body,
        headers={"content-type": payload.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    message_pk: int = response.json()["id"]
    return message_pk


async def load(db: Database, message_pk: int) -> Message:
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, message_pk, options=[undefer(Message.raw)])
        assert message is not None
        return message


async def replies(db: Database) -> int:
    async with db.read(ALL_STORES) as session:
        return int((await session.execute(select(func.count(Reply.id)))).scalar_one())


async def test_a_200000_part_email_is_quarantined_naming_the_ceiling(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    payload = raw_post(many_parts(200_000))
    pk = await deliver(client, payload)

    assert await Worker(db=db, settings=settings, providers=providers).drain() == 1

    message = await load(db, pk)
    assert message.status == "quarantined"
    assert message.status_reason == "over a ceiling: MIME_MAX_PARTS (more than 500 parts)"
    # Kept byte-exact for staff, and nothing was answered.
    assert message.raw == payload.body
    assert await replies(db) == 0
    async with db.read(ALL_STORES) as session:
        jobs = list((await session.execute(select(Job))).scalars())
    assert [job.status for job in jobs] == ["done"]


async def test_an_email_under_the_ceiling_is_processed(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await deliver(client, raw_mode_post(many_parts(settings.MIME_MAX_PARTS - 1)))

    await Worker(db=db, settings=settings, providers=providers).drain()

    message = await load(db, pk)
    assert message.status != "quarantined"
    assert len(message.attachments or []) == settings.MIME_MAX_PARTS - 2


async def test_a_parsed_mode_header_block_over_the_ceiling_is_quarantined(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    headers = "From: sara@example.com\r\n" + "X-Filler: x\r\n" * settings.MIME_MAX_HEADER_LINES
    fields = {
        "headers": ("utf-8", headers),
        "from": ("utf-8", "sara@example.com"),
        "text": ("utf-8", "Hello"),
    }
    pk = await deliver(client, parsed_mode_post(fields))

    await Worker(db=db, settings=settings, providers=providers).drain()

    message = await load(db, pk)
    assert message.status == "quarantined"
    assert message.status_reason == (
        "over a ceiling: MIME_MAX_HEADER_LINES (more than 5,000 header lines)"
    )


async def test_the_ceilings_come_from_the_settings(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = make_settings(MIME_MAX_PARTS=10)
    app = create_app(settings, db=db, providers=providers)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        pk = await deliver(client, raw_mode_post(many_parts(20)))
    await Worker(db=db, settings=settings, providers=providers).drain()

    message = await load(db, pk)
    assert message.status_reason == "over a ceiling: MIME_MAX_PARTS (more than 10 parts)"
