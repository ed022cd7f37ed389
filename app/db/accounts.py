"""Staff accounts, their browser sessions and their API tokens (only hashes of secrets)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import TokenScope
from app.db.text import SafeString


class StaffUser(Base):
    """A support staff account for the admin."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(SafeString(320), unique=True)
    name: Mapped[str] = mapped_column(SafeString(200), default="")
    password_hash: Mapped[str] = mapped_column(SafeString(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class StaffSession(Base):
    """A logged-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(SafeString(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    """The store the switcher chose (None: the member's first store)."""
    csrf_token: Mapped[str] = mapped_column(SafeString(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for the admin JSON API (only its hash is stored)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(SafeString(64), unique=True)
    prefix: Mapped[str] = mapped_column(SafeString(16))
    """The token's first characters, to tell tokens apart in listings."""
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    """The one store the token works in (None: the owner's first store)."""
    name: Mapped[str] = mapped_column(SafeString(200), default="")
    scope: Mapped[TokenScope] = mapped_column(
        stored_enum(TokenScope, length=16, constraint="ck_api_tokens_scope"),
        default=TokenScope.REVIEW,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    """After this the token is refused (`API_TOKEN_DAYS` after creation by default)."""
    last_used_at: Mapped[datetime | None]
    """Updated at most every few minutes, so using a token rarely costs a write."""
    revoked_at: Mapped[datetime | None]
