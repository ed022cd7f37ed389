"""The store as this service sees it: typed facts, never a vendor's JSON.

Owns: `protocol` (the `Shop` protocol and how store failures are reported), `models` (orders,
customers, products, policies, status rules), `demo` + `demo_data/` (the bundled demo store) and
`shopify/` (the Admin GraphQL adapter: queries, auth, client, mapping, shop).
May import: `mail` (to reduce search words to plain words), `circuit`; never `agent`, `tools`,
`replies` or `admin`, and no SQL (a contract checks it).
"""
