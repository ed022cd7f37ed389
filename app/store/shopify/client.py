"""Transport to the Admin GraphQL API: auth header, timeouts, bounded retries and pacing.

Throttling and outages are retried within bounds (429, 5xx, HTTP 200 carrying THROTTLED,
timeouts), waiting on `Retry-After` or on the cost and restore rate in `extensions.cost`; what
still fails becomes `ShopUnavailable`, never an empty answer. Between requests, `CostPacer`
waits for the leaky bucket the last answer reported, so a busy shop is not throttled at all.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from app.circuit import CircuitBreaker, CircuitOpen
from app.store.protocol import ShopAuthError, ShopQueryError, ShopUnavailable
from app.store.shopify.auth import TokenProvider

MAX_WAIT_SECONDS = 10.0
DEFAULT_QUERY_COST = 50.0
"""What a query not seen before is assumed to cost (the support queries cost 2 to 52)."""


class _Retry(Exception):
    """A transient failure, with the wait the server asked for (or that its cost data implies)."""

    def __init__(self, reason: str, delay: float | None) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass
class CostPacer:
    """Paces requests by the leaky bucket that every Admin API response reports.

    Each answer carries `extensions.cost.throttleStatus` (points available, restore rate), the
    same figures for every process sharing the app's bucket. Before a query, the points it
    cost last time are compared with what should have been restored since; if the bucket is
    short, the request waits instead of being throttled.
    """

    clock: Callable[[], float] = time.monotonic
    available: float | None = None
    restore_rate: float = 0.0
    maximum: float = 0.0
    seen_at: float = 0.0
    costs: dict[str, float] = field(default_factory=dict)

    def wait_needed(self, query: str) -> float:
        """Seconds to wait before sending `query` (0 when the bucket should hold its cost)."""
        if self.available is None or self.restore_rate <= 0:
            return 0.0
        cost = self.costs.get(query, DEFAULT_QUERY_COST)
        now_available = min(
            self.maximum, self.available + (self.clock() - self.seen_at) * self.restore_rate
        )
        return max(0.0, (cost - now_available) / self.restore_rate)

    def observe(self, query: str, extensions: Any) -> None:
        """Remember what a response said about the bucket and the query's cost."""
        try:
            cost = extensions["cost"]
            status = cost["throttleStatus"]
            self.costs[query] = float(cost["requestedQueryCost"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
            self.maximum = float(status["maximumAvailable"])
            self.seen_at = self.clock()
        except (KeyError, TypeError, ValueError):
            return


class ShopifyGraphQL:
    """Posts GraphQL to the Admin API with auth, timeouts and bounded, cost-aware retries."""

    def __init__(
        self,
        *,
        endpoint: str,
        tokens: TokenProvider,
        http: httpx.AsyncClient,
        max_attempts: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._tokens = tokens
        self._http = http
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._breaker = breaker
        self.pacer = CostPacer()

    async def execute(
        self, query: str, variables: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run one query or mutation and return its `data`.

        Raises:
            ShopUnavailable: throttled, timed out or failing after every attempt, or the
                circuit is open after repeated such failures.
            ShopAuthError: the token was refused (after one refresh, when refreshable).
            ShopQueryError: the API rejected the query.
        """
        if self._breaker is None:
            return await self._execute(query, variables)
        try:
            return await self._breaker.call(
                lambda: self._execute(query, variables), failure=(ShopUnavailable,)
            )
        except CircuitOpen as exc:
            raise ShopUnavailable(str(exc)) from exc

    async def _execute(self, query: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts),
            wait=_wait_for,
            retry=retry_if_exception_type(_Retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(query, dict(variables or {}))
        except _Retry as exc:
            raise ShopUnavailable(
                f"Shopify unavailable after {self._max_attempts} attempts: {exc}"
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover - tenacity always returns or raises

    async def _post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        wait = min(MAX_WAIT_SECONDS, self.pacer.wait_needed(query))
        if wait > 0:
            await self._sleep(wait)
        response = await self._send(query, variables)
        if response.status_code == 401 and self._tokens.invalidate():
            # Client-credentials tokens expire; one refresh, then the answer stands.
            response = await self._send(query, variables)
        if response.status_code in (401, 403):
            raise ShopAuthError(f"Shopify refused the credentials (HTTP {response.status_code})")
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retry(f"HTTP {response.status_code}", _throttle_delay(response))
        if response.status_code != 200:
            raise ShopQueryError(f"Shopify answered HTTP {response.status_code}")
        body = _json_object(response)
        if body is None:
            raise _Retry("response is not a JSON object", None)
        errors = body.get("errors") or []
        if not isinstance(errors, list):
            errors = [errors]
        if any(_error_code(error) == "THROTTLED" for error in errors):
            # The retry waits for the bucket itself; the pacer learns from the next answer.
            raise _Retry("THROTTLED", _throttle_delay(response, body))
        self.pacer.observe(query, body.get("extensions"))
        if any(_error_code(error) == "ACCESS_DENIED" for error in errors):
            raise ShopAuthError("Shopify denied access (missing scope?)")
        if errors:
            messages = "; ".join(_error_message(error)[:200] for error in errors)
            raise ShopQueryError(f"Shopify rejected the query: {messages}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ShopQueryError("Shopify answered without data")
        return data

    async def _send(self, query: str, variables: dict[str, Any]) -> httpx.Response:
        token = await self._tokens.token()
        try:
            return await self._http.post(
                self.endpoint,
                json={"query": query, "variables": variables},
                headers={"X-Shopify-Access-Token": token},
            )
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})", None) from exc
        except httpx.TransportError as exc:
            raise _Retry(f"transport error ({type(exc).__name__})", None) from exc


def _wait_for(retry_state: Any) -> float:
    """Wait what the server asked, else exponential backoff with jitter; never over the cap."""
    exception = retry_state.outcome.exception() if retry_state.outcome else None
    asked = exception.delay if isinstance(exception, _Retry) else None
    if asked is not None:
        return float(min(MAX_WAIT_SECONDS, max(0.0, asked)))
    backoff = min(MAX_WAIT_SECONDS, 0.5 * 2 ** (retry_state.attempt_number - 1))
    return float(random.uniform(backoff / 2, backoff))  # noqa: S311 - jitter, not crypto.


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    r"""The response body if it is a JSON object, else None (an HTML error page, garbage).

    A lone surrogate escape ("\ud800" in a product title) becomes U+FFFD: such a string can
    be neither sent to the model, nor stored, nor mailed, and one odd title must not fail a job.
    """
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors.
        return None
    if _SURROGATE_ESCAPE.search(response.content):
        body = _without_lone_surrogates(body)
    return body if isinstance(body, dict) else None


# Valid UTF-8 cannot hold a surrogate: in JSON one only arrives as a `\uD800`-`\uDFFF` escape.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _without_lone_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings replaced by U+FFFD (pairs are kept)."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key): _without_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def _throttle_delay(
    response: httpx.Response, body: Mapping[str, Any] | None = None
) -> float | None:
    """The longer of `Retry-After` and the wait `extensions.cost` implies, when either is known.

    A 429 may carry the THROTTLED body without `Retry-After`; its cost data still says how long
    the bucket needs.
    """
    if body is None:
        body = _json_object(response)
    delays = [
        delay
        for delay in (_retry_after(response), _cost_delay((body or {}).get("extensions")))
        if delay is not None
    ]
    return max(delays) if delays else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _cost_delay(extensions: Any) -> float | None:
    """Seconds until the leaky bucket holds the requested cost again, from `extensions.cost`."""
    try:
        cost = extensions["cost"]
        status = cost["throttleStatus"]
        needed = float(cost["requestedQueryCost"]) - float(status["currentlyAvailable"])
        return max(0.0, needed / float(status["restoreRate"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _error_code(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None
    extensions = error.get("extensions")
    return extensions.get("code") if isinstance(extensions, dict) else None


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message", "?"))
    return str(error)
