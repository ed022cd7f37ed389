"""Replies: rendering, verifying, the send policy, the outbox and senders.

`facts` is the base class every tool's facts subclass to present themselves, `catalogs` the
languages (one Babel catalog each under `locales/`), `render` + `draw` + `templates/` the reply
itself; `verify`, `policy`, `outbox` and `senders` decide and deliver it, `commitments` (its
words per language in `commitment_words`) finds promises in the model's paragraph for `verify`;
`deliveries` records what providers report of sent replies (`mail.delivery` events) and keeps
the suppression list. After the sale: `links` (signed satisfaction and unsubscribe links, and
the sender that adds rating links to replies), `followups` (proactive emails' rendering and
checks), `aftersale_settings` (their half of `Settings`).
May import: `agent.plan`, `store.models`, `mail.delivery`, `config`, `db` and `jobs` (the outbox
and `deliveries` only); never a tool module or `admin` (a contract checks it).
"""
