"""What the service needs from a store, and how store failures are reported.

Methods that touch customer data take the customer's email as a required keyword, so ownership
is part of every call, not a check someone might forget. An order that does not exist and an
order that belongs to someone else are both `None`: callers cannot tell them apart.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from app.store.models import (
    ActionResult,
    Address,
    Basket,
    Customer,
    CustomerPage,
    HelpPassage,
    Order,
    Policy,
    Product,
)


class ShopError(Exception):
    """The store could not answer; the message is safe to log (no secrets, no PII)."""


class ShopUnavailable(ShopError):
    """Throttled or down even after bounded retries: try later, never "not found"."""


class ShopAuthError(ShopError):
    """The credentials were refused or lack a scope: an operator must fix configuration."""


class ShopQueryError(ShopError):
    """The store rejected the request itself (a bug on our side, or an API change)."""


class Shop(Protocol):
    """A store: Shopify over GraphQL, or the bundled demo store."""

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        """Return the order with this number if it belongs to `customer_email`."""
        ...

    async def list_orders(self, *, customer_email: str, limit: int) -> list[Order]:
        """Return the customer's most recent orders, newest first."""
        ...

    async def get_customer(self, *, customer_email: str) -> Customer | None:
        """Return the customer with exactly this email."""
        ...

    async def search_products(self, text: str, *, limit: int) -> list[Product]:
        """Return active products matching plain search words."""
        ...

    async def get_policies(self) -> list[Policy]:
        """Return the store's policies as text."""
        ...

    async def cancel_order(self, order: Order, *, reason: str, staff_note: str) -> ActionResult:
        """Cancel an order with a refund to the original payment method and restock."""
        ...

    async def request_return(
        self, order: Order, *, item_titles: list[str] | None, note: str
    ) -> ActionResult:
        """Open a return request for some (or all returnable) items of an order."""
        ...

    async def update_shipping_address(self, order: Order, *, address: Address) -> ActionResult:
        """Replace an order's shipping address."""
        ...

    async def refund_order(self, order: Order, *, note: str) -> ActionResult:
        """Refund what is left to refund on an order, to the original payment method."""
        ...


class HelpLibrary(Protocol):
    """The store's own help articles, searched by full text (`app.store.knowledge`)."""

    async def search_help(self, query: str, *, limit: int) -> list[HelpPassage]:
        """The best passages for `query`, at most one per article, best first."""
        ...


@runtime_checkable
class ShopInsights(Protocol):
    """Store-wide reads for segments and product suggestions: paced, never per email."""

    async def customers_page(self, *, first: int, after: str | None) -> CustomerPage:
        """One page of the store's customers (every customer, in a stable order)."""
        ...

    async def recent_baskets(self, *, first: int) -> list[Basket]:
        """The items of the store's most recent orders (by processing time), newest first."""
        ...

    async def catalogue(self, *, first: int) -> list[Product]:
        """The store's active products, with their type and collections."""
        ...
