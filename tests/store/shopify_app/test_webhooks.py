"""`POST /webhooks/shopify` with Shopify's documented payloads and headers, signed as Shopify
signs them: the HMAC checks, replays, and what each topic does to the store's data."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select

from app.db.engine import Database
from app.db.models import AuditEntry, Message, Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyStatus, PrivacyTopic, ReplyStatus, StoreStatus
from app.db.stores import PrivacyRequest, ShopifyWebhook, Store
from app.main import create_app
from app.providers import Providers
from app.replies import outbox
from app.replies.senders import OutgoingEmail, SendResult
from app.state import AppState
from app.store.secrets import SecretBox
from tests.conftest import SettingsFactory
from tests.store.shopify_app.conftest import (
    APP_URL,
    SHOP,
    STORE_KEY,
    shopify_payload,
    webhook_headers,
)

ADDRESS = "Lena.Ortiz@Example.org"
PHONE = "+14165550199"
TOKEN = "shpua_webhook_test_token_0123456789"


def body_of(name: str) -> bytes:
    """A documented payload as Shopify sends it: compact JSON bytes."""
    return json.dumps(shopify_payload(name), separators=(",", ":")).encode()


async def post(
    http: httpx.AsyncClient,
    name: str,
    topic: str,
    webhook_id: str,
    *,
    body: bytes | None = None,
    **header_options: Any,
) -> httpx.Response:
    content = body if body is not None else body_of(name)
    headers = webhook_headers(content, topic=topic, webhook_id=webhook_id, **header_options)
    return await http.post("/webhooks/shopify", content=content, headers=headers)


@pytest.fixture
async def store_id(db: Database) -> int:
    """The shop, installed a day ago, with its sealed token."""
    box = SecretBox.from_setting(SecretStr(STORE_KEY))
    async with db.write(ALL_STORES) as session:
        store = Store(
            slug="mosaic-tiles",
            shop_domain=SHOP,
            name="Mosaic Tiles Co",
            support_email="help@mosaic-tiles.example",
            support_addresses=["help@mosaic-tiles.example"],
            status=StoreStatus.ACTIVE,
            installed_at=utcnow() - timedelta(days=1),
            scopes="read_orders,write_orders",
            credentials=box.seal({"admin_api_token": TOKEN}),
        )
        session.add(store)
        await session.flush()
        return store.id


async def load_store(db: Database, store_id: int) -> Store:
    async with db.read(ALL_STORES) as session:
        store = await session.get(Store, store_id)
        assert store is not None
        return store


async def privacy_requests(db: Database) -> list[PrivacyRequest]:
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(select(PrivacyRequest).order_by(PrivacyRequest.id))
        return list(rows.scalars())


async def count(db: Database, table: type[Any]) -> int:
    async with db.read(ALL_STORES) as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


# --- Authenticity --------------------------------------------------------------------------------


async def test_a_signed_uninstall_is_accepted(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    response = await post(http, "app_uninstalled", "app/uninstalled", "wh-1")

    assert response.status_code == 200
    assert response.json() == {"status": "uninstalled"}


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong-secret", "body-changed", "not-base64", "hex-digest", "empty"],
)
async def test_an_unauthentic_webhook_is_refused_and_changes_nothing(
    http: httpx.AsyncClient, db: Database, store_id: int, tamper: str
) -> None:
    body = body_of("app_uninstalled")
    headers = webhook_headers(body, topic="app/uninstalled", webhook_id="wh-forged")
    if tamper == "missing":
        del headers["X-Shopify-Hmac-Sha256"]
    elif tamper == "wrong-secret":
        headers = webhook_headers(
            body, topic="app/uninstalled", webhook_id="wh-forged", secret="shpss_guessed"
        )
    elif tamper == "body-changed":
        body = body.replace(b"Mosaic", b"Mosaik")
    elif tamper == "not-base64":
        headers["X-Shopify-Hmac-Sha256"] = "%%%not-base64%%%"
    elif tamper == "hex-digest":
        headers["X-Shopify-Hmac-Sha256"] = hashlib.sha256(body).hexdigest()
    else:
        headers["X-Shopify-Hmac-Sha256"] = ""

    response = await http.post("/webhooks/shopify", content=body, headers=headers)

    assert response.status_code == 401
    assert (await load_store(db, store_id)).status is StoreStatus.ACTIVE
    assert await count(db, ShopifyWebhook) == 0


async def test_a_body_past_the_cap_is_refused_unread(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    body = b'{"pad":"' + b"x" * (1024 * 1024) + b'"}'

    response = await post(http, "", "app/uninstalled", "wh-big", body=body)

    assert response.status_code == 413
    assert (await load_store(db, store_id)).status is StoreStatus.ACTIVE


async def test_without_a_client_secret_the_route_is_not_there(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    app = create_app(make_settings(), db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as client:
        response = await post(client, "shop_redact", "shop/redact", "wh-1")

    assert response.status_code == 404
    assert "SHOPIFY_CLIENT_SECRET" in response.json()["detail"]


async def test_a_replayed_delivery_is_done_once(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    first = await post(http, "customers_redact", "customers/redact", "wh-replay")
    again = await post(http, "customers_redact", "customers/redact", "wh-replay")

    assert first.json() == {"status": "recorded"}
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert len(await privacy_requests(db)) == 1
    assert await count(db, ShopifyWebhook) == 1


async def test_a_replayed_uninstall_after_a_reinstall_does_nothing(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    assert (await post(http, "app_uninstalled", "app/uninstalled", "wh-u")).status_code == 200
    async with db.write(ALL_STORES) as session:
        store = await session.get(Store, store_id)
        assert store is not None
        store.status = StoreStatus.ACTIVE
        store.installed_at = utcnow()

    again = await post(http, "app_uninstalled", "app/uninstalled", "wh-u")

    assert again.json() == {"status": "duplicate"}
    assert (await load_store(db, store_id)).status is StoreStatus.ACTIVE


# --- app/uninstalled -----------------------------------------------------------------------------


async def test_uninstall_stops_the_store_and_keeps_its_history(
    http: httpx.AsyncClient, app: FastAPI, db: Database, store_id: int
) -> None:
    services: AppState = app.state.services
    before = await services.stores.get(store_id)
    assert before is not None
    assert before.active

    response = await post(http, "app_uninstalled", "app/uninstalled", "wh-1")

    assert response.json() == {"status": "uninstalled"}
    store = await load_store(db, store_id)
    assert store.status is StoreStatus.UNINSTALLED
    assert store.uninstalled_at is not None
    assert store.credentials is None
    assert store.scopes == ""
    # The row and its settings stay (history is kept until shop/redact).
    assert (store.slug, store.support_email) == ("mosaic-tiles", "help@mosaic-tiles.example")
    after = await services.stores.get(store_id)
    assert after is not None
    assert not after.active
    async with db.read(ALL_STORES) as session:
        audit = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(a.action, a.store_id) for a in audit] == [("store.uninstalled", store_id)]


async def test_an_uninstall_triggered_before_the_latest_install_is_stale(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    # Shopify retries for hours with the original payload; this one predates the install.
    long_ago = (utcnow() - timedelta(days=2)).isoformat().replace("+00:00", "Z")

    response = await post(
        http, "app_uninstalled", "app/uninstalled", "wh-late", triggered_at=long_ago
    )

    assert response.status_code == 200
    assert response.json()["status"].startswith("stale")
    store = await load_store(db, store_id)
    assert store.status is StoreStatus.ACTIVE
    assert store.credentials is not None


async def test_an_uninstalled_store_sends_nothing_it_had_queued(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    scoped = db.for_store(store_id)
    async with scoped.write() as session:
        message = Message(
            provider="sendgrid",
            payload_format="raw",
            content_type="message/rfc822",
            raw=b"raw",
            raw_size=3,
            checksum="d" * 64,
            message_id="<q-1@example.org>",
            has_synthetic_message_id=False,
            status="answered",
            from_address="lena.ortiz@example.org",
            subject="Tiles arrived cracked",
        )
        session.add(message)
        await session.flush()
        reply = Reply(
            message_id=message.id,
            idempotency_key=f"auto:{message.id}",
            from_address="help@mosaic-tiles.example",
            to_address="lena.ortiz@example.org",
            subject="Re: Tiles arrived cracked",
            text_body="We are sorry to hear that.",
            html_body="<p>We are sorry to hear that.</p>",
            is_automated=True,
            status=ReplyStatus.QUEUED,
            attempts=0,
        )
        session.add(reply)
        await session.flush()
        reply_pk = reply.id

    sent: list[OutgoingEmail] = []

    class Recording:
        kind = "recording"

        async def send(self, email: OutgoingEmail) -> SendResult:
            sent.append(email)
            return SendResult(provider_message_id="x")

    assert (await post(http, "app_uninstalled", "app/uninstalled", "wh-1")).status_code == 200
    status = await outbox.deliver(
        reply_pk,
        db=scoped,
        mail=Recording(),
        sender=outbox.ReplyFrom(address="help@mosaic-tiles.example", name="Mosaic"),
        max_attempts=3,
    )

    assert status is ReplyStatus.DEAD
    assert sent == []
    async with db.read(ALL_STORES) as session:
        stored = await session.get(Reply, reply_pk)
        assert stored is not None
        assert stored.last_error == "not sent: the store is uninstalled"
        # The customer's mail and the reply are history: kept for staff.
        assert await session.get(Message, stored.message_id) is not None


# --- Privacy webhooks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("customers_data_request", PrivacyTopic.DATA_REQUEST),
        ("customers_redact", PrivacyTopic.CUSTOMER_REDACT),
    ],
)
async def test_a_customer_privacy_webhook_is_recorded_without_the_address(
    http: httpx.AsyncClient, db: Database, store_id: int, name: str, topic: PrivacyTopic
) -> None:
    response = await post(http, name, topic.value, f"wh-{name}")

    assert response.status_code == 200
    assert response.json() == {"status": "recorded"}
    [request] = await privacy_requests(db)
    assert request.store_id == store_id
    assert request.topic is topic
    assert request.status is PrivacyStatus.PENDING
    assert request.webhook_id == f"wh-{name}"
    assert request.shopify_customer_id == "207119551"
    assert request.customer_email_hash == hashlib.sha256(b"lena.ortiz@example.org").hexdigest()
    assert abs((request.due_at - utcnow()).total_seconds()) < 60
    expected = shopify_payload(name)
    expected["customer"] = {"id": 207119551}
    assert request.request == expected
    # Neither the address nor the phone number is stored anywhere by the webhook.
    async with db.read(ALL_STORES) as session:
        stored = [
            *(await session.execute(select(PrivacyRequest))).scalars(),
            *(await session.execute(select(ShopifyWebhook))).scalars(),
            *(await session.execute(select(AuditEntry))).scalars(),
        ]
    dumped = repr([vars(row) for row in stored]).lower()
    assert ADDRESS.lower() not in dumped
    assert PHONE not in dumped
    async with db.read(ALL_STORES) as session:
        audit = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(a.action, a.target_id, a.store_id) for a in audit] == [
        ("privacy.requested", request.id, store_id)
    ]


async def test_shop_redact_is_due_48_hours_after_the_uninstall(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    await post(http, "app_uninstalled", "app/uninstalled", "wh-1")
    uninstalled_at = (await load_store(db, store_id)).uninstalled_at
    assert uninstalled_at is not None

    response = await post(http, "shop_redact", "shop/redact", "wh-2")

    assert response.json() == {"status": "recorded"}
    [request] = await privacy_requests(db)
    assert request.topic is PrivacyTopic.SHOP_REDACT
    assert request.due_at == uninstalled_at + timedelta(hours=48)
    assert request.shopify_customer_id is None
    assert request.customer_email_hash is None
    assert request.request == shopify_payload("shop_redact")


async def test_shop_redact_long_after_the_uninstall_is_due_now(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    async with db.write(ALL_STORES) as session:
        store = await session.get(Store, store_id)
        assert store is not None
        store.status = StoreStatus.UNINSTALLED
        store.uninstalled_at = utcnow() - timedelta(days=3)

    await post(http, "shop_redact", "shop/redact", "wh-3")

    [request] = await privacy_requests(db)
    assert abs((request.due_at - utcnow()).total_seconds()) < 60


async def test_a_late_privacy_webhook_is_still_recorded(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    three_days_ago = (utcnow() - timedelta(days=3)).isoformat()

    response = await post(
        http, "customers_redact", "customers/redact", "wh-late", triggered_at=three_days_ago
    )

    assert response.json() == {"status": "recorded"}
    assert len(await privacy_requests(db)) == 1


# --- Deliveries nothing is done for --------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "shop", "body", "reason"),
    [
        ("orders/create", SHOP, b'{"id":1}', "topic not handled"),
        (
            "shop/redact",
            "unknown-shop.myshopify.com",
            b'{"shop_id":2,"shop_domain":"unknown-shop.myshopify.com"}',
            "no store for this shop",
        ),
        ("customers/redact", "evil.example", None, "no shop domain"),
        ("customers/redact", SHOP, b"not json", "body is not a JSON object"),
        (
            "shop/redact",
            SHOP,
            b'{"shop_id":1,"shop_domain":"another-shop.myshopify.com"}',
            "payload names another shop",
        ),
    ],
    ids=["unknown-topic", "unknown-shop", "bad-shop", "not-json", "other-shops-payload"],
)
async def test_an_authentic_delivery_nothing_is_done_for_is_answered_200(
    http: httpx.AsyncClient,
    db: Database,
    store_id: int,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    shop: str,
    body: bytes | None,
    reason: str,
) -> None:
    content = body if body is not None else body_of("customers_redact")

    with caplog.at_level(logging.INFO, logger="app.store.shopify_app.webhooks"):
        response = await post(http, "", topic, "wh-x", body=content, shop=shop)

    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert [r.__dict__.get("reason") for r in caplog.records] == [reason]
    assert await privacy_requests(db) == []
    assert await count(db, ShopifyWebhook) == 0
    assert (await load_store(db, store_id)).status is StoreStatus.ACTIVE


async def test_an_uninstall_of_a_redacted_store_leaves_it_redacted(
    http: httpx.AsyncClient, db: Database, store_id: int
) -> None:
    async with db.write(ALL_STORES) as session:
        store = await session.get(Store, store_id)
        assert store is not None
        store.status = StoreStatus.REDACTED

    response = await post(http, "app_uninstalled", "app/uninstalled", "wh-after-redact")

    assert response.json() == {"status": "already redacted"}
    assert (await load_store(db, store_id)).status is StoreStatus.REDACTED
