"""Replies: rendering, verifying, the send policy, the outbox and senders."""
