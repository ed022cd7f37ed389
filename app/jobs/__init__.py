"""The jobs table as a queue and the worker that drains it.

Owns: `queue` (enqueue in the caller's transaction, claim with priority and a lease, heartbeat,
retry with backoff, dead letters) and `worker` (runs claimed jobs: an inbound email through the
pipeline, a reply through the outbox (a sent staff-approved one is then kept as an example,
`store.examples`), due privacy requests through `privacy`), and `stats` (the queue's depth and
age per kind, for `/metrics`); `aftersale` (the worker's after-sale sweep) with `resolution`
(did a sent reply settle it; the automation rate) and `followups` (proactive emails after the
sale).
May import: `db`, `config`, `logs`, `metrics`, and the process steps it runs (`pipeline`,
`replies.outbox`, `privacy`, `store.examples`; for follow-ups `replies.followups`,
`replies.links`, `intake.ratings` and `intake.unsubscribing`, `providers`, stores as data).
"""
