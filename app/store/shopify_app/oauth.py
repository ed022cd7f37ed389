"""Shopify's side of an install: the authorize URL, the token exchange, the calls after it.

After the code-for-token exchange come two Admin GraphQL calls: the shop's name, and the
`app/uninstalled` subscription.

Tokens are passed in and out, never logged: errors name the HTTP status or the exception type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

logger = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = (
    "read_content",
    "read_customers",
    "read_fulfillments",
    "read_legal_policies",
    "read_orders",
    "read_products",
    "read_returns",
    "write_orders",
    "write_returns",
)
"""The Admin API access scopes the app asks for, and needs, in one place.

What the tools use (app/store/shopify/queries.py): orders with their fulfillments and refunds,
customers, products, the shop's policies (`shopPolicies` needs `read_legal_policies`), the
online store's pages and blog articles for store knowledge (`read_content`), and the
changes staff approve: cancel, refund and address change (`write_orders`), return requests
(`write_returns`).
"""

SHOP_QUERY = "query AppInstallShop { shop { name email } }"
WEBHOOK_SUBSCRIPTION_MUTATION = """
mutation AppUninstalledSubscription($topic: WebhookSubscriptionTopic!,
    $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


class InstallRefused(Exception):
    """Shopify did not give us a usable token (the message is safe to show and log)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token exchange answered; `access_token` is a secret."""

    access_token: str
    scopes: frozenset[str]
    extra: dict[str, str]
    """Other secrets Shopify may add (an expiring token's `refresh_token`), kept sealed too."""


def authorize_url(*, shop: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the merchant's browser goes to approve the app (an offline, per-shop token)."""
    query = urlencode(
        {
            "client_id": client_id,
            "scope": ",".join(SCOPES),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"https://{shop}/admin/oauth/authorize?{query}"


def granted(scope: str) -> frozenset[str]:
    """The scopes a grant's `scope` string gives, with the read scopes its write scopes imply.

    Shopify lists `write_orders` alone when both were asked for: a write scope includes reading.
    """
    named = {item.strip() for item in scope.split(",") if item.strip()}
    implied = {"read_" + item[len("write_") :] for item in named if item.startswith("write_")}
    return frozenset(named | implied)


def missing_scopes(scopes: frozenset[str]) -> list[str]:
    """The required scopes a grant lacks."""
    return [scope for scope in SCOPES if scope not in scopes]


async def exchange_code(
    http: httpx.AsyncClient, *, shop: str, client_id: str, client_secret: str, code: str
) -> Grant:
    """Trade the callback's one-time `code` for the shop's access token."""
    try:
        response = await http.post(
            f"https://{shop}/admin/oauth/access_token",
            json={"client_id": client_id, "client_secret": client_secret, "code": code},
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise InstallRefused(f"Shopify could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise InstallRefused(
            f"Shopify refused the authorization code (HTTP {response.status_code})"
        )
    try:
        body: Any = response.json()
    except ValueError:
        raise InstallRefused("Shopify answered the token request without JSON") from None
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise InstallRefused("Shopify answered the token request without a token")
    scope = body.get("scope")
    extra = {
        name: str(body[name])
        for name in ("refresh_token", "expires_in", "refresh_token_expires_in")
        if body.get(name) is not None
    }
    return Grant(
        access_token=token,
        scopes=granted(scope if isinstance(scope, str) else ""),
        extra=extra,
    )


async def admin_graphql(
    http: httpx.AsyncClient,
    *,
    endpoint: str,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One Admin GraphQL call; its `data`, or an exception (never carrying the token)."""
    response = await http.post(
        endpoint,
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
    )
    if response.status_code != 200:
        raise InstallRefused(f"Shopify's Admin API answered HTTP {response.status_code}")
    body: Any = response.json()
    if not isinstance(body, dict) or body.get("errors") or not isinstance(body.get("data"), dict):
        raise InstallRefused("Shopify's Admin API answered with errors")
    data: dict[str, Any] = body["data"]
    return data


async def shop_name(http: httpx.AsyncClient, *, endpoint: str, token: str) -> str | None:
    """The shop's display name, or None if Shopify did not tell (the install goes on)."""
    try:
        data = await admin_graphql(http, endpoint=endpoint, token=token, query=SHOP_QUERY)
    except (httpx.HTTPError, ValueError, InstallRefused) as exc:
        logger.warning("shop name not fetched", extra={"error": type(exc).__name__})
        return None
    name = (data.get("shop") or {}).get("name")
    return name.strip()[:200] or None if isinstance(name, str) else None


async def subscribe_uninstalled(
    http: httpx.AsyncClient, *, endpoint: str, token: str, uri: str
) -> bool:
    """Ask Shopify to send `app/uninstalled` to `uri`; False (logged) if that failed.

    Best effort: the install stands without it, and a reinstall asks again. Shopify answers a
    userError when the same subscription exists already, which is as good as success.
    """
    try:
        data = await admin_graphql(
            http,
            endpoint=endpoint,
            token=token,
            query=WEBHOOK_SUBSCRIPTION_MUTATION,
            variables={"topic": "APP_UNINSTALLED", "webhookSubscription": {"uri": uri}},
        )
    except (httpx.HTTPError, ValueError, InstallRefused) as exc:
        logger.warning("app/uninstalled subscription failed", extra={"error": type(exc).__name__})
        return False
    result = data.get("webhookSubscriptionCreate") or {}
    errors = result.get("userErrors") or []
    if errors:
        messages = [str(error.get("message", ""))[:200] for error in errors]
        logger.warning("app/uninstalled subscription refused", extra={"errors": messages})
        return False
    return True
