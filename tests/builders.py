"""Builders for test inputs: emails, SendGrid posts and parsed `InboundEmail`s."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import Database
from app.db.scope import ALL_STORES, StoreScope
from app.db.stores import DEFAULT_STORE_ID
from app.demo.sendgrid_posts import SendGridPost, Transport, raw_mode_post
from app.mail.formdata import parse_form_data
from app.mail.models import InboundEmail
from app.mail.providers.sendgrid import parse_delivery, read_delivery

PAYLOADS = Path(__file__).parent / "payloads"
T = TypeVar("T")


def payload(name: str) -> bytes:
    """Read a fixture file from tests/payloads."""
    return (PAYLOADS / name).read_bytes()


def make_eml(
    *,
    sender: str = "Sara Ahmadi <sara@example.com>",
    to: str = "support@shop.test",
    subject: str = "Where is my order #1001?",
    body: str = "Hi, where is my order #1001?\n\nThanks, Sara\n",
    message_id: str | None = "<msg-1@example.com>",
    headers: list[tuple[str, str]] | None = None,
) -> bytes:
    """Build a simple, well-formed text email."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    if message_id is not None:
        message["Message-ID"] = message_id
    for name, value in headers or []:
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def verified_transport(domain: str = "example.com", **overrides: object) -> Transport:
    """Transport facts of a DKIM-verified delivery from `domain`."""
    values: dict[str, object] = {
        "envelope_from": f"sara@{domain}",
        "spf": "pass",
        "dkim": f"{{@{domain} : pass}}",
    }
    values.update(overrides)
    return Transport(**values)  # type: ignore[arg-type]


def inbound(raw: bytes, transport: Transport | None = None) -> InboundEmail:
    """Parse an email the way the worker does after a raw-mode SendGrid post."""
    post = raw_mode_post(raw, transport or verified_transport())
    return inbound_from_post(post)


def inbound_from_post(post: SendGridPost) -> InboundEmail:
    """Parse a SendGrid post (any mode) the way the worker does."""
    form = parse_form_data(post.body, post.content_type, max_parts=1000)
    return parse_delivery(form, read_delivery(form))


def http_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened, path ids set to 1.

    FastAPI includes routers lazily (`_IncludedRouter` wrappers), so `app.routes` alone does not
    list them; this walks into each wrapper's original router.
    """
    found: list[tuple[str, str]] = []

    def walk(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif getattr(route, "methods", None):
                for method in sorted(route.methods):
                    found.append((method, re.sub(r"\{[^}]+\}", "1", route.path)))

    walk(app.routes)
    return found


IN_DEFAULT_STORE = StoreScope.of(DEFAULT_STORE_ID)
"""The scope tests write their rows in: the store the single-store settings describe."""


def on_database(
    url: str,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    scope: StoreScope = ALL_STORES,
) -> T:
    """Use the database from a synchronous test (the CLI runs its own event loops)."""

    async def go() -> T:
        db = Database.connect(url)
        try:
            async with db.write(scope) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())
