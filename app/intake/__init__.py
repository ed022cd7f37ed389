"""Inbound webhooks: what a mail provider posts, stored durably before it is acknowledged.

Owns: `routes` (the webhook endpoints and their status-code promises), `auth` (Basic credentials
and provider signatures), `body` (request bodies spooled within their size limit), `writer`
(group commit of deliveries with their jobs), `messages` (stored emails, conversations and their
statuses), `events` (providers' delivery events of the replies we sent), `health` (liveness and
readiness probes, and `/metrics`), `mailbox/` (a connected mailbox: IMAP read into the same
store, replies out by SMTP), `feedback` (customers' one-click pages: satisfaction ratings
with `ratings`, unsubscribing with `unsubscribing`).
May import: `mail` (parsing), `db`, `jobs` (enqueue, queue stats), `replies` (the outbox and
delivery events), `config`, `state`, `logs`, `metrics`; never `admin`.
"""
