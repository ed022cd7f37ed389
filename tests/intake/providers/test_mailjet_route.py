"""`POST /webhooks/mailjet/inbound` through the real app, then the worker."""

from __future__ import annotations

import httpx

from app.config import Settings
from app.db.engine import Database
from tests.builders import payload
from tests.conftest import BASIC_AUTH
from tests.intake.test_provider_route import FakeGet, count, message, worker

URL = "/webhooks/mailjet/inbound"


async def post(
    client: httpx.AsyncClient, body: bytes, auth: tuple[str, str] | None = BASIC_AUTH
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if auth is None:
        return await client.post(URL, content=body, headers=headers)
    return await client.post(URL, content=body, headers=headers, auth=auth)


async def test_a_parse_post_is_stored_once_and_drafted_for_an_unverified_sender(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("mailjet/parse_basic.json"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    assert (await post(client, payload("mailjet/parse_basic.json"))).json() == {
        "status": "duplicate"
    }
    assert await count(db) == (1, 1)
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("mailjet", "mailjet-parse")
    assert stored.message_id == "<mj-order-1001@mail.example.com>"
    assert stored.from_address == "sara@example.com"
    assert not stored.sender_verified
    assert stored.status != "answered"


async def test_a_latin1_post_and_one_with_attachments_are_parsed(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    latin = await post(client, payload("mailjet/parse_latin1.json"))
    attached = await post(client, payload("mailjet/parse_attachments.json"))
    assert await worker(db, settings, FakeGet({})).drain() == 2
    assert (await message(db, latin.json()["id"])).from_name == "María García"
    assert (await message(db, attached.json()["id"])).subject == "Photo of the damaged parcel"


async def test_a_post_without_a_sender_is_stored_and_never_answered(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("mailjet/no_sender.json"))
    await worker(db, settings, FakeGet({})).drain()
    stored = await message(db, response.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"


async def test_wrong_or_missing_credentials_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = payload("mailjet/parse_basic.json")
    assert (await post(client, body, ("sendgrid", "nope"))).status_code == 401
    assert (await post(client, body, None)).status_code == 401
    assert await count(db) == (0, 0)


async def test_mailjet_events_are_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, payload("mailjet/events_grouped.json"))
    assert response.json() == {"status": "ignored", "event": "event sent"}
    assert await count(db) == (0, 0)


async def test_an_authentic_post_that_is_not_json_is_quarantined(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, b"<html>not json</html>")
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable mailjet payload" in (stored.status_reason or "")
