"""The store as this service sees it: typed facts, never a vendor's JSON.

Everything here may have been written by a customer at checkout (names, addresses, notes), so
it is data for the model and the templates, never instructions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable: facts from the store are read, never edited in place."""

    model_config = ConfigDict(frozen=True)


class Money(Frozen):
    """An amount in one currency, exact (never a float)."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:.2f} {self.currency}"


class OrderStatus(StrEnum):
    """Where an order is, in the terms a customer asks about (templates word it per language)."""

    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"
    RETURN_IN_PROGRESS = "return_in_progress"
    DELIVERED = "delivered"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELAYED = "delayed"
    IN_TRANSIT = "in_transit"
    SHIPPED = "shipped"
    """Handed over without carrier scans (shipped without tracking events)."""
    PARTIALLY_SHIPPED = "partially_shipped"
    ON_HOLD = "on_hold"
    PROCESSING = "processing"
    """Paid or pending, not shipped yet."""


STATUS_WORDS: dict[OrderStatus, str] = {
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.REFUNDED: "refunded",
    OrderStatus.RETURNED: "returned",
    OrderStatus.RETURN_IN_PROGRESS: "being returned",
    OrderStatus.DELIVERED: "delivered",
    OrderStatus.OUT_FOR_DELIVERY: "out for delivery today",
    OrderStatus.DELAYED: "delayed in transit",
    OrderStatus.IN_TRANSIT: "on its way",
    OrderStatus.SHIPPED: "shipped",
    OrderStatus.PARTIALLY_SHIPPED: "partly shipped",
    OrderStatus.ON_HOLD: "on hold",
    OrderStatus.PROCESSING: "being prepared, not shipped yet",
}
"""English wording of each status, as tool results give it to the model; replies word it for
customers in `app.tools.orders.CUSTOMER_STATUS_WORDS`, translated by the reply catalogs."""


class Tracking(Frozen):
    """One parcel's tracking: carrier, number and the carrier's tracking page."""

    company: str | None
    number: str | None
    url: str | None


class Shipment(Frozen):
    """One fulfilment of (part of) an order."""

    status: str
    """Shopify's display status, e.g. IN_TRANSIT, DELIVERED, DELAYED."""
    shipped_at: datetime | None
    in_transit_at: datetime | None
    delivered_at: datetime | None
    estimated_delivery_at: datetime | None
    tracking: tuple[Tracking, ...]


class LineItem(Frozen):
    """One ordered product line."""

    title: str
    variant: str | None
    sku: str | None
    quantity: int
    """How many were ordered."""
    current_quantity: int
    """How many are still on the order after removals, cancellations and refunds."""


class Refund(Frozen):
    """Money given back on an order."""

    created_at: datetime
    amount: Money
    note: str | None


class Return(Frozen):
    """A return on an order."""

    name: str
    status: str


class Address(Frozen):
    """A postal address as Shopify holds it."""

    name: str | None
    address1: str | None
    address2: str | None
    city: str | None
    province_code: str | None
    zip: str | None
    country_code: str | None


class Order(Frozen):
    """One order, with everything support questions are about."""

    id: str
    name: str
    """The number customers see, e.g. "#1001"."""
    email: str | None
    customer_email: str | None
    customer_name: str | None
    created_at: datetime
    cancelled_at: datetime | None
    financial_status: str
    fulfillment_status: str
    return_status: str | None
    status: OrderStatus
    status_page_url: str | None
    total: Money
    shipping_address: Address | None
    items: tuple[LineItem, ...]
    shipments: tuple[Shipment, ...]
    refunds: tuple[Refund, ...]
    returns: tuple[Return, ...]

    def belongs_to(self, sender_email: str) -> bool:
        """Whether the order was placed with this email (see `same_mailbox`)."""
        return any(
            same_mailbox(candidate, sender_email)
            for candidate in (self.email, self.customer_email)
            if candidate
        )


def item_matches(wanted: str, line_title: str) -> bool:
    """Whether an item title as the customer (or model) wrote it names an order line.

    A line is "Leather Crossbody Bag - Tan"; "leather crossbody bag" names it too.
    """
    wanted_text = " ".join(wanted.lower().split())
    line_text = " ".join(line_title.lower().split())
    return bool(wanted_text) and (line_text == wanted_text or line_text.startswith(wanted_text))


def same_mailbox(a: str, b: str) -> bool:
    """Whether two addresses are the same mailbox, for ownership checks.

    Case-insensitive on the whole address, and nothing more: `sara+shop@example.com` and
    `sara@example.com` are different. Whether `+` starts a sub-address is each mail provider's
    own rule, and folding it here could show one person's orders to another where `+` is an
    ordinary character. A customer who ordered with a `+tag` address gets answers about those
    orders when writing from that exact address.
    """
    return a.strip().lower() == b.strip().lower()


class Customer(Frozen):
    """A customer's account summary."""

    id: str
    name: str | None
    email: str
    orders_count: int
    amount_spent: Money
    created_at: datetime
    first_order_at: datetime | None
    last_order_at: datetime | None


class Variant(Frozen):
    """One purchasable variant of a product."""

    title: str
    sku: str | None
    price: Money
    available_for_sale: bool
    inventory_quantity: int | None


class Product(Frozen):
    """A product with its variants."""

    id: str
    title: str
    handle: str
    url: str | None
    status: str
    total_inventory: int | None
    variants: tuple[Variant, ...]
    product_type: str = ""
    collections: tuple[str, ...] = ()
    """The titles of the collections the product is in."""


class CustomerPage(Frozen):
    """One page of the store's customers, and where the next page starts (None: the last)."""

    customers: tuple[Customer, ...]
    next_cursor: str | None


class Basket(Frozen):
    """What one order held, for products bought together (no customer data)."""

    placed_at: datetime
    cancelled: bool
    items: tuple[LineItem, ...]


class PolicyKind(StrEnum):
    """The store policies support answers draw on."""

    REFUND = "REFUND_POLICY"
    SHIPPING = "SHIPPING_POLICY"
    CONTACT = "CONTACT_INFORMATION"
    TERMS = "TERMS_OF_SERVICE"
    PRIVACY = "PRIVACY_POLICY"
    OTHER = "OTHER"


class Policy(Frozen):
    """A store policy, its HTML body reduced to text."""

    kind: PolicyKind
    title: str
    text: str
    url: str | None


class ActionResult(Frozen):
    """What a store change (cancel, refund, return, address) did, or why it did not."""

    ok: bool
    summary: str
    user_errors: tuple[str, ...] = ()
    reference: str | None = None
    """The id Shopify gave the result (a refund, a return, a job), when there is one."""


class HelpPassage(Frozen):
    """A passage of one of the store's help articles, found for a question."""

    title: str
    """The article's title."""
    text: str
    """The passage: a paragraph of the article, short enough to quote."""
    url: str | None
    """Where the whole article is published, if it is."""
    language: str
    """The article's language tag ("" when its source did not say)."""
