"""Where the Admin API access token comes from: a static token, or the client-credentials grant."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from app.store.protocol import ShopAuthError, ShopUnavailable

TOKEN_REFRESH_MARGIN_SECONDS = 300
"""A client-credentials token is fetched again this long before Shopify says it expires."""


class TokenProvider(Protocol):
    """Where the Admin API access token comes from."""

    async def token(self) -> str:
        """Return a valid access token."""
        ...

    def invalidate(self) -> bool:
        """Forget the token after a 401; True if a fresh one can be fetched."""
        ...


@dataclass
class StaticToken:
    """An Admin API access token from settings (legacy custom apps; it does not expire)."""

    value: str

    async def token(self) -> str:
        return self.value

    def invalidate(self) -> bool:
        return False


class ClientCredentialsToken:
    """The client-credentials grant: id + secret for a token, cached until shortly before expiry."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._http = http
        self._clock = clock
        self._value: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._value is None or self._clock() >= self._expires_at:
                await self._fetch()
            assert self._value is not None
            return self._value

    def invalidate(self) -> bool:
        self._value = None
        return True

    async def _fetch(self) -> None:
        try:
            response = await self._http.post(
                self._token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
            )
        except httpx.TransportError as exc:
            raise ShopUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise ShopUnavailable(f"token endpoint answered HTTP {response.status_code}")
        if response.status_code != 200:
            # 400/401/403 refuse the credentials; 404 and the like mean a wrong shop or URL.
            raise ShopAuthError(f"client credentials refused (HTTP {response.status_code})")
        try:
            body = response.json()
            value = body["access_token"]
            expires_in = float(body.get("expires_in") or 86_400)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ShopUnavailable("token endpoint answered without a token") from exc
        if not isinstance(value, str) or not value:
            raise ShopUnavailable("token endpoint answered without a token")
        self._value = value
        self._expires_at = self._clock() + max(0.0, expires_in - TOKEN_REFRESH_MARGIN_SECONDS)
