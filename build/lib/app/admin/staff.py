"""Support staff: accounts, passwords, browser sessions, API tokens and the audit log.

Passwords are hashed with argon2id. Session cookies and API tokens are random secrets of which
only a SHA-256 hash is stored, so a copy of the database logs nobody in.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, StaffSession, StaffUser, utcnow

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "ssm_"  # noqa: S105 - a label that makes leaked tokens recognisable, not a secret.
_HASHER = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as one for a known email.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Staff:
    """The staff member behind a request."""

    id: int
    email: str
    name: str
    csrf_token: str | None = None
    """Set for browser sessions: forms must echo it back."""


class StaffError(ValueError):
    """An account cannot be created or changed as asked."""


def hash_password(password: str) -> str:
    """An argon2id hash of a password that is long enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return _HASHER.hash(password)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_staff(
    session: AsyncSession, *, email: str, password: str, name: str = ""
) -> StaffUser:
    """Create an account, or reset the password and reactivate an existing one."""
    address = email.strip().lower()
    if "@" not in address or len(address) > 320:
        raise StaffError("a staff account needs a valid email address")
    hashed = hash_password(password)
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == address))
    ).scalar_one_or_none()
    if user is None:
        user = StaffUser(email=address, name=name.strip(), password_hash=hashed, is_active=True)
        session.add(user)
    else:
        user.password_hash = hashed
        user.is_active = True
        user.name = name.strip() or user.name
    await session.flush()
    return user


def _password_matches(hashed: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(hashed, password))
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(db: Database, email: str, password: str) -> Staff | None:
    """The active staff member with these credentials, or None.

    The hash check (about 0.1 s of CPU by design) runs in a thread, outside any transaction,
    so a login never stalls webhook intake or holds SQLite's write lock.
    """
    address = email.strip().lower()
    async with db.read() as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.email == address))
        ).scalar_one_or_none()
        hashed = user.password_hash if user is not None else _DUMMY_HASH
        active = user is not None and user.is_active
    matches = await asyncio.to_thread(_password_matches, hashed, password)
    if user is None or not active or not matches:
        return None
    rehash = (
        await asyncio.to_thread(_HASHER.hash, password)
        if _HASHER.check_needs_rehash(hashed)
        else None
    )
    async with db.write() as session:
        values: dict[str, Any] = {"last_login_at": utcnow()}
        if rehash is not None:
            values["password_hash"] = rehash
        await session.execute(update(StaffUser).where(StaffUser.id == user.id).values(**values))
    return Staff(id=user.id, email=user.email, name=user.name)


@dataclass
class LoginThrottle:
    """Refuses a login for a while after repeated failures for the same account and address.

    In memory, per process: it slows down password guessing; the argon2 cost does the rest.
    """

    max_failures: int = 5
    window_seconds: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again (0: now)."""
        recent = self._recent(key)
        if len(recent) < self.max_failures:
            return 0.0
        return max(0.0, recent[0] + self.window_seconds - self.clock())

    def failed(self, key: str) -> None:
        """Count a failed attempt."""
        self._recent(key).append(self.clock())
        if len(self._failures) > 10_000:
            # Forget the oldest keys rather than grow without bound under a spray of guesses.
            for stale in list(self._failures)[:5_000]:
                del self._failures[stale]

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key that logged in."""
        self._failures.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        entries = self._failures.setdefault(key, deque())
        while entries and entries[0] < self.clock() - self.window_seconds:
            entries.popleft()
        return entries


async def start_session(session: AsyncSession, staff: Staff, *, hours: int) -> tuple[str, str]:
    """Open a browser session; return the cookie value and its CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=_digest(token),
            staff_id=staff.id,
            csrf_token=csrf,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    await session.flush()
    return token, csrf


async def staff_for_session(session: AsyncSession, token: str) -> Staff | None:
    """The staff member a session cookie belongs to, if it is valid and unexpired."""
    row = (
        await session.execute(
            select(StaffSession, StaffUser)
            .join(StaffUser, StaffUser.id == StaffSession.staff_id)
            .where(StaffSession.token_hash == _digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    login, user = row
    if login.expires_at <= utcnow() or not user.is_active:
        return None
    return Staff(id=user.id, email=user.email, name=user.name, csrf_token=login.csrf_token)


async def end_session(session: AsyncSession, token: str) -> None:
    """Log a browser session out."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == _digest(token))
        .values(expires_at=utcnow())
    )


async def create_api_token(session: AsyncSession, *, email: str, name: str = "") -> str:
    """A new API token for an active account; the token itself is shown only this once."""
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        raise StaffError(f"no active staff account {email!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=_digest(token),
            prefix=token[:12],
            staff_id=user.id,
            name=name.strip(),
        )
    )
    await session.flush()
    return token


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    """The staff member an API token belongs to, if it is valid and not revoked."""
    row = (
        await session.execute(
            select(ApiToken, StaffUser)
            .join(StaffUser, StaffUser.id == ApiToken.staff_id)
            .where(ApiToken.token_hash == _digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.is_active:
        return None
    return Staff(id=user.id, email=user.email, name=user.name)


def audit(
    session: AsyncSession,
    staff: Staff,
    action: str,
    *,
    target_type: str,
    target_id: int | None,
    message_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a staff action in the caller's transaction (it commits with the change itself)."""
    session.add(
        AuditEntry(
            staff_email=staff.email,
            action=action,
            target_type=target_type,
            target_id=target_id,
            message_id=message_id,
            detail=detail,
        )
    )
