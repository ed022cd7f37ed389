"""The network side of inbound adapters (`app.mail.adapter.HttpGet`), on httpx.

One client, built on first use (most deployments never fetch anything) and shared by every
adapter: SNS signing certificates, content a provider sends by reference. Redirects are not
followed: an adapter vets the URL it asks for, and a redirect would bypass that.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from app.mail.adapter import HttpReply

MAX_FETCH_BYTES = 64 * 1024 * 1024
"""Refuse a fetched body larger than this (a reference to more than any email should be)."""


class HttpxGet:
    """`HttpGet` on a lazily built `httpx.AsyncClient`."""

    def __init__(self, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None):
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, url: str, headers: Mapping[str, str]) -> HttpReply:
        """GET `url`; OSError when nothing usable came back (network, timeout, too large)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=5.0),
                headers={"User-Agent": "shop-support-mail"},
                follow_redirects=False,
                transport=self._transport,
            )
        try:
            async with self._client.stream("GET", url, headers=dict(headers)) as response:
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_FETCH_BYTES:
                        raise OSError(f"{url}: response over {MAX_FETCH_BYTES} bytes")
                    chunks.append(chunk)
                return HttpReply(
                    status=response.status_code,
                    body=b"".join(chunks),
                    headers={k.lower(): v for k, v in response.headers.items()},
                )
        except httpx.HTTPError as exc:
            raise OSError(f"{url}: {type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client if one was built."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
