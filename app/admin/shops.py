"""Which Shopify connection the admin uses for a store (the customer card, approved changes).

The admin reaches a store's Shopify data only through this, so a store's staff can never look
a customer up in another store's shop. The process-wide connection in `Providers.shop` is the
default store's (configured from the environment); for any other store the admin has none, and
says so instead of asking the wrong shop.
"""

from __future__ import annotations

from app.db.stores import DEFAULT_STORE_ID
from app.providers import Providers
from app.store.protocol import Shop

NO_SHOP = "the admin has no Shopify connection for this store"


def store_shop(providers: Providers, store_id: int | None) -> Shop | None:
    """The Shopify connection of store `store_id`, or None when the admin has none for it."""
    if store_id == DEFAULT_STORE_ID:
        return providers.shop
    return None
