"""Listing and revoking admin API tokens (creating one is in `app.admin.staff`).

A listing never shows a token itself, only the characters it starts with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiToken, StaffUser, utcnow
from app.db.statuses import TokenScope


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """An API token as listed: never the token itself, only the prefix it starts with."""

    id: int
    prefix: str
    staff_email: str
    name: str
    scope: TokenScope
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        """`active`, `expired` or `revoked`."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.expires_at <= utcnow() else "active"


async def list_api_tokens(
    session: AsyncSession, *, staff_id: int | None = None, email: str | None = None
) -> list[TokenInfo]:
    """The tokens, newest first, of one account (by id or email) or of every account."""
    query = (
        select(ApiToken, StaffUser.email)
        .join(StaffUser, StaffUser.id == ApiToken.staff_id)
        .order_by(ApiToken.id.desc())
    )
    if staff_id is not None:
        query = query.where(ApiToken.staff_id == staff_id)
    if email is not None:
        query = query.where(StaffUser.email == email.strip().lower())
    rows = (await session.execute(query)).all()
    return [_info(api_token, owner) for api_token, owner in rows]


def _info(api_token: ApiToken, owner: str) -> TokenInfo:
    return TokenInfo(
        id=api_token.id,
        prefix=api_token.prefix,
        staff_email=owner,
        name=api_token.name,
        scope=api_token.scope,
        created_at=api_token.created_at,
        expires_at=api_token.expires_at,
        last_used_at=api_token.last_used_at,
        revoked_at=api_token.revoked_at,
    )


async def revoke_api_token(
    session: AsyncSession, token_id: int, *, staff_id: int | None = None
) -> TokenInfo | None:
    """Revoke a token (of `staff_id` only, when given); None if there is no such token.

    Revoking twice is not an error: the first revocation time is kept.
    """
    query = (
        select(ApiToken, StaffUser.email)
        .join(StaffUser, StaffUser.id == ApiToken.staff_id)
        .where(ApiToken.id == token_id)
    )
    if staff_id is not None:
        query = query.where(ApiToken.staff_id == staff_id)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        return None
    api_token, owner = row
    if api_token.revoked_at is None:
        api_token.revoked_at = utcnow()
        await session.flush()
    return _info(api_token, owner)
