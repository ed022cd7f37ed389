"""`POST /webhooks/mailersend/inbound` through the real app, then the worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from tests.builders import payload
from tests.intake.test_provider_route import FakeGet, count, message, worker
from tests.mail.providers.test_mailersend import SECRET, signature

URL = "/webhooks/mailersend/inbound"
SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """The route's secret and nothing else: no Basic credentials."""
    return make_settings(
        MAILERSEND_SIGNING_SECRET=SECRET,
        INBOUND_BASIC_AUTH_USER=None,
        INBOUND_BASIC_AUTH_PASSWORD=None,
    )


@asynccontextmanager
async def app_client(
    settings: Settings, db: Database, providers: Providers
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def send(client: httpx.AsyncClient, body: bytes, **headers: Any) -> httpx.Response:
    sent = {"content-type": "application/json", "signature": signature(body)}
    sent.update(headers)
    return await client.post(URL, content=body, headers=sent)


async def test_a_signed_inbound_message_is_stored_once_and_its_sender_verified_by_spf(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    body = payload("mailersend/inbound_raw.json")
    response = await send(client, body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    assert (await send(client, body)).json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("mailersend", "mailersend-raw")
    assert stored.from_address == "sara@example.com"
    assert stored.sender_verified
    assert stored.identity_reason == "spf_pass_aligned:example.com"
    assert stored.status in ("drafted", "answered")


async def test_a_latin1_message_and_a_fields_only_message_are_both_parsed(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    latin = await send(client, payload("mailersend/raw_latin1.json"))
    fields = await send(client, payload("mailersend/fields_attachments.json"))
    assert await worker(db, settings, FakeGet({})).drain() == 2
    stored = await message(db, latin.json()["id"])
    assert stored.subject == "Devolución del pedido #1001"
    stored = await message(db, fields.json()["id"])
    assert stored.payload_format == "mailersend-fields"
    assert stored.subject == "Damaged parcel 📦"


async def test_a_message_without_a_sender_is_stored_and_never_answered(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await send(client, payload("mailersend/no_sender.json"))
    assert response.json()["status"] == "received"
    await worker(db, settings, FakeGet({})).drain()
    stored = await message(db, response.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"


async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = payload("mailersend/inbound_raw.json")
    assert (await send(client, body, signature=signature(body, "guessed"))).status_code == 401
    assert (await send(client, body, signature="")).status_code == 401
    assert (await send(client, body + b"\n", signature=signature(body))).status_code == 401
    assert await count(db) == (0, 0)


async def test_an_oversized_post_is_refused_unread(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = make_settings(
        MAILERSEND_SIGNING_SECRET=SECRET,
        INBOUND_BASIC_AUTH_USER=None,
        INBOUND_BASIC_AUTH_PASSWORD=None,
        INBOUND_MAX_BODY_BYTES=2048,
    )
    async with app_client(settings, db, providers) as client:
        response = await send(client, payload("mailersend/inbound_raw.json"))
    assert response.status_code == 413
    assert await count(db) == (0, 0)


async def test_its_activity_webhooks_are_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await send(client, payload("mailersend/activity_sent.json"))
    assert response.json() == {"status": "ignored", "event": "activity.sent"}
    assert await count(db) == (0, 0)


async def test_a_signed_body_that_is_not_json_is_quarantined(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await send(client, b"<html>not json</html>")
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable mailersend payload" in (stored.status_reason or "")
