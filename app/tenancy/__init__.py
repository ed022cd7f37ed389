"""Many stores in one deployment: each store's settings, credentials, and where mail goes.

`directory` reads stores (the default one from the environment) and routes mail by recipient;
`secrets` encrypts credentials at rest. Row scoping itself lives in `app.db.scope`.
"""
