"""The store: the Shop protocol and models, the demo store, the Shopify adapter."""
