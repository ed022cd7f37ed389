"""The right next product: one complementary product a reply may carry, when the store opts in.

`choose_next_product` picks it from the store's own data: the products most often bought
together with what this customer bought in the store's recent orders, else a product of the same
collection or type; always active and in stock, never one this customer already bought, with
its real price and link from the store. It refuses, in code, every reply that is not an
order-status answer or a delivered follow-up (so never a complaint, refund, cancellation or
return), and every sender that is not verified.

The result is `NextProductFacts`: like any tool fact its JSON is evidence for the verifier (the
price and both links must match it), and it presents itself as one sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, Protocol, runtime_checkable

from app.replies.facts import N_, Amount, Block, Facts, Link, Paragraph, Phrase, Presenter, Text
from app.store.models import LineItem, Money, Order, Product, item_matches
from app.store.protocol import Shop, ShopInsights

ALLOWED_INTENTS = frozenset({"order_status", "delivered_follow_up"})
"""The only replies that may suggest a product; complaints, refunds, cancellations, returns,
shipping problems and everything else never do."""
RECENT_BASKETS = 100
CUSTOMER_ORDERS = 50
CATALOGUE_SIZE = 50

Reason = Literal["bought_together", "same_collection", "same_type"]


class NextProductFacts(Facts):
    """One suggested product: its real price and link, and the link the reply shows."""

    kind = "next_product"

    product_id: str
    title: str
    price: Money
    url: str
    """The product's page in the store."""
    link: str
    """What the reply links to: the counted redirect (`/p/<token>`), or `url` itself."""
    reason: Reason

    def present(self, t: Presenter) -> list[Block]:
        message = N_("You might also like %(title)s, %(price)s: %(link)s")
        return [
            Paragraph(
                Phrase(
                    t.gettext(message),
                    {
                        "title": Text(self.title),
                        "price": Amount(self.price),
                        "link": Link(self.link),
                    },
                )
            )
        ]

    def shown(self) -> dict[str, list[str]]:
        return {"next_product": [self.title]}

    def summary(self) -> str:
        """One line for the audit log."""
        return f"{self.title} ({self.reason})"


@runtime_checkable
class SuggestionShop(Shop, ShopInsights, Protocol):
    """A store that answers both the customer's own reads and the store-wide ones."""


def in_stock(product: Product) -> bool:
    """Active, with a variant for sale that is not known to be sold out."""
    return product.status == "ACTIVE" and any(_available(v) for v in product.variants)


def _available(variant: object) -> bool:
    quantity = getattr(variant, "inventory_quantity", None)
    return bool(getattr(variant, "available_for_sale", False)) and (
        quantity is None or quantity > 0
    )


def product_of(item: LineItem, catalogue: Sequence[Product]) -> Product | None:
    """The catalogue product an order line is of: by SKU, else by the longest matching title."""
    if item.sku:
        for product in catalogue:
            if any(v.sku == item.sku for v in product.variants):
                return product
    titled = [p for p in catalogue if p.title and item_matches(p.title, item.title)]
    return max(titled, key=lambda p: len(p.title), default=None)


def _products(items: Iterable[LineItem], catalogue: Sequence[Product]) -> set[str]:
    return {p.id for item in items if (p := product_of(item, catalogue)) is not None}


async def choose_next_product(
    shop: SuggestionShop,
    *,
    intent: str,
    verified_email: str | None,
    order: Order | None = None,
) -> NextProductFacts | None:
    """The one complementary product for this reply, or None.

    Args:
        shop: the email's store.
        intent: the reply's intent; only `ALLOWED_INTENTS` may carry a product.
        verified_email: the verified sender (None: not verified, never a product).
        order: the order the reply is about; its products lead the choice (else every product
            the customer bought does).
    """
    if intent not in ALLOWED_INTENTS or not verified_email:
        return None
    catalogue = await shop.catalogue(first=CATALOGUE_SIZE)
    own_orders = await shop.list_orders(customer_email=verified_email, limit=CUSTOMER_ORDERS)
    if order is not None and not order.belongs_to(verified_email):
        return None
    bought = _products(
        (i for o in [*own_orders, *([order] if order else [])] for i in o.items), catalogue
    )
    anchors = _products(order.items, catalogue) if order is not None else set(bought)
    if not anchors:
        return None
    candidates = {p.id: p for p in catalogue if in_stock(p) and p.url and p.id not in bought}
    if not candidates:
        return None
    together = Counter[str]()
    popular = Counter[str]()
    for basket in await shop.recent_baskets(first=RECENT_BASKETS):
        if basket.cancelled:
            continue
        products = _products(basket.items, catalogue)
        popular.update(products)
        if products & anchors:
            together.update(p for p in products - anchors if p in candidates)
    if together:
        best = min(together, key=lambda p: (-together[p], candidates[p].title))
        return _facts(candidates[best], "bought_together")
    by_id = {p.id: p for p in catalogue}
    collections = {c for a in anchors if a in by_id for c in by_id[a].collections}
    types = {by_id[a].product_type for a in anchors if a in by_id and by_id[a].product_type}
    same_collection = [p for p in candidates.values() if collections & set(p.collections)]
    if same_collection:
        return _facts(_most_popular(same_collection, popular), "same_collection")
    same_type = [p for p in candidates.values() if p.product_type in types]
    if same_type:
        return _facts(_most_popular(same_type, popular), "same_type")
    return None


def _most_popular(products: list[Product], popular: Counter[str]) -> Product:
    return min(products, key=lambda p: (-popular[p.id], p.title))


def _facts(product: Product, reason: Reason) -> NextProductFacts:
    price = min((v.price for v in product.variants if _available(v)), key=lambda m: m.amount)
    url = product.url or ""
    return NextProductFacts(
        product_id=product.id, title=product.title, price=price, url=url, link=url, reason=reason
    )
