"""The demo: the service's main job on embedded defaults, end to end over real HTTP.

Owns: `run` (`python -m app demo`), `deliveries` (the samples as each provider posts them, and the
run's demo credentials), `sendgrid_posts` and `provider_posts` (requests shaped like SendGrid's and
the other providers' webhooks, for the demo, tests and benches), `outside_world` (Resend's and
Amazon SNS's signing and an in-process fake of the APIs the worker fetches from) and the sample
emails in `samples/`.
May import: anything; it is an entry point like `app.main`.
"""
