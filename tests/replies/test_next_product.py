"""The right next product: chosen from the store's own orders and catalogue, in stock, never
already bought, never in a complaint, refund or cancellation reply, never for an unverified
sender; its price and link are facts the verifier checks."""

from __future__ import annotations

import gettext
from decimal import Decimal

import pytest

from app.agent.plan import Intent
from app.replies.facts import Presenter
from app.replies.next_product import ALLOWED_INTENTS, choose_next_product, in_stock, product_of
from app.replies.verify import gather_evidence
from app.store.demo import ANCHOR, DemoShop
from app.store.models import Basket, Product, Variant
from tests.store.demo_people import JONAS, SARA, TOM


class SoldOut(DemoShop):
    """The demo store with some products sold out (every variant unavailable)."""

    def __init__(self, *titles: str, baskets: bool = True) -> None:
        super().__init__(now=ANCHOR)
        self.sold_out = set(titles)
        self.baskets = baskets

    async def catalogue(self, *, first: int) -> list[Product]:
        products = await super().catalogue(first=first)
        return [
            p.model_copy(
                update={
                    "variants": tuple(
                        v.model_copy(update={"available_for_sale": False, "inventory_quantity": 0})
                        for v in p.variants
                    )
                }
            )
            if p.title in self.sold_out
            else p
            for p in products
        ]

    async def recent_baskets(self, *, first: int) -> list[Basket]:
        return await super().recent_baskets(first=first) if self.baskets else []


async def bought_by(shop: DemoShop, email: str) -> set[str]:
    catalogue = await shop.catalogue(first=100)
    orders = await shop.list_orders(customer_email=email, limit=50)
    return {p.title for o in orders for i in o.items if (p := product_of(i, catalogue))}


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


async def test_an_order_status_reply_gets_a_product_bought_together_with_the_customers(
    shop: DemoShop,
) -> None:
    facts = await choose_next_product(shop, intent="order_status", verified_email=SARA)
    assert facts is not None
    assert facts.reason == "bought_together"
    # Sara bought a sweater and trousers; the belt, the bag, the beanie, the rain jacket and the
    # Breton top were each bought once with one of her products: the first title wins the tie.
    assert facts.title == "Leather Belt"
    assert facts.title not in await bought_by(shop, SARA)
    product = next(p for p in await shop.catalogue(first=100) if p.title == facts.title)
    assert in_stock(product)
    assert facts.url == product.url == facts.link
    assert facts.price.amount in {v.price.amount for v in product.variants}


async def test_never_a_product_out_of_stock() -> None:
    first = await choose_next_product(
        SoldOut("Leather Belt"), intent="order_status", verified_email=SARA
    )
    assert first is not None
    assert first.title == "Leather Crossbody Bag"
    everything = (
        "Leather Belt",
        "Leather Crossbody Bag",
        "Rain Jacket",
        "Striped Breton Top",
        "Wool Beanie",
    )
    left = await choose_next_product(
        SoldOut(*everything), intent="order_status", verified_email=SARA
    )
    assert left is None or left.title not in everything


async def test_never_a_product_the_customer_already_bought(shop: DemoShop) -> None:
    for email in (SARA, JONAS):
        facts = await choose_next_product(shop, intent="order_status", verified_email=email)
        assert facts is not None
        assert facts.title not in await bought_by(shop, email), email


async def test_without_co_purchases_the_same_collection_is_used() -> None:
    facts = await choose_next_product(
        SoldOut(baskets=False), intent="order_status", verified_email=JONAS
    )
    assert facts is not None
    assert facts.reason == "same_collection"
    assert facts.title not in await bought_by(DemoShop(now=ANCHOR), JONAS)


@pytest.mark.parametrize(
    "intent", sorted(i.value for i in Intent if i.value not in ALLOWED_INTENTS)
)
async def test_never_in_a_complaint_refund_cancellation_or_any_other_reply(
    shop: DemoShop, intent: str
) -> None:
    assert await choose_next_product(shop, intent=intent, verified_email=SARA) is None


async def test_never_for_an_unverified_sender_or_a_customer_without_orders(shop: DemoShop) -> None:
    assert await choose_next_product(shop, intent="order_status", verified_email=None) is None
    assert await choose_next_product(shop, intent="order_status", verified_email="") is None
    assert await choose_next_product(shop, intent="order_status", verified_email=TOM) is None


async def test_the_verifier_reads_its_price_and_links_as_evidence(shop: DemoShop) -> None:
    facts = await choose_next_product(shop, intent="order_status", verified_email=SARA)
    assert facts is not None
    counted = facts.model_copy(update={"link": "https://support.example.net/r/abc"})
    evidence = gather_evidence([counted.model_dump_json()], customer_text="", store_hosts=[])
    assert {"demo-store.example", "support.example.net"} <= evidence.link_hosts
    assert facts.price.amount in evidence.tool_numbers
    blocks = counted.present(Presenter(language="en", translations=gettext.NullTranslations()))
    assert "You might also like" in repr(blocks)


def test_a_variant_not_for_sale_or_at_zero_is_not_in_stock() -> None:
    def product(*variants: tuple[bool, int | None]) -> Product:
        return Product(
            id="gid://shopify/Product/1",
            title="T",
            handle="t",
            url="https://shop.example/t",
            status="ACTIVE",
            total_inventory=None,
            variants=tuple(
                Variant(
                    title="v",
                    sku=None,
                    price={"amount": Decimal(1), "currency": "EUR"},
                    available_for_sale=sale,
                    inventory_quantity=quantity,
                )
                for sale, quantity in variants
            ),
        )

    assert in_stock(product((True, 3)))
    assert in_stock(product((True, None)))
    assert not in_stock(product((False, 5), (True, 0)))
    assert not in_stock(product())
