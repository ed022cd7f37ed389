"""This service as a Shopify app: OAuth install, and Shopify's webhooks.

The install is `/shopify/install` then `/shopify/callback`; the webhooks (`app/uninstalled` and
the privacy topics) all arrive on `POST /webhooks/shopify`.

`signing` holds the pure checks (shop domains, Shopify's HMACs, the signed state cookie),
`oauth` talks to Shopify, `install` and `webhooks` are the routes and what they write.
"""
