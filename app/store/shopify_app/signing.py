"""The checks on what Shopify sends, and the signed OAuth state cookie: pure functions, no I/O.

Shopify signs two things with the app's client secret (`SHOPIFY_CLIENT_SECRET`):

- the query string of every redirect to the app (install and OAuth callback): `hmac` is the hex
  HMAC-SHA256 of the other parameters, sorted by name, joined as `name=value` with `&`, the
  delimiters inside names and values escaped (`%` as `%25`, `&` as `%26`, and `=` in a name as
  `%3D`) as Shopify's own libraries do;
- the raw body of every webhook: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of it.

Both are compared in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
"""A shop's permanent domain. Nothing else is ever contacted with a code or a token."""

STATE_COOKIE = "shopify_oauth_state"
STATE_COOKIE_SECONDS = 600
"""How long an install may take between the redirect to Shopify and the callback."""
QUERY_MAX_AGE_SECONDS = 600
"""A signed query (`timestamp`) older than this, or this far in the future, is refused."""


def shop_domain(value: str | None) -> str | None:
    """The shop's `name.myshopify.com` domain, lower-cased, or None when it is anything else."""
    if not value:
        return None
    candidate = value.strip().lower()
    return candidate if SHOP_DOMAIN.fullmatch(candidate) else None


def _escape_pair(name: str, value: str) -> str:
    # Escaping the delimiters keeps `a=1&b=2` as one value from signing the same text as two
    # parameters, so no parameter can be smuggled into another's signature.
    name = name.replace("%", "%25").replace("=", "%3D")
    value = value.replace("%", "%25")
    return f"{name}={value}".replace("&", "%26")


def query_message(params: Iterable[tuple[str, str]]) -> str:
    """The text Shopify signs for a query: every parameter but `hmac`, sorted and joined."""
    return "&".join(sorted(_escape_pair(name, value) for name, value in params if name != "hmac"))


def query_signature(params: Iterable[tuple[str, str]], secret: str) -> str:
    """The hex HMAC-SHA256 Shopify puts in `hmac` for these (decoded) query parameters."""
    message = query_message(params).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def query_is_authentic(params: list[tuple[str, str]], secret: str) -> bool:
    """Whether the query carries exactly one `hmac` and it is Shopify's signature of the rest."""
    given = [value for name, value in params if name == "hmac"]
    if len(given) != 1:
        return False
    expected = query_signature(params, secret)
    return hmac.compare_digest(expected.encode("ascii"), given[0].strip().lower().encode("utf-8"))


def query_is_fresh(timestamp: str | None, *, now: float | None = None) -> bool:
    """Whether the signed `timestamp` (Unix seconds) is within `QUERY_MAX_AGE_SECONDS` of now."""
    if not timestamp or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    return abs(current - int(timestamp)) <= QUERY_MAX_AGE_SECONDS


def body_signature(body: bytes, secret: str) -> str:
    """The base64 HMAC-SHA256 Shopify puts in `X-Shopify-Hmac-Sha256` for this raw body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def body_is_authentic(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `X-Shopify-Hmac-Sha256` is the signature of exactly this raw body."""
    if not header:
        return False
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True, slots=True)
class InstallState:
    """What the state cookie holds: the shop being installed and the nonce sent to Shopify."""

    shop: str
    nonce: str


def _cookie_key(secret: str) -> bytes:
    # A key of its own, derived from the client secret, so a cookie signature can never be
    # mistaken for (or used as) any signature Shopify makes with the secret itself.
    return hmac.new(secret.encode("utf-8"), b"shop-support-mail oauth state", "sha256").digest()


def _cookie_mac(secret: str, payload: str) -> str:
    return hmac.new(_cookie_key(secret), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def new_state(shop: str) -> InstallState:
    """A fresh random nonce for one install of `shop`."""
    return InstallState(shop=shop, nonce=secrets.token_urlsafe(24))


def seal_state(state: InstallState, secret: str, *, now: float | None = None) -> str:
    """The cookie value: shop, nonce and expiry, signed so that nobody else can make one."""
    expires = int((time.time() if now is None else now) + STATE_COOKIE_SECONDS)
    payload = f"{state.shop}|{state.nonce}|{expires}"
    return f"{payload}|{_cookie_mac(secret, payload)}"


def open_state(value: str | None, secret: str, *, now: float | None = None) -> InstallState | None:
    """The state a cookie holds, or None if it is missing, forged, malformed or expired."""
    if not value:
        return None
    parts = value.split("|")
    if len(parts) != 4:
        return None
    shop, nonce, expires, mac = parts
    payload = f"{shop}|{nonce}|{expires}"
    if not hmac.compare_digest(_cookie_mac(secret, payload).encode(), mac.encode("utf-8")):
        return None
    if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
        return None
    return InstallState(shop=shop, nonce=nonce)


def state_matches(cookie: InstallState | None, shop: str, nonce: str | None) -> bool:
    """Whether the callback's `state` and shop are the ones this browser started installing."""
    if cookie is None or not nonce:
        return False
    same_nonce = hmac.compare_digest(cookie.nonce.encode("utf-8"), nonce.encode("utf-8"))
    return same_nonce and cookie.shop == shop
