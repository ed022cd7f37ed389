"""Pure mail handling: from bytes or a provider's form to a provider-neutral `InboundEmail`.

Owns: `models`, `formdata`, `mime`, `ceilings` (limits on one email, counted while it is parsed),
`charsets`, `cleantext`, `guards` (never answer machines), `identity` (who really sent it), and
one adapter per inbound provider (`sendgrid`). `delivery` and `events/` (one module per provider)
read what providers report of the emails we sent.
May import: nothing of the app outside `mail`; no SQL, no web framework (a contract checks it).
"""
