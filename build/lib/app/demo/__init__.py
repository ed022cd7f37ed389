"""The demo: the service's main job on embedded defaults, end to end over real HTTP.

Owns: `run` (`python -m app demo`), `sendgrid_posts` (requests shaped like SendGrid's posts, for
the demo, tests and benches) and the sample emails in `samples/`.
May import: anything; it is an entry point like `app.main`.
"""
