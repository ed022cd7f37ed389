"""The stores this service serves: each store as data, and each store's shop as typed facts.

Owns the Shop adapters: `protocol` (the `Shop` protocol and how store failures are reported),
`models` (orders, customers, products, policies, status rules), `demo` + `demo_data/` (the bundled
demo store) and `shopify/` (the Admin GraphQL adapter: queries, auth, client, mapping, shop).
May import: `mail` (to reduce search words to plain words), `circuit`; never `agent`, `tools`,
`replies` or `admin`, and no SQL (a contract checks it).

Owns stores as data too: `directory` (each store's settings, mail routing by recipient),
`secrets` (credentials encrypted at rest) and `privacy/` (Shopify's privacy requests carried out
on our data). These may import `db` and `config`, never `admin`,
`replies`, `tools` or the pipeline (a contract checks it).

Owns the Shopify app too: `shopify_app/` (install by OAuth, Shopify's webhooks: uninstall and
the privacy topics), which records stores and privacy requests and answers no mail; it may
import `db`, `config`, `state` and stores as data, never the Shop adapters, `agent`, `tools`,
`replies`, `jobs` or the pipeline (a contract checks it).
"""
