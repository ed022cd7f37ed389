"""Which Shopify connection the admin uses for a store (the customer card, approved changes).

The admin reaches a store's Shopify data only through this, so a store's staff can never look
a customer up in another store's shop: each store's comes from `Providers.shop_for` (the default
store's from the environment, any other's from its own domain and sealed token). A store with no
usable connection gets None, and the admin says so instead of asking the wrong shop.
"""

from __future__ import annotations

from app.providers import NoShop
from app.state import AppState
from app.store.protocol import Shop

NO_SHOP = "the admin has no Shopify connection for this store"


async def store_shop(state: AppState, store_id: int | None) -> Shop | None:
    """The Shopify connection of store `store_id`, or None when the admin has none for it."""
    if store_id is None:
        return None
    store = await state.stores.get(store_id)
    if store is None:
        return None
    try:
        return await state.providers.shop_for(store, state.stores.secrets)
    except NoShop:
        return None
