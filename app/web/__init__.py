"""The staff web page at /admin: server-rendered HTML (Jinja2), no JavaScript.

`pages.router` holds every page behind a staff session (a router-level dependency, so a new page
cannot forget it); `pages.login_router` holds only the login form and its post.
"""
