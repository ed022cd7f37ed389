"""Customers' one-click links: signed tokens for satisfaction ratings and unsubscribing.

A token is `<purpose>.<id>.<expires>.<signature>`: the row it is about (a reply, a follow-up),
when it stops working (0: never), and an HMAC-SHA256 of the rest under a secret from settings
(`AftersaleSettings.link_secret`). It names ids only, never an address. Single use is the
caller's rule, kept in the database (a rated reply refuses a second rating). Pure functions.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from app.replies.catalogs import template_language, translations
from app.replies.senders import MailSender, OutgoingEmail, SendResult

_SIGNATURE_BYTES = 16


def _(message: str) -> str:
    """Marks a message for extraction (`make messages`); translated where it is used."""
    return message


class Purpose(StrEnum):
    """What a token may do (a token for one purpose never works for another)."""

    RATE = "rate"
    """Rate one reply (good / not good)."""
    NOTE = "note"
    """Add the optional comment to a rating just given."""
    UNSUBSCRIBE = "unsub"
    """Stop proactive email to the follow-up's recipient from its store."""


class BadToken(Exception):
    """A token that is malformed, forged or expired (the message says which, for the page)."""


def sign(secret: bytes, purpose: Purpose, ident: int, *, expires: datetime | None) -> str:
    """A token for `purpose` on row `ident`, working until `expires` (None: always)."""
    stamp = int(expires.timestamp()) if expires is not None else 0
    body = f"{purpose.value}.{ident}.{stamp}"
    return f"{body}.{_signature(secret, body)}"


def read(secret: bytes, token: str, purpose: Purpose, *, now: datetime) -> int:
    """The row id a valid token names. Raises `BadToken` for anything else."""
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != purpose.value:
        raise BadToken("malformed")
    body = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3], _signature(secret, body)):
        raise BadToken("forged")
    try:
        ident, stamp = int(parts[1]), int(parts[2])
    except ValueError:
        raise BadToken("malformed") from None
    if stamp and now.timestamp() > stamp:
        raise BadToken("expired")
    return ident


def _signature(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, kw_only=True)
class LinkMaker:
    """Makes customers' links under the service's public origin."""

    origin: str
    secret: bytes

    def rating(self, reply_id: int, *, expires: datetime) -> str:
        """The satisfaction page of one reply."""
        token = sign(self.secret, Purpose.RATE, reply_id, expires=expires)
        return f"{self.origin}/r/{token}"

    def unsubscribe(self, followup_id: int) -> str:
        """The one-click unsubscribe URL of one proactive email (it never expires)."""
        token = sign(self.secret, Purpose.UNSUBSCRIBE, followup_id, expires=None)
        return f"{self.origin}/u/{token}"


_("How did we do? Rate this reply:")
_("Good")
_("Not good")


class WithRatingLinks:
    """A `MailSender` that adds the satisfaction links to every reply on its way out.

    Added at sending, after the verifier passed the reply (the links are the service's own),
    to replies only: an email without a `reply_id` (a follow-up) passes unchanged.
    """

    def __init__(self, inner: MailSender, links: LinkMaker, *, days: int) -> None:
        self.inner = inner
        self.links = links
        self.days = days
        self.kind: str = str(getattr(inner, "kind", "mail"))

    async def send(self, email: OutgoingEmail) -> SendResult:
        reply_id = email.custom_args.get("reply_id", "")
        if not reply_id.isdigit():
            return await self.inner.send(email)
        url = self.links.rating(
            int(reply_id), expires=datetime.now(UTC) + timedelta(days=self.days)
        )
        words = translations(template_language(email.language or "en"))
        ask, good, bad = (
            words.gettext(m) for m in ("How did we do? Rate this reply:", "Good", "Not good")
        )
        text = (
            f"{email.text.rstrip()}\n\n{ask}\n"
            f"{good}: {url}?rating=good\n{bad}: {url}?rating=not_good\n"
        )
        footer = (
            f'<p style="font-size:13px;color:#666">{html.escape(ask)} '
            f'<a href="{html.escape(url)}?rating=good">{html.escape(good)}</a> · '
            f'<a href="{html.escape(url)}?rating=not_good">{html.escape(bad)}</a></p>'
        )
        body = email.html
        at = body.lower().rfind("</body>")
        body = f"{body[:at]}{footer}\n{body[at:]}" if at >= 0 else f"{body}\n{footer}"
        return await self.inner.send(dataclasses.replace(email, text=text, html=body))
