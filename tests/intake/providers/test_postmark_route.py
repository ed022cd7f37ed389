"""`POST /webhooks/postmark/inbound` through the real app, then the worker."""

from __future__ import annotations

import json

import httpx

from app.config import Settings
from app.db.engine import Database
from tests.builders import payload
from tests.conftest import BASIC_AUTH
from tests.intake.providers.harness import count, drain, message

URL = "/webhooks/postmark/inbound"


async def post(
    client: httpx.AsyncClient, body: bytes, auth: tuple[str, str] | None = BASIC_AUTH
) -> httpx.Response:
    headers = {"content-type": "application/json", "user-agent": "Postmark"}
    if auth is None:
        return await client.post(URL, content=body, headers=headers)
    return await client.post(URL, content=body, headers=headers, auth=auth)


async def test_an_inbound_post_is_stored_once_and_answered_from_a_verified_sender(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("postmark/inbound.json"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    again = await post(client, payload("postmark/inbound.json"))
    assert again.json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    assert await drain(db, settings) == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("postmark", "postmark-parsed")
    assert stored.message_id == "<pm-1@mail.example.com>"
    assert stored.from_address == "sara@example.com"
    assert stored.sender_verified
    assert stored.identity_reason == "spf_pass_aligned:example.com"
    assert stored.status in ("drafted", "answered")


async def test_a_raw_email_post_is_parsed_from_the_raw_message(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("postmark/raw_latin1.json"))
    assert response.json()["status"] == "received"
    assert await drain(db, settings) == 1
    stored = await message(db, response.json()["id"])
    assert stored.payload_format == "postmark-raw"
    assert stored.subject == "Devolución del pedido nº 1002"
    assert stored.from_name == "José Muñoz"


async def test_a_post_without_a_sender_is_stored_and_never_answered(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("postmark/no_sender.json"))
    assert response.json()["status"] == "received"
    await drain(db, settings)
    stored = await message(db, response.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"


async def test_wrong_or_missing_credentials_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (
        await post(client, payload("postmark/inbound.json"), ("postmark", "nope"))
    ).status_code == 401
    assert (await post(client, payload("postmark/inbound.json"), None)).status_code == 401
    assert await count(db) == (0, 0)


async def test_postmarks_bounce_webhook_is_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, payload("postmark/bounce_event.json"))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "event": "Bounce"}
    assert await count(db) == (0, 0)


async def test_an_authentic_post_that_is_not_json_is_quarantined(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, b"<html>not json</html>")
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable postmark payload" in (stored.status_reason or "")


async def test_an_authentic_post_with_nothing_in_it_is_quarantined_by_the_worker(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, json.dumps({"MessageStream": "inbound"}).encode())
    assert response.json()["status"] == "received"
    await drain(db, settings)
    stored = await message(db, response.json()["id"])
    assert stored.status == "quarantined"
    assert "no headers, sender or content" in (stored.status_reason or "")
