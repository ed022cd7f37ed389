"""Support staff: accounts, passwords, browser sessions, API tokens and the audit log.

Passwords are hashed with argon2id. Session cookies and API tokens are random secrets of which
only a SHA-256 hash is stored, so a copy of the database logs nobody in. Sessions are rows on the
server, so every credential can be taken back: a new password ends all of the account's sessions,
disabling an account also revokes its tokens, and tokens expire, are listed and are revoked.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.memberships import (
    Membership,
    choose,
    default_stores,
    grant,
    memberships_of,
    stores_by_slug,
)
from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, StaffSession, StaffUser, utcnow
from app.db.statuses import StoreRole, TokenScope
from app.db.stores import StoreMembership

MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "ssm_"  # noqa: S105 - a label that makes leaked tokens recognisable, not a secret.
_HASHER = PasswordHasher()
# A token's last use is written at most this often, so API reads rarely cost a write.
TOKEN_USE_RESOLUTION = timedelta(minutes=5)


@functools.cache
def dummy_hash() -> str:
    """A hash of a random password, made on first use (a tenth of a second) and kept.

    Verifying against it keeps a login for an unknown email as slow as one for a known email.
    """
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Staff:
    """The staff member behind a request."""

    id: int
    email: str
    name: str
    csrf_token: str | None = None
    """Set for browser sessions: forms must echo it back."""
    scope: TokenScope = TokenScope.REVIEW
    """What the credentials may do; a browser session may review."""
    token_id: int | None = None
    """The API token used, if any."""
    login_hash: str | None = field(default=None, repr=False)
    """For a password login: the hash it verified. A session opens only while it is still the
    account's, so a password set during the login's check ends that login too."""
    chosen_store_id: int | None = None
    """The store the credentials name: the session's switcher choice, or the token's store."""
    memberships: tuple[Membership, ...] = ()
    """Every store the member works in (set by the auth dependencies)."""
    store: Membership | None = None
    """The store this request acts in, and the member's role there (set by the auth
    dependencies; a request with none is refused before any handler runs)."""

    @property
    def store_id(self) -> int | None:
        """The id of the store this request acts in."""
        return self.store.store_id if self.store is not None else None

    @property
    def role(self) -> StoreRole | None:
        """The member's role in the store this request acts in."""
        return self.store.role if self.store is not None else None

    def in_store(self, memberships: tuple[Membership, ...], store: Membership | None) -> Staff:
        """This staff member acting in `store` (one of `memberships`)."""
        return replace(self, memberships=memberships, store=store)


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
    session: AsyncSession,
    *,
    email: str,
    password: str,
    name: str = "",
    stores: Sequence[str] | None = None,
    role: StoreRole = StoreRole.OWNER,
) -> StaffUser:
    """Create an account, or reset the password and reactivate an existing one.

    The account becomes a member of `stores` (slugs) with `role`. Without `stores`, a new account
    (or one in no store yet) joins the default store, but only while it is the deployment's only
    store; an existing member keeps the stores they have.
    """
    address = email.strip().lower()
    if "@" not in address or len(address) > 320:
        raise StaffError("a staff account needs a valid email address")
    hashed = hash_password(password)
    joining = await stores_by_slug(session, list(stores)) if stores else None
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
        await end_all_sessions(session, user.id)
    await session.flush()
    if joining is None and not await _has_membership(session, user.id):
        joining = await default_stores(session)
    for store in joining or []:
        await grant(session, user, store, role, by=None)
    return user


async def _has_membership(session: AsyncSession, staff_id: int) -> bool:
    found = await session.execute(
        select(StoreMembership.id).where(StoreMembership.staff_id == staff_id).limit(1)
    )
    return found.first() is not None


async def account(session: AsyncSession, email: str) -> StaffUser:
    """The staff account with this email address (refused if there is none)."""
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None:
        raise StaffError(f"no staff account {email!r}")
    return user


async def set_password(session: AsyncSession, *, email: str, password: str) -> int:
    """Give an existing account a new password; every session it had ends. Returns how many."""
    hashed = hash_password(password)
    user = await account(session, email)
    user.password_hash = hashed
    return await end_all_sessions(session, user.id)


@dataclass(frozen=True, slots=True)
class Disabled:
    """What disabling an account took back."""

    sessions: int
    tokens: int


async def disable_staff(session: AsyncSession, *, email: str) -> Disabled:
    """Disable an account: its sessions end and its tokens are revoked for good.

    Revoking (not only refusing while disabled) means re-enabling the account with
    `create-admin` brings back the person, not the tokens that may have leaked meanwhile.
    """
    user = await account(session, email)
    user.is_active = False
    sessions = await end_all_sessions(session, user.id)
    revoked = await session.execute(
        update(ApiToken)
        .where(ApiToken.staff_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return Disabled(sessions=sessions, tokens=_rowcount(revoked))


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0


async def end_all_sessions(session: AsyncSession, staff_id: int) -> int:
    """End every open browser session of an account; returns how many were open."""
    now = utcnow()
    result = await session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.expires_at > now)
        .values(expires_at=now)
    )
    return _rowcount(result)


