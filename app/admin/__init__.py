"""The admin for support staff: the JSON API under /admin/api and the web page at /admin.

Owns staff accounts and sessions, review decisions (approve, edit, reject, proposals),
reporting read models (`reporting`, `figures`) and their response models (`schemas`), the words
staff see for statuses (`filters`), and the server-rendered pages (`pages` routes, `screens`
content; Jinja2, no JavaScript). `pages.router` holds every page behind a staff session (a
router-level dependency, so a new page cannot forget it); `pages.login_router` holds only the
login form and its post; `api.router` holds the JSON API and its docs (`docs`: /admin/docs,
/admin/openapi.json) behind a bearer token or a staff session; `throttle` slows password
guessing; `commands` are the staff and token commands of the CLI (`tokens` lists and revokes
tokens). Staff work in stores (`memberships`: owner or agent per store); every request acts in
one store, and handlers get the database only as that store sees it (`auth.StoreDb`).
`store_routes` holds the store switcher and the stores page and API (`store_settings`);
`shops` says which Shopify connection the admin may use for a store; `suppressions` lists
and lifts the store's suppressed addresses. Only `app.main` and
`app.cli` import this package.
"""
