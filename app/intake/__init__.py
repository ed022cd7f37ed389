"""Inbound webhooks, their authentication, the durable writer and stored messages."""
