"""`POST /webhooks/sparkpost/inbound` through the real app, then the worker; batches included."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db.engine import Database
from app.db.models import Message
from app.db.scope import ALL_STORES
from app.intake.messages import NewDelivery
from app.intake.writer import IntakeWriter, Stored
from tests.builders import payload
from tests.conftest import BASIC_AUTH
from tests.intake.test_provider_route import FakeGet, count, message, worker

URL = "/webhooks/sparkpost/inbound"
TOKEN = BASIC_AUTH[1]


async def raw_of(db: Database, pk: int) -> bytes:
    """The stored body of one delivery (a deferred column)."""
    async with db.read(ALL_STORES) as session:
        raw = (await session.execute(select(Message.raw).where(Message.id == pk))).scalar_one()
        return bytes(raw)


async def post(client: httpx.AsyncClient, body: bytes, token: str | None = TOKEN) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-messagesystems-webhook-token"] = token
    return await client.post(URL, content=body, headers=headers)


async def test_a_relayed_email_is_stored_once_and_drafted_for_an_unverified_sender(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    response = await post(client, payload("sparkpost/relay_single.json"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    again = await post(client, payload("sparkpost/relay_single.json"))
    assert again.json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("sparkpost", "sparkpost-relay")
    assert await raw_of(db, stored.id) == payload("sparkpost/relay_single.json")
    assert stored.from_address == "sara@example.com"
    assert not stored.sender_verified
    assert stored.status != "answered"


async def test_a_batch_is_stored_as_one_delivery_per_email(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    batch = payload("sparkpost/relay_batch.json")
    response = await post(client, batch)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "batch"
    assert [d["status"] for d in result["deliveries"]] == ["received", "received"]
    assert await count(db) == (2, 2)
    assert await worker(db, settings, FakeGet({})).drain() == 2
    first, second = [await message(db, d["id"]) for d in result["deliveries"]]
    assert json.loads(await raw_of(db, first.id)) == [json.loads(batch)[0]]
    assert first.message_id == "<sp-order-1001@mail.example.com>"
    assert second.subject == "Can I change the address for #1002?"
    retried = await post(client, batch)
    assert retried.json() == {
        "status": "batch",
        "deliveries": [{"status": "duplicate"}, {"status": "duplicate"}],
    }
    assert await count(db) == (2, 2)


async def test_an_email_of_a_batch_that_came_alone_before_is_a_duplicate(
    client: httpx.AsyncClient, db: Database
) -> None:
    await post(client, payload("sparkpost/relay_single.json"))
    response = await post(client, payload("sparkpost/relay_batch.json"))
    assert [d["status"] for d in response.json()["deliveries"]] == ["duplicate", "received"]
    assert await count(db) == (2, 2)


async def test_a_batch_stored_in_part_is_refused_and_its_retry_stores_the_rest_once(
    client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IntakeWriter.store
    calls = 0

    async def second_call_fails(self: IntakeWriter, delivery: NewDelivery) -> Stored:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return await store(self, delivery)

    monkeypatch.setattr(IntakeWriter, "store", second_call_fails)
    response = await post(client, payload("sparkpost/relay_batch.json"))
    assert response.status_code == 503
    assert await count(db) == (1, 1)
    response = await post(client, payload("sparkpost/relay_batch.json"))
    assert [d["status"] for d in response.json()["deliveries"]] == ["duplicate", "received"]
    assert await count(db) == (2, 2)


async def test_a_base64_latin1_email_and_one_without_a_sender_are_parsed(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    latin = await post(client, payload("sparkpost/relay_base64_latin1.json"))
    nobody = await post(client, payload("sparkpost/relay_no_sender.json"))
    assert await worker(db, settings, FakeGet({})).drain() == 2
    assert (await message(db, latin.json()["id"])).subject == "Devolución del pedido #1001"
    stored = await message(db, nobody.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"


async def test_basic_credentials_are_accepted_and_a_wrong_token_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = payload("sparkpost/relay_single.json")
    assert (await post(client, body, "guessed-token")).status_code == 401
    assert (await post(client, body, None)).status_code == 401
    assert await count(db) == (0, 0)
    headers = {"content-type": "application/json"}
    response = await client.post(URL, content=body, headers=headers, auth=BASIC_AUTH)
    assert response.json()["status"] == "received"


async def test_other_events_and_the_test_post_are_acknowledged_and_never_stored(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, payload("sparkpost/message_events.json"))
    assert response.json() == {"status": "ignored", "event": "message_event.delivery"}
    response = await post(client, payload("sparkpost/test_ping.json"))
    assert response.json() == {"status": "ignored", "event": "empty batch"}
    assert await count(db) == (0, 0)


async def test_an_authentic_post_that_is_not_sparkpost_s_is_quarantined(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post(client, b'{"not": "a batch"}')
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable sparkpost payload" in (stored.status_reason or "")
