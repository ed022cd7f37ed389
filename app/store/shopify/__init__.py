"""Shopify's Admin GraphQL API as a `Shop`: everything that knows Shopify lives in this package.

It owns one module per job:

- `queries`: the GraphQL documents the service sends, and the search values they carry;
- `auth`: where the access token comes from (a static token, or the client-credentials grant);
- `client`: the transport (auth header, timeouts, bounded retries, pacing by the leaky bucket);
- `mapping`: vendor JSON to `app.store.models`, and the customer-facing status rules;
- `shop`: `ShopifyShop`, the `Shop` protocol over the other four.

It may import `app.store.models`, `app.store.protocol`, `app.circuit`, `app.mail.cleantext`,
`httpx` and `tenacity`; never the agent, tools, replies, admin or the database. Vendor JSON
stops here. Callers import the names below from `app.store.shopify`, not from its modules.
"""

from app.store.shopify.auth import ClientCredentialsToken, StaticToken, TokenProvider
from app.store.shopify.client import ShopifyGraphQL
from app.store.shopify.mapping import (
    basket_from_node,
    connection_nodes,
    customer_from_node,
    order_from_node,
    policy_from_node,
    product_from_node,
    user_errors,
)
from app.store.shopify.queries import (
    HELP_ARTICLES_QUERY,
    HELP_PAGES_QUERY,
    order_name_query,
    search_words,
)
from app.store.shopify.shop import ShopifyShop

__all__ = [
    "HELP_ARTICLES_QUERY",
    "HELP_PAGES_QUERY",
    "ClientCredentialsToken",
    "ShopifyGraphQL",
    "ShopifyShop",
    "StaticToken",
    "TokenProvider",
    "basket_from_node",
    "connection_nodes",
    "customer_from_node",
    "order_from_node",
    "order_name_query",
    "policy_from_node",
    "product_from_node",
    "search_words",
    "user_errors",
]
