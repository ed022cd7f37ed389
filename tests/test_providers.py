"""Which store the service talks to, chosen from settings."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.providers import build_providers, policy_opening
from app.store.shopify import ShopifyShop

AUTH: dict[str, Any] = {
    "INBOUND_BASIC_AUTH_USER": "sendgrid",
    "INBOUND_BASIC_AUTH_PASSWORD": "a-long-random-secret",
}


def build(**values: Any) -> Settings:
    merged: Any = {**AUTH, **values}
    return Settings(_env_file=None, **merged)


async def test_without_credentials_the_demo_store_runs() -> None:
    from app.store.demo import DemoShop

    providers = build_providers(build())
    assert isinstance(providers.shop, DemoShop)
    await providers.aclose()


async def test_with_a_token_the_shopify_store_runs() -> None:
    settings = build(SHOPIFY_SHOP_DOMAIN="demo-shop.myshopify.com", SHOPIFY_ACCESS_TOKEN="shpat_x")
    assert settings.shopify_endpoint == (
        "https://demo-shop.myshopify.com/admin/api/2026-10/graphql.json"
    )
    providers = build_providers(settings)
    assert isinstance(providers.shop, ShopifyShop)
    await providers.aclose()


def test_the_endpoint_override_wins_and_gives_the_token_url() -> None:
    settings = build(
        SHOPIFY_API_BASE_URL="http://127.0.0.1:9999/admin/api/2026-10/graphql.json",
        SHOPIFY_CLIENT_ID="id",
        SHOPIFY_CLIENT_SECRET="secret",
    )
    assert settings.shopify_endpoint == "http://127.0.0.1:9999/admin/api/2026-10/graphql.json"
    assert settings.shopify_token_url == "http://127.0.0.1:9999/admin/oauth/access_token"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"SHOPIFY_ACCESS_TOKEN": "shpat_x"}, "need SHOPIFY_SHOP_DOMAIN"),
        ({"SHOPIFY_SHOP_DOMAIN": "x.myshopify.com", "SHOPIFY_CLIENT_ID": "id"}, "set both"),
        (
            {"SHOPIFY_SHOP_DOMAIN": "https://x.example.com/", "SHOPIFY_ACCESS_TOKEN": "t"},
            "look like",
        ),
    ],
)
def test_half_configured_shopify_fails_at_startup(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build(**values)


async def test_the_policy_summary_carries_the_rules_not_the_headings() -> None:
    providers = build_providers(build())
    summary = await providers.policy_summary()
    assert "within 30 days of delivery" in summary
    assert "Returns Changed" not in summary
    assert "leave our warehouse" in summary


def test_policy_opening_skips_headings_and_list_numbers() -> None:
    rules = "You may return items within 14 days. Refunds take 5 days."
    text = f"Returns\n\n{rules}\n\n 1. Write to us."
    assert policy_opening(text, limit=60) == rules
    assert policy_opening(text, limit=40) == "You may return items within 14 days."
