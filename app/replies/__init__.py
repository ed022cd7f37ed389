"""Replies: rendering, verifying, the send policy, the outbox and senders.

`facts` is the base class every tool's facts subclass to present themselves, `catalogs` the
languages (one Babel catalog each under `locales/`), `render` + `draw` + `templates/` the reply
itself. Nothing here imports a tool module.
"""