def _password_matches(hashed: str | None, password: str) -> bool:
    """Whether the password matches the hash (runs in a thread: it takes a tenth of a second).

    Without a hash (an unknown email) the password is checked against `dummy_hash()` all the
    same, so the answer takes as long, and it is False.
    """
    if hashed is None:
        _password_matches(dummy_hash(), password)
        return False
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
        hashed = user.password_hash if user is not None else None
        active = user is not None and user.is_active
    matches = await asyncio.to_thread(_password_matches, hashed, password)
    if user is None or hashed is None or not active or not matches:
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
    return Staff(id=user.id, email=user.email, name=user.name, login_hash=rehash or hashed)


class AccountChanged(Exception):
    """The account was disabled, or got a new password, while its login was being checked."""


async def start_session(session: AsyncSession, staff: Staff, *, hours: int) -> tuple[str, str]:
    """Open a browser session; return the cookie value and its CSRF token.

    Raises:
        AccountChanged: the account is disabled, or for a password login
            (`staff.login_hash`) its password changed since the login checked it. The row is
            locked, so a concurrent `set-password` either comes first and is seen here, or
            waits and then ends this session with the others.
    """
    current = (
        await session.execute(
            select(StaffUser.password_hash, StaffUser.is_active)
            .where(StaffUser.id == staff.id)
            .with_for_update()
        )
    ).one_or_none()
    if current is None or not current.is_active:
        raise AccountChanged(staff.id)
    if staff.login_hash is not None and current.password_hash != staff.login_hash:
        raise AccountChanged(staff.id)
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
    return Staff(
        id=user.id,
        email=user.email,
        name=user.name,
        csrf_token=login.csrf_token,
        chosen_store_id=login.store_id,
    )


async def switch_store(session: AsyncSession, token: str, store_id: int) -> None:
    """Make `store_id` the store a browser session acts in (the caller checked membership)."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == _digest(token))
        .values(store_id=store_id)
    )


async def end_session(session: AsyncSession, token: str) -> None:
    """Log a browser session out."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == _digest(token))
        .values(expires_at=utcnow())
    )


async def create_api_token(
    session: AsyncSession,
    *,
    email: str,
    name: str = "",
    scope: TokenScope = TokenScope.REVIEW,
    days: int = 90,
    store: str | None = None,
) -> str:
    """A new API token for an active account; the token itself is shown only this once.

    The token works in one store: `store` (a slug the account is a member of), or by default
    the account's first store.
    """
    if days < 1:
        raise StaffError("a token must last at least one day")
    user = (
        await session.execute(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    ).scalar_one_or_none()
    if user is None or not user.is_active:
        raise StaffError(f"no active staff account {email!r}")
    stores = await memberships_of(session, user.id)
    bound = next((m for m in stores if m.slug == store), None) if store else choose(stores, None)
    if bound is None:
        raise StaffError(
            f"{user.email} is not a member of store {store!r}"
            if store
            else f"{user.email} is a member of no store: grant one with `grant-store`"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=_digest(token),
            prefix=token[:12],
            staff_id=user.id,
            store_id=bound.store_id,
            name=name.strip(),
            scope=scope,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    await session.flush()
    return token


async def _token_lookup(session: AsyncSession, token: str) -> tuple[Staff, datetime | None] | None:
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
    if api_token.revoked_at is not None or api_token.expires_at <= utcnow() or not user.is_active:
        return None
    staff = Staff(
        id=user.id,
        email=user.email,
        name=user.name,
        scope=api_token.scope,
        token_id=api_token.id,
        chosen_store_id=api_token.store_id,
    )
    return staff, api_token.last_used_at


async def staff_for_token(session: AsyncSession, token: str) -> Staff | None:
    """The staff member an API token belongs to, if it is valid, unexpired and not revoked."""
    found = await _token_lookup(session, token)
    return found[0] if found is not None else None


async def use_api_token(db: Database, token: str) -> Staff | None:
    """Like `staff_for_token`, and note when the token was last used (to spot unused ones)."""
    async with db.read() as session:
        found = await _token_lookup(session, token)
    if found is None:
        return None
    staff, last_used = found
    now = utcnow()
    if last_used is None or last_used < now - TOKEN_USE_RESOLUTION:
        async with db.write() as session:
            await session.execute(
                update(ApiToken).where(ApiToken.id == staff.token_id).values(last_used_at=now)
            )
    return staff


def audit(
    session: AsyncSession,
    staff: Staff,
    action: str,
    *,
    target_type: str,
    target_id: int | None,
    message_id: int | None = None,
    detail: dict[str, Any] | None = None,
    store_id: int | None = None,
) -> None:
    """Record a staff action in the caller's transaction (it commits with the change itself).

    In a store's unit of work the entry is that store's (`app.db.scope` stamps it); elsewhere
    it names `store_id`, or no store for account-wide actions (logins, passwords, tokens).
    """
    session.add(
        AuditEntry(
            store_id=store_id,
            staff_email=staff.email,
            action=action,
            target_type=target_type,
            target_id=target_id,
            message_id=message_id,
            detail=detail,
        )
    )
