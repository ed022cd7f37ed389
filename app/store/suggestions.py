"""Suggested products and their clicks: how often the right next product is shown and followed.

A suggestion's link is `<base>/p/<token>`: the token is 32 random bytes (URL-safe), stored only
as its SHA-256, so a link cannot be guessed or forged and a leaked table does not hold working
links. Following it counts one click and redirects to the product URL stored with the suggestion
when the reply was made, never to anything the link carries: the service is no open redirect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import ProductSuggestion
from app.db.scope import ALL_STORES

REDIRECT_PREFIX = "/p/"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def record_suggestion_in(
    session: Session,
    *,
    store_id: int,
    product_id: str,
    product_title: str,
    url: str,
    now: datetime,
) -> str:
    """Keep one shown suggestion and return its new token (the only copy of it)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ProductSuggestion(
            store_id=store_id,
            token_hash=_hash(token),
            product_id=product_id[:100],
            product_title=product_title[:300],
            url=url,
            created_at=now,
            clicks=0,
        )
    )
    return token


def redirect_link(base_url: str, token: str) -> str:
    """The link a reply shows for a suggestion."""
    return f"{base_url.rstrip('/')}{REDIRECT_PREFIX}{token}"


def follow_in(session: Session, token: str, *, now: datetime) -> str | None:
    """Count a click on `token` and return the stored product URL (None: no such suggestion).

    Runs deployment-wide (the link names no store); the row found says which store it is.
    """
    if not _TOKEN.fullmatch(token):
        return None
    row = session.scalars(
        select(ProductSuggestion).where(ProductSuggestion.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    session.execute(
        update(ProductSuggestion)
        .where(ProductSuggestion.id == row.id)
        .values(clicks=ProductSuggestion.clicks + 1, last_clicked_at=now)
    )
    return row.url


async def follow(db: Database, token: str, *, now: datetime) -> str | None:
    """`follow_in` as its own deployment-wide unit of work."""
    return await db.unit(lambda s: follow_in(s, token, now=now), ALL_STORES)


@dataclass(frozen=True, slots=True)
class SuggestionStats:
    """How often one product was suggested (shown) and how often its link was followed."""

    product_id: str
    title: str
    shown: int
    clicked: int
    """Suggestions whose link was followed at least once."""
    clicks: int
    """Every click, repeated ones included."""


def suggestion_report_in(
    session: Session, store_id: int, *, since: datetime | None = None
) -> list[SuggestionStats]:
    """Shown and clicked per product for one store (most shown first), from `since` if given."""
    query = (
        select(
            ProductSuggestion.product_id,
            func.max(ProductSuggestion.product_title),
            func.count(),
            func.count(ProductSuggestion.last_clicked_at),
            func.coalesce(func.sum(ProductSuggestion.clicks), 0),
        )
        .where(ProductSuggestion.store_id == store_id)
        .group_by(ProductSuggestion.product_id)
    )
    if since is not None:
        query = query.where(ProductSuggestion.created_at >= since)
    rows = [
        SuggestionStats(
            product_id=str(pid),
            title=str(title),
            shown=int(shown),
            clicked=int(clicked),
            clicks=int(clicks),
        )
        for pid, title, shown, clicked, clicks in session.execute(query).all()
    ]
    return sorted(rows, key=lambda r: (-r.shown, r.title))
