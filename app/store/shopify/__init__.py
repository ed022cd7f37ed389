"""Shopify Admin GraphQL."""
