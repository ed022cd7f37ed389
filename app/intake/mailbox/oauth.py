"""How the mailbox signs in: a password (or app password), or OAuth2 access tokens (XOAUTH2).

OAuth2 access tokens come from the provider's token endpoint by the refresh-token grant (Google,
Microsoft 365), over httpx; each is kept until shortly before it expires. A provider that
rotates refresh tokens (Microsoft) returns a new one with each access token: it is used from
then on, for as long as the process runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from app.config import Settings

EARLY_SECONDS = 120.0
"""A token is refreshed this long before it expires, so none expires in the middle of a login."""
DEFAULT_LIFETIME_SECONDS = 3600.0


class TokenUnavailable(Exception):
    """No access token could be had (the endpoint is down, or refused the refresh token)."""


class OAuthRefresh:
    """Access tokens by the refresh-token grant, cached until shortly before they expire."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | None,
        refresh_token: SecretStr,
        scope: str | None = None,
    ) -> None:
        self._client = client
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token.get_secret_value()
        self._scope = scope
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, fresh: bool = False) -> str:
        """A valid access token; `fresh` asks the endpoint for a new one even if one is cached."""
        async with self._lock:
            if fresh or self._token is None or time.monotonic() >= self._expires_at:
                await self._refresh()
            assert self._token is not None
            return self._token

    async def _refresh(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self._client_id,
        }
        if self._client_secret is not None:
            form["client_secret"] = self._client_secret.get_secret_value()
        if self._scope:
            form["scope"] = self._scope
        try:
            response = await self._client.post(self._token_url, data=form)
        except httpx.HTTPError as exc:
            raise TokenUnavailable(f"token endpoint unreachable: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            # The OAuth2 error code only (RFC 6749 §5.2): never the body, which may echo secrets.
            error = body.get("error") if isinstance(body, dict) else None
            raise TokenUnavailable(
                f"token endpoint answered {response.status_code}"
                + (f" ({str(error)[:64]})" if isinstance(error, str) else "")
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenUnavailable("token endpoint gave no access_token")
        lifetime = body.get("expires_in")
        seconds = (
            float(lifetime)
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else DEFAULT_LIFETIME_SECONDS
        )
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated
        self._token = token
        self._expires_at = time.monotonic() + max(0.0, seconds - EARLY_SECONDS)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who signs in, and with what: a password, or OAuth2 tokens."""

    user: str
    password: SecretStr | None = None
    oauth: OAuthRefresh | None = None


def credentials_from(settings: Settings, client: httpx.AsyncClient | None) -> Credentials:
    """The mailbox's credentials from MAILBOX_USER and MAILBOX_PASSWORD or MAILBOX_OAUTH2_*.

    `client` makes the token requests (needed with OAuth2; the caller closes it).
    """
    user = settings.MAILBOX_USER or ""
    refresh_token = settings.MAILBOX_OAUTH2_REFRESH_TOKEN
    if refresh_token is None:
        return Credentials(user=user, password=settings.MAILBOX_PASSWORD)
    if client is None:
        raise ValueError("OAuth2 needs an HTTP client for the token endpoint")
    return Credentials(
        user=user,
        oauth=OAuthRefresh(
            client=client,
            token_url=settings.MAILBOX_OAUTH2_TOKEN_URL or "",
            client_id=settings.MAILBOX_OAUTH2_CLIENT_ID or "",
            client_secret=settings.MAILBOX_OAUTH2_CLIENT_SECRET,
            refresh_token=refresh_token,
            scope=settings.MAILBOX_OAUTH2_SCOPE,
        ),
    )
