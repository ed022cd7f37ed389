"""Product search: titles, variants, prices, availability and stock."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.store.models import Money, Product
from app.tools.kit import Clue, OfflineHint, Scope, ToolArgs, ToolContext, ToolMiss, ToolSet, Topic

NO_PRODUCTS = "No product matches those words. Try fewer or more general words, or hand over."
tools = ToolSet()


class VariantFacts(BaseModel):
    """One purchasable variant."""

    title: str
    price: Money
    available: bool
    in_stock: int | None


class ProductFacts(BaseModel):
    """One product and its variants."""

    title: str
    url: str | None
    available: bool
    variants: list[VariantFacts]

    @classmethod
    def from_product(cls, product: Product) -> ProductFacts:
        """Curate a `Product` into the facts a reply may show."""
        variants = [
            VariantFacts(
                title=v.title,
                price=v.price,
                available=v.available_for_sale,
                in_stock=v.inventory_quantity,
            )
            for v in product.variants
        ]
        return cls(
            title=product.title,
            url=product.url,
            available=any(v.available for v in variants),
            variants=variants,
        )


class ProductSearchFacts(BaseModel):
    """Products matching a search."""

    products: list[ProductFacts]

    def summary(self) -> str:
        """One line for the audit log."""
        return f"{len(self.products)} products"


class SearchProductsArgs(ToolArgs):
    """What to search for."""

    query: str = Field(
        min_length=1, max_length=80, description='Plain words for the product, e.g. "linen shirt".'
    )


@tools.tool(
    scope=Scope.PUBLIC,
    offline=OfflineHint(topic=Topic.PRODUCT, args={"query": Clue.PRODUCT_WORDS}),
)
async def search_products(ctx: ToolContext, args: SearchProductsArgs) -> ProductSearchFacts:
    """Search the store's products by plain words.

    Titles, variants, prices, availability and stock.
    """
    words = args.query.split()
    products = await ctx.shop.search_products(args.query, limit=5)
    if not products and len(words) >= 3:
        # "canvas tote green": the colour is a variant, not in the title; the first two words
        # usually name the product. Two words are never cut to one ("linen blazer" is not
        # "linen").
        products = await ctx.shop.search_products(" ".join(words[:2]), limit=5)
    if not products:
        raise ToolMiss(NO_PRODUCTS)
    return ProductSearchFacts(products=[ProductFacts.from_product(p) for p in products])
