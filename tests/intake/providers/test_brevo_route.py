"""`POST /webhooks/brevo/inbound` through the real app, then the worker."""

from __future__ import annotations

import json

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from tests.builders import payload
from tests.conftest import BASIC_AUTH, SettingsFactory
from tests.intake.providers.harness import app_client, count, drain, message
from tests.provider_fakes import FakeGet

URL = "/webhooks/brevo/inbound"


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # Brevo receives on a subdomain of its own (reply.shop.test), as its guide recommends.
    return make_settings(OWN_EMAIL_DOMAINS="parse.shop.test,reply.shop.test")


async def post(
    client: httpx.AsyncClient, body: bytes, auth: tuple[str, str] | None = BASIC_AUTH
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if auth is None:
        return await client.post(URL, content=body, headers=headers)
    return await client.post(URL, content=body, headers=headers, auth=auth)


async def test_an_inbound_post_is_stored_once_and_drafted_for_an_unverified_sender(
    settings: Settings, db: Database
) -> None:
    http = FakeGet()
    async with app_client(settings, db, http) as client:
        response = await post(client, payload("brevo/inbound.json"))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "received"
        assert (await post(client, payload("brevo/inbound.json"))).json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    assert await drain(db, settings, http) == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("brevo", "brevo-parsed")
    assert stored.from_address == "sara@example.com"
    assert stored.sender_verified is False
    assert stored.status != "answered"
    assert [a["filename"] for a in stored.attachments or []] == ["damage.jpg", "receipt.pdf"]
    # Attachments' metadata is in the post: Brevo's API is never asked for their bytes.
    assert http.asked == []


async def test_a_latin1_item_is_decoded(settings: Settings, db: Database) -> None:
    async with app_client(settings, db, FakeGet()) as client:
        response = await post(client, payload("brevo/latin1.json"))
    await drain(db, settings)
    stored = await message(db, response.json()["id"])
    assert stored.subject == "Devolución del pedido nº 1002"
    assert stored.from_name == "José Muñoz"


async def test_wrong_or_missing_credentials_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    assert (await post(client, payload("brevo/inbound.json"), ("brevo", "nope"))).status_code == 401
    assert (await post(client, payload("brevo/inbound.json"), None)).status_code == 401
    assert await count(db) == (0, 0)


async def test_brevos_tracking_webhook_is_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, payload("brevo/event_delivered.json"))
    assert response.json() == {"status": "ignored", "event": "delivered"}
    assert await count(db) == (0, 0)


async def test_a_batch_of_emails_is_kept_quarantined_for_staff(
    client: httpx.AsyncClient, db: Database
) -> None:
    items = [json.loads(payload(f"brevo/{n}"))["items"][0] for n in ("inbound.json", "latin1.json")]
    response = await post(client, json.dumps({"items": items}).encode())
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "a batch of 2 emails" in (stored.status_reason or "")
    assert await count(db) == (1, 0)


async def test_an_item_without_a_sender_is_never_answered(settings: Settings, db: Database) -> None:
    async with app_client(settings, db, FakeGet()) as client:
        response = await post(client, payload("brevo/no_sender.json"))
    assert response.json()["status"] == "received"
    await drain(db, settings)
    stored = await message(db, response.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"
