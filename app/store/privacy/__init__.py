"""Shopify's privacy webhooks carried out on our data: exports, customer erasure, shop erasure.

Owns: `footprint` (one customer's rows in one store, found by the SHA-256 of their address),
`export` (`customers/data_request`: one JSON document), `erase` (`customers/redact`: anonymise
in place, keeping counts), `shop` (`shop/redact`: delete a store's rows 48 h after uninstall)
and `runner` (`process_due`: claims due requests, carries each out once, audits it).
May import: `db` (SQL is allowed here) and `config`; never the admin, the pipeline or intake.
"""
