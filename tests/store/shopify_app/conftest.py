"""Fixtures for the Shopify app: settings that make this deployment an app, signed requests.

Shopify's requests are signed here the way its documentation describes, with the standard
library only, so the app's own signing code is checked against the spec, not against itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from app.store.secrets import new_key
from tests.builders import PAYLOADS
from tests.conftest import SettingsFactory

CLIENT_ID = "0f3b8e1c9a7d4e2b"
CLIENT_SECRET = "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"
APP_URL = "https://support.example"
SHOP = "mosaic-tiles.myshopify.com"
TOKEN_URL = f"https://{SHOP}/admin/oauth/access_token"
GRAPHQL_URL = f"https://{SHOP}/admin/api/2026-10/graphql.json"
STORE_KEY = new_key()
APP_SETTINGS: dict[str, Any] = {
    "SHOPIFY_CLIENT_ID": CLIENT_ID,
    "SHOPIFY_CLIENT_SECRET": CLIENT_SECRET,
    "SHOPIFY_APP_URL": APP_URL,
    "STORE_SECRET_KEYS": STORE_KEY,
}


def shopify_payload(name: str) -> dict[str, Any]:
    """One of the documented payloads kept in tests/payloads/shopify_app/."""
    data: dict[str, Any] = json.loads((PAYLOADS / "shopify_app" / f"{name}.json").read_text())
    return data


def signed_query(params: dict[str, str], secret: str = CLIENT_SECRET) -> str:
    """A query string as Shopify sends it: the parameters plus `hmac` over the sorted rest."""
    message = "&".join(f"{name}={params[name]}" for name in sorted(params))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def now_stamp(offset: float = 0) -> str:
    return str(int(time.time() + offset))


def webhook_headers(
    body: bytes,
    *,
    topic: str,
    webhook_id: str,
    shop: str = SHOP,
    secret: str = CLIENT_SECRET,
    triggered_at: str = "2026-12-05T08:00:00.123456789Z",
) -> dict[str, str]:
    """The headers Shopify sends with a webhook, `X-Shopify-Hmac-Sha256` over the raw body."""
    signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signature.decode(),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": triggered_at,
        "X-Shopify-Event-Id": f"event-{webhook_id}",
    }


@pytest.fixture
def app_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(**APP_SETTINGS)


@pytest.fixture
def app(app_settings: Settings, db: Database, providers: Providers) -> FastAPI:
    return create_app(app_settings, db=db, providers=providers)


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=APP_URL) as client:
        yield client
