"""This service as a Shopify app: OAuth install, and Shopify's webhooks.

The install is `/shopify/install` then `/shopify/callback`; the webhooks (`app/uninstalled` and
the privacy topics) all arrive on `POST /webhooks/shopify`.

`signing` holds the pure checks (shop domains, Shopify's HMACs, the signed state cookie),
`oauth` talks to Shopify, `install` and `webhooks` are the routes, `records` what they write.
May import `db`, `config`, `state` and stores as data (`store.secrets`, `store.directory`);
never the Shop adapters, `agent`, `tools`, `replies`, `jobs` or the pipeline (a contract checks
it).
"""
