"""Shopify Admin GraphQL: the client, its queries, and the mapping to our own models.

Vendor JSON stops in this file. Everything an email could influence (an order number, search
words, the sender's address) travels only in GraphQL variables, and search values are reduced
to safe characters first, so email text can neither change a query nor widen a search.

Throttling and outages are retried within bounds (429, 5xx, HTTP 200 carrying THROTTLED,
timeouts), waiting on `Retry-After` or on the cost and restore rate in `extensions.cost`; what
still fails becomes `ShopUnavailable`, never an empty answer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from app.circuit import CircuitBreaker, CircuitOpen
from app.mail.cleantext import html_to_text
from app.store.models import (
    ActionResult,
    Address,
    Customer,
    LineItem,
    Money,
    Order,
    OrderStatus,
    Policy,
    PolicyKind,
    Product,
    Refund,
    Return,
    Shipment,
    Tracking,
    Variant,
    item_matches,
)
from app.store.protocol import ShopAuthError, ShopQueryError, ShopUnavailable

logger = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 10.0
DEFAULT_QUERY_COST = 50.0
"""What a query not seen before is assumed to cost (the support queries cost 2 to 52)."""
TOKEN_REFRESH_MARGIN_SECONDS = 300

# --- Queries -----------------------------------------------------------------------------------

ORDER_FIELDS = """
fragment OrderFields on Order {
  id name email createdAt cancelledAt
  displayFinancialStatus displayFulfillmentStatus returnStatus
  statusPageUrl
  totalPriceSet { shopMoney { amount currencyCode } }
  shippingAddress { name address1 address2 city provinceCode zip countryCodeV2 }
  customer { id displayName defaultEmailAddress { emailAddress } }
  lineItems(first: 50) { nodes { id name quantity currentQuantity sku variantTitle } }
  fulfillments(first: 10) {
    status displayStatus createdAt inTransitAt deliveredAt estimatedDeliveryAt
    trackingInfo(first: 5) { company number url }
  }
  returns(first: 5) { nodes { id name status } }
  refunds(first: 10) { createdAt note totalRefundedSet { shopMoney { amount currencyCode } } }
}
"""

ORDERS_QUERY = (
    """
