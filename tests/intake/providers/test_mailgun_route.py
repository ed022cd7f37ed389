"""`POST /webhooks/mailgun/inbound` through the real app, then the worker."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.config import Settings
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from tests.builders import payload
from tests.conftest import BASIC_AUTH
from tests.intake.test_provider_route import FakeGet, count, message, worker
from tests.mail.providers.test_mailgun import (
    KEY,
    Post,
    fixture,
    fixture_post,
    mailgun_post,
    raw_post,
    sign,
)

URL = "/webhooks/mailgun/inbound"
SettingsFactory = Callable[..., Settings]


def key_only(make_settings: SettingsFactory, **overrides: Any) -> Settings:
    """The signing key and nothing else: no Basic credentials."""
    values: dict[str, Any] = {
        "MAILGUN_SIGNING_KEY": KEY,
        "INBOUND_BASIC_AUTH_USER": None,
        "INBOUND_BASIC_AUTH_PASSWORD": None,
    }
    return make_settings(**(values | overrides))


@asynccontextmanager
async def app_client(
    settings: Settings, db: Database, providers: Providers
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def send(
    client: httpx.AsyncClient, post: Post, auth: tuple[str, str] | None = None
) -> httpx.Response:
    headers = {"content-type": post.content_type}
    if auth is None:
        return await client.post(URL, content=post.body, headers=headers)
    return await client.post(URL, content=post.body, headers=headers, auth=auth)


def now() -> int:
    return int(time.time())


async def test_a_signed_post_is_stored_once_and_its_verified_sender_answered(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings)
    async with app_client(settings, db, providers) as client:
        response = await send(client, fixture_post("parsed_order.json", timestamp=now()))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "received"
        # A retry is signed again, with a new token: the same email all the same.
        again = await send(client, fixture_post("parsed_order.json", timestamp=now()))
        assert again.json() == {"status": "duplicate"}
    assert await count(db) == (1, 1)
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("mailgun", "mailgun-parsed")
    assert stored.message_id == "<CAMg-order-1001@mail.example.com>"
    assert stored.from_address == "sara@example.com"
    assert stored.sender_verified
    assert stored.identity_reason == "dkim_pass_aligned:example.com"
    assert stored.status in ("drafted", "answered")


async def test_a_raw_mime_post_in_a_legacy_charset_is_parsed_from_the_raw_message(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings)
    async with app_client(settings, db, providers) as client:
        post = raw_post(payload("mailgun/mime_latin1.eml"), timestamp=now(), urlencoded=True)
        response = await send(client, post)
    assert response.json()["status"] == "received"
    assert await worker(db, settings, FakeGet({})).drain() == 1
    stored = await message(db, response.json()["id"])
    assert stored.payload_format == "mailgun-mime"
    assert stored.subject == "Devolución del pedido #1001"
    assert stored.from_name == "María García"


async def test_a_post_without_a_sender_is_stored_and_never_answered(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings)
    fields = fixture("parsed_order.json")["fields"]
    del fields["from"]
    fields["message-headers"] = [h for h in fields["message-headers"] if h[0] != "From"]
    async with app_client(settings, db, providers) as client:
        response = await send(client, _signed(fields))
    assert response.json()["status"] == "received"
    await worker(db, settings, FakeGet({})).drain()
    stored = await message(db, response.json()["id"])
    assert stored.from_address is None
    assert stored.status != "answered"


def _signed(fields: dict[str, Any]) -> Post:
    return mailgun_post(fields, timestamp=now())


async def test_a_forged_stale_or_unsigned_post_is_refused_and_nothing_is_stored(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings)
    async with app_client(settings, db, providers) as client:
        forged = fixture_post("parsed_order.json", timestamp=now(), key="guessed")
        assert (await send(client, forged)).status_code == 401
        stale = fixture_post("parsed_order.json", timestamp=now() - 3600)
        assert (await send(client, stale)).status_code == 401
        form = "application/x-www-form-urlencoded"
        unsigned = Post(b"recipient=support%40parse.shop.test&body-plain=hi", form)
        assert (await send(client, unsigned)).status_code == 401
    assert await count(db) == (0, 0)


async def test_with_basic_auth_configured_the_route_url_must_carry_it_as_well(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = make_settings(MAILGUN_SIGNING_KEY=KEY)
    async with app_client(settings, db, providers) as client:
        signed = fixture_post("parsed_order.json", timestamp=now())
        assert (await send(client, signed)).status_code == 401
        assert (await send(client, signed, ("sendgrid", "wrong-password"))).status_code == 401
        forged = fixture_post("parsed_order.json", timestamp=now(), key="guessed")
        assert (await send(client, forged, BASIC_AUTH)).status_code == 401
        assert (await send(client, signed, BASIC_AUTH)).json()["status"] == "received"


async def test_tracking_events_and_store_notifications_are_acknowledged_never_stored(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings)
    event = fixture("tracking_clicked.json")
    token = "e" * 50
    event["signature"] = {"timestamp": str(now()), "token": token, "signature": sign(now(), token)}
    async with app_client(settings, db, providers) as client:
        response = await send(client, Post(json.dumps(event).encode(), "application/json"))
        assert response.json() == {"status": "ignored", "event": "event clicked"}
        response = await send(client, fixture_post("store_notify.json", timestamp=now()))
        assert response.json() == {"status": "ignored", "event": "stored message notification"}
        response = await send(client, fixture_post("legacy_delivered.json", timestamp=now()))
        assert response.json() == {"status": "ignored", "event": "event delivered"}
    assert await count(db) == (0, 0)


async def test_an_oversized_post_is_refused_unread_unless_basic_auth_proved_the_sender(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    fields = dict(fixture("parsed_order.json")["fields"], **{"body-plain": "x" * 5000})
    async with app_client(key_only(make_settings, INBOUND_MAX_BODY_BYTES=2048), db, providers) as c:
        assert (await send(c, _signed(fields))).status_code == 413
    assert await count(db) == (0, 0)
    settings = make_settings(MAILGUN_SIGNING_KEY=KEY, INBOUND_MAX_BODY_BYTES=2048)
    async with app_client(settings, db, providers) as client:
        response = await send(client, _signed(fields), BASIC_AUTH)
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "over INBOUND_MAX_BODY_BYTES" in (stored.status_reason or "")


async def test_the_route_refuses_everything_while_mailgun_is_not_configured(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    # Another provider's secret is set, so the service starts; Mailgun's route stays shut.
    settings = key_only(make_settings, MAILGUN_SIGNING_KEY=None, MAILERSEND_SIGNING_SECRET="s")
    async with app_client(settings, db, providers) as client:
        response = await send(client, fixture_post("parsed_order.json", timestamp=now()))
    assert response.status_code == 401
    assert await count(db) == (0, 0)


async def test_a_signed_post_of_too_many_parts_is_quarantined_not_refused(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    settings = key_only(make_settings, INBOUND_MAX_PARTS=5)
    async with app_client(settings, db, providers) as client:
        response = await send(client, fixture_post("parsed_order.json", timestamp=now()))
    assert response.status_code == 200
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "more than 5 parts" in (stored.status_reason or "")