query SupportOrders($query: String!, $first: Int!) {
  orders(first: $first, query: $query, sortKey: PROCESSED_AT, reverse: true) {
    nodes { ...OrderFields }
  }
}
"""
    + ORDER_FIELDS
)

CUSTOMER_QUERY = """
query SupportCustomer($query: String!) {
  customers(first: 5, query: $query) {
    nodes {
      id displayName createdAt numberOfOrders
      defaultEmailAddress { emailAddress }
      amountSpent { amount currencyCode }
      lastOrder { createdAt }
      orders(first: 1, sortKey: CREATED_AT) { nodes { createdAt } }
    }
  }
}
"""

PRODUCTS_QUERY = """
query SupportProducts($query: String!, $first: Int!) {
  products(first: $first, query: $query) {
    nodes {
      id title handle status onlineStoreUrl totalInventory
      variants(first: 30) {
        nodes { title sku price availableForSale inventoryQuantity }
      }
    }
  }
}
"""

POLICIES_QUERY = """
query SupportPolicies {
  shop { currencyCode shopPolicies { type title body url } }
}
"""

CANCEL_MUTATION = """
mutation SupportOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $staffNote: String) {
  orderCancel(
    orderId: $orderId, reason: $reason, staffNote: $staffNote, notifyCustomer: true,
    restock: true, refundMethod: { originalPaymentMethodsRefund: true }
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

RETURNABLE_QUERY = """
query SupportReturnable($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 10) {
    nodes {
      returnableFulfillmentLineItems(first: 50) {
        nodes { quantity fulfillmentLineItem { id lineItem { name } } }
      }
    }
  }
}
"""

RETURN_MUTATION = """
mutation SupportReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) {
    return { id name status }
    userErrors { field message }
  }
}
"""

ADDRESS_MUTATION = """
mutation SupportAddressUpdate($input: OrderInput!) {
  orderUpdate(input: $input) {
    order { id }
    userErrors { field message }
  }
}
"""

SUGGESTED_REFUND_QUERY = """
query SupportSuggestedRefund($orderId: ID!, $lineItems: [RefundLineItemInput!]) {
  order(id: $orderId) {
    suggestedRefund(refundShipping: true, refundLineItems: $lineItems) {
      amountSet { shopMoney { amount currencyCode } }
      suggestedTransactions {
        gateway kind amountSet { shopMoney { amount } } parentTransaction { id }
      }
    }
  }
}
"""

REFUND_MUTATION = """
mutation SupportRefund($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id totalRefundedSet { shopMoney { amount currencyCode } } }
    userErrors { field message }
  }
}
"""

# --- Auth --------------------------------------------------------------------------------------


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


# --- Client ------------------------------------------------------------------------------------


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
    """The response body if it is a JSON object, else None (an HTML error page, garbage)."""
    try:
        body = response.json()
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors.
        return None
    return body if isinstance(body, dict) else None


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


# --- Search values -----------------------------------------------------------------------------

# Shopify's search syntax quotes with both ' and ", and negates with a leading "-" or NOT.
_SEARCH_UNSAFE = re.compile(r"[^\w\s.-]", re.UNICODE)
_SEARCH_OPERATORS = re.compile(r"\b(?:AND|OR|NOT)\b")


def search_words(text: str, *, max_length: int = 80) -> str:
    """Reduce free text to plain search words: no field filters, wildcards, quotes or operators.

    Hyphens stay only inside words: a leading "-" would negate the word and widen the search to
    everything else. The length limit cuts between words, so it can never leave a partial word
    that reads as an operator ("ORANGE" cut to "OR").
    """
    cleaned = _SEARCH_OPERATORS.sub(" ", _SEARCH_UNSAFE.sub(" ", text))
    words: list[str] = []
    for word in (raw.lstrip("-") for raw in cleaned.split()):
        if not word:
            continue
        if len(" ".join([*words, word])) > max_length:
            if not words:  # One overlong word: cut it, and check the cut again.
                words = _SEARCH_OPERATORS.sub(" ", word[:max_length]).split()
            break
        words.append(word)
    return " ".join(words)


def quoted_email(email: str) -> str:
    """A search value for an email address, quoted, with nothing that could escape the quotes."""
    return '"' + re.sub(r'["\\\s]', "", email) + '"'


def order_name_query(number: str) -> str:
    """The orders search for an already normalised order number (letters, digits, dashes)."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,30}", number):
        raise ValueError("order numbers must be normalised before searching")
    return f"name:{number} OR name:#{number}"


# --- Mapping vendor JSON to our models ---------------------------------------------------------


_ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"})


def _money(node: Any) -> Money:
    shop_money = (node or {}).get("shopMoney") or node or {}
    currency = str(shop_money.get("currencyCode") or "")
    try:
        amount = Decimal(str(shop_money.get("amount", "0")))
    except InvalidOperation:
        amount = Decimal("0")
    # Shopify sends "73.9"; a reply shows "73.90" (or "7390" for zero-decimal currencies).
    places = Decimal("1") if currency in _ZERO_DECIMAL_CURRENCIES else Decimal("0.01")
    return Money(amount=amount.quantize(places), currency=currency)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _required_when(value: Any) -> datetime:
    when = _when(value)
    if when is None:
        raise ShopQueryError("Shopify answered without a required timestamp")
    return when


def _nodes(connection: Any) -> list[Any]:
    if isinstance(connection, dict):
        return list(connection.get("nodes") or [])
    return list(connection or [])


_DELAYED = {"DELAYED", "FAILURE", "ATTEMPTED_DELIVERY", "NOT_DELIVERED"}
_DELIVERED = {"DELIVERED", "PICKED_UP"}
_NOT_SHIPPED = {"CANCELED", "CANCELLED", "LABEL_VOIDED", "ERROR"}
"""Fulfilments that ship nothing: display status (CANCELED, LABEL_VOIDED), or `status` fallback."""
_CARRIER_SCANNED = {
    "IN_TRANSIT",
    "CONFIRMED",
    "LABEL_PRINTED",
    "LABEL_PURCHASED",
    "READY_FOR_PICKUP",
}
_RETURN_OPEN = {"RETURN_REQUESTED", "IN_PROGRESS", "INSPECTION_COMPLETE"}


def order_status(
    *,
    cancelled: bool,
    financial: str,
    fulfillment: str,
    return_status: str | None,
    shipment_statuses: list[str],
) -> OrderStatus:
    """Decide the customer-facing status from Shopify's separate status fields."""
    if cancelled:
        return OrderStatus.CANCELLED
    if financial == "REFUNDED":
        return OrderStatus.REFUNDED
    if return_status == "RETURNED":
        return OrderStatus.RETURNED
    if return_status in _RETURN_OPEN:
        return OrderStatus.RETURN_IN_PROGRESS
    if fulfillment == "ON_HOLD":
        return OrderStatus.ON_HOLD
    shipped = [s for s in shipment_statuses if s not in _NOT_SHIPPED]
    undelivered = [s for s in shipped if s not in _DELIVERED]
    if any(s in _DELAYED for s in undelivered):
        return OrderStatus.DELAYED
    if fulfillment == "FULFILLED" and shipped and not undelivered:
        return OrderStatus.DELIVERED
    if "OUT_FOR_DELIVERY" in undelivered:
        return OrderStatus.OUT_FOR_DELIVERY
    if fulfillment == "PARTIALLY_FULFILLED":
        return OrderStatus.PARTIALLY_SHIPPED
    if any(s in _CARRIER_SCANNED for s in undelivered):
        return OrderStatus.IN_TRANSIT
    if fulfillment == "FULFILLED" or shipped:
        # Fulfilled without carrier events (no tracking, or "marked as fulfilled").
        return OrderStatus.SHIPPED
    return OrderStatus.PROCESSING


def order_from_node(node: Mapping[str, Any]) -> Order:
    """Map an Admin API `Order` node (the `OrderFields` selection) to an `Order`."""
    customer = node.get("customer") or {}
    # A cancelled fulfilment or voided label ships nothing: its tracking number must not be
    # shown to the customer as theirs.
    shipments = tuple(
        shipment
        for shipment in (_shipment(f) for f in node.get("fulfillments") or [])
        if shipment.status not in _NOT_SHIPPED
    )
    address = node.get("shippingAddress")
    return Order(
        id=str(node["id"]),
        name=str(node["name"]),
        email=node.get("email"),
        customer_email=((customer.get("defaultEmailAddress") or {}).get("emailAddress")),
        customer_name=customer.get("displayName"),
        created_at=_required_when(node.get("createdAt")),
        cancelled_at=_when(node.get("cancelledAt")),
        financial_status=str(node.get("displayFinancialStatus") or ""),
        fulfillment_status=str(node.get("displayFulfillmentStatus") or ""),
        return_status=node.get("returnStatus"),
        status=order_status(
            cancelled=bool(node.get("cancelledAt")),
            financial=str(node.get("displayFinancialStatus") or ""),
            fulfillment=str(node.get("displayFulfillmentStatus") or ""),
            return_status=node.get("returnStatus"),
            shipment_statuses=[s.status for s in shipments],
        ),
        status_page_url=node.get("statusPageUrl"),
        total=_money(node.get("totalPriceSet")),
        shipping_address=_address(address) if address else None,
        items=tuple(
            LineItem(
                title=str(item.get("name") or ""),
                variant=item.get("variantTitle"),
                sku=item.get("sku"),
                quantity=int(item.get("quantity") or 0),
                current_quantity=int(
                    item["currentQuantity"]
                    if item.get("currentQuantity") is not None
                    else item.get("quantity") or 0
                ),
            )
            for item in _nodes(node.get("lineItems"))
        ),
        shipments=shipments,
        refunds=tuple(
            Refund(
                created_at=_required_when(refund.get("createdAt")),
                amount=_money(refund.get("totalRefundedSet")),
                note=refund.get("note"),
            )
            for refund in node.get("refunds") or []
        ),
        returns=tuple(
            Return(name=str(r.get("name") or ""), status=str(r.get("status") or ""))
            for r in _nodes(node.get("returns"))
        ),
    )


def _shipment(node: Mapping[str, Any]) -> Shipment:
    return Shipment(
        status=str(node.get("displayStatus") or node.get("status") or ""),
        shipped_at=_when(node.get("createdAt")),
        in_transit_at=_when(node.get("inTransitAt")),
        delivered_at=_when(node.get("deliveredAt")),
        estimated_delivery_at=_when(node.get("estimatedDeliveryAt")),
        tracking=tuple(
            Tracking(company=t.get("company"), number=t.get("number"), url=t.get("url"))
            for t in node.get("trackingInfo") or []
        ),
    )


def _address(node: Mapping[str, Any]) -> Address:
    return Address(
        name=node.get("name"),
        address1=node.get("address1"),
        address2=node.get("address2"),
        city=node.get("city"),
        province_code=node.get("provinceCode"),
        zip=node.get("zip"),
        country_code=node.get("countryCodeV2") or node.get("countryCode"),
    )


def customer_from_node(node: Mapping[str, Any]) -> Customer:
    """Map an Admin API `Customer` node to a `Customer`."""
    first_orders = _nodes(node.get("orders"))
    return Customer(
        id=str(node["id"]),
        name=node.get("displayName"),
        email=str((node.get("defaultEmailAddress") or {}).get("emailAddress") or ""),
        orders_count=int(node.get("numberOfOrders") or 0),
        amount_spent=_money(node.get("amountSpent")),
        created_at=_required_when(node.get("createdAt")),
        first_order_at=_when(first_orders[0].get("createdAt")) if first_orders else None,
        last_order_at=_when((node.get("lastOrder") or {}).get("createdAt")),
    )


def product_from_node(node: Mapping[str, Any], *, currency: str) -> Product:
    """Map an Admin API `Product` node to a `Product` (variant prices are shop currency)."""
    return Product(
        id=str(node["id"]),
        title=str(node.get("title") or ""),
        handle=str(node.get("handle") or ""),
        url=node.get("onlineStoreUrl"),
        status=str(node.get("status") or ""),
        total_inventory=node.get("totalInventory"),
        variants=tuple(
            Variant(
                title=str(v.get("title") or ""),
                sku=v.get("sku"),
                price=Money(amount=Decimal(str(v.get("price") or "0")), currency=currency),
                available_for_sale=bool(v.get("availableForSale")),
                inventory_quantity=v.get("inventoryQuantity"),
            )
            for v in _nodes(node.get("variants"))
        ),
    )


def policy_from_node(node: Mapping[str, Any]) -> Policy:
    """Map a `ShopPolicy` node to a `Policy`, its HTML body reduced to text."""
    try:
        kind = PolicyKind(str(node.get("type")))
    except ValueError:
        kind = PolicyKind.OTHER
    return Policy(
        kind=kind,
        title=str(node.get("title") or ""),
        text=html_to_text(str(node.get("body") or "")).strip(),
        url=node.get("url"),
    )


def _user_errors(payload: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    errors: list[str] = []
    for key in keys:
        for error in payload.get(key) or []:
            field = ".".join(error.get("field") or [])
            errors.append(
                f"{field}: {error.get('message')}" if field else str(error.get("message"))
            )
    return tuple(errors)


# --- The shop ----------------------------------------------------------------------------------


class ShopifyShop:
    """The `Shop` over the Admin GraphQL API."""

    def __init__(self, client: ShopifyGraphQL) -> None:
        self._client = client
        self._currency: str | None = None

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        data = await self._client.execute(
            ORDERS_QUERY, {"query": order_name_query(number), "first": 5}
        )
        for node in _nodes(data.get("orders")):
            order = order_from_node(node)
            if order.name.lstrip("#").lower() == number.lower() and order.belongs_to(
                customer_email
            ):
                return order
        return None

    async def list_orders(self, *, customer_email: str, limit: int) -> list[Order]:
        data = await self._client.execute(
            # Fetch more than asked: the search is fuzzy and others' orders are dropped below.
            ORDERS_QUERY,
            {"query": f"email:{quoted_email(customer_email)}", "first": min(50, limit * 3)},
        )
        orders = [order_from_node(node) for node in _nodes(data.get("orders"))]
        # Shopify's search is fuzzy; only exact owners pass.
        return [order for order in orders if order.belongs_to(customer_email)][:limit]

    async def get_customer(self, *, customer_email: str) -> Customer | None:
        data = await self._client.execute(
            CUSTOMER_QUERY, {"query": f"email:{quoted_email(customer_email)}"}
        )
        for node in _nodes(data.get("customers")):
            customer = customer_from_node(node)
            if customer.email.lower() == customer_email.strip().lower():
                return customer
        return None

    async def search_products(self, text: str, *, limit: int) -> list[Product]:
        words = search_words(text)
        if not words:
            return []
        currency = await self._shop_currency()
        data = await self._client.execute(
            PRODUCTS_QUERY, {"query": f"{words} status:ACTIVE", "first": limit}
        )
        return [product_from_node(n, currency=currency) for n in _nodes(data.get("products"))]

    async def get_policies(self) -> list[Policy]:
        data = await self._client.execute(POLICIES_QUERY)
        shop = data.get("shop") or {}
        self._currency = shop.get("currencyCode") or self._currency
        return [policy_from_node(node) for node in shop.get("shopPolicies") or []]

    async def _shop_currency(self) -> str:
        if self._currency is None:
            data = await self._client.execute("query SupportCurrency { shop { currencyCode } }")
            self._currency = str((data.get("shop") or {}).get("currencyCode") or "")
        return self._currency

    async def cancel_order(self, order: Order, *, reason: str, staff_note: str) -> ActionResult:
        data = await self._client.execute(
            CANCEL_MUTATION, {"orderId": order.id, "reason": reason, "staffNote": staff_note}
        )
        payload = data.get("orderCancel") or {}
        errors = _user_errors(payload, "orderCancelUserErrors", "userErrors")
        job = payload.get("job") or {}
        if errors:
            return ActionResult(
                ok=False, summary=f"{order.name} was not cancelled", user_errors=errors
            )
        return ActionResult(
            ok=True, summary=f"{order.name} cancellation started", reference=job.get("id")
        )

    async def request_return(
        self, order: Order, *, item_titles: list[str] | None, note: str
    ) -> ActionResult:
        data = await self._client.execute(RETURNABLE_QUERY, {"orderId": order.id})
        wanted = [title for title in item_titles or [] if title.strip()]
        lines = []
        for fulfillment in _nodes(data.get("returnableFulfillments")):
            for item in _nodes(fulfillment.get("returnableFulfillmentLineItems")):
                line = item.get("fulfillmentLineItem") or {}
                title = str((line.get("lineItem") or {}).get("name") or "")
                if wanted and not any(item_matches(w, title) for w in wanted):
                    continue
                lines.append(
                    {
                        "fulfillmentLineItemId": line.get("id"),
                        "quantity": int(item.get("quantity") or 0),
                        "returnReason": "OTHER",
                        "customerNote": note[:300],
                    }
                )
        if not lines:
            return ActionResult(
                ok=False,
                summary=f"{order.name} has nothing that can be returned",
                user_errors=("no returnable items matched",),
            )
        data = await self._client.execute(
            RETURN_MUTATION, {"input": {"orderId": order.id, "returnLineItems": lines}}
        )
        payload = data.get("returnRequest") or {}
        errors = _user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"no return opened for {order.name}", user_errors=errors
            )
        created = payload.get("return") or {}
        return ActionResult(
            ok=True, summary=f"return {created.get('name')} requested", reference=created.get("id")
        )

    async def update_shipping_address(self, order: Order, *, address: Address) -> ActionResult:
        first, _, last = (address.name or "").strip().rpartition(" ")
        shipping = {
            "firstName": first or None,
            "lastName": last or None,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "provinceCode": address.province_code,
            "zip": address.zip,
            "countryCode": address.country_code,
        }
        data = await self._client.execute(
            ADDRESS_MUTATION, {"input": {"id": order.id, "shippingAddress": shipping}}
        )
        payload = data.get("orderUpdate") or {}
        errors = _user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"address of {order.name} unchanged", user_errors=errors
            )
        return ActionResult(ok=True, summary=f"shipping address of {order.name} updated")

    async def refund_order(self, order: Order, *, note: str) -> ActionResult:
        suggestion = await self._client.execute(SUGGESTED_REFUND_QUERY, {"orderId": order.id})
        refund = ((suggestion.get("order") or {}).get("suggestedRefund")) or {}
        transactions = [
            {
                "orderId": order.id,
                "gateway": t.get("gateway"),
                "kind": "REFUND",
                "amount": str(refundable),
                "parentId": (t.get("parentTransaction") or {}).get("id"),
            }
            for t in refund.get("suggestedTransactions") or []
            if (refundable := _money(t.get("amountSet")).amount) > 0
        ]
        if not transactions:
            return ActionResult(
                ok=False,
                summary=f"nothing left to refund on {order.name}",
                user_errors=("no refundable transaction",),
            )
        data = await self._client.execute(
            REFUND_MUTATION,
            {
                "input": {
                    "orderId": order.id,
                    "note": note[:300],
                    "notify": True,
                    "shipping": {"fullRefund": True},
                    "transactions": transactions,
                }
            },
        )
        payload = data.get("refundCreate") or {}
        errors = _user_errors(payload, "userErrors")
        if errors:
            return ActionResult(
                ok=False, summary=f"{order.name} was not refunded", user_errors=errors
            )
        created = payload.get("refund") or {}
        amount = _money(created.get("totalRefundedSet"))
        return ActionResult(
            ok=True, summary=f"{amount} refunded on {order.name}", reference=created.get("id")
        )
