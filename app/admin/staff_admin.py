"""A store's owners manage its staff: list, invite, change roles, remove, disable, reset passwords.

Every operation acts in the store the request acts in, as one of its owners (the routes check the
role with a dependency; the operations check it again, under a lock, against the database). A
member is found only through this store's memberships, so another store's staff are "not found".

Disabling an account and resetting its password act on the whole account, which may work in
other stores too: they are refused unless the caller owns every store the account works in, so
the owner of one store can never take over a person who reads another store's mail. No change
may leave a store without an active owner. A generated password is returned once, to the caller,
and is written nowhere else: not in the audit detail, not in a log.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.memberships import Membership, grant, memberships_of, revoke
from app.admin.review import Conflict, NotFound, ReviewError
from app.admin.schemas import Schema, Timestamp
from app.admin.staff import Staff, StaffError, audit, create_staff, disable_staff, set_password
from app.admin.store_settings import Forbidden
from app.db.engine import Database
from app.db.models import StaffUser
from app.db.statuses import StoreRole
from app.db.stores import Store, StoreMembership

PASSWORD_BYTES = 18
"""A generated password's randomness (24 URL-safe characters, well over the 12 required)."""
OWNERS_ONLY = "only the store's owners manage its staff"
LAST_OWNER = (
    "{email} is the last active owner of {store}: make someone else an owner first, "
    "so the store keeps one"
)
OTHER_STORES = (
    "{email} also works in stores you do not own: only someone who owns all of them, or an "
    "operator with the command line, may disable the account or reset its password"
)


class Invalid(ReviewError):
    """The request names something that cannot be (an address that is not one)."""

    status = 422


class MemberView(Schema):
    """A member of the store as its owners see them (never a password or its hash)."""

    id: int
    """The staff account's id."""
    email: str
    name: str
    role: StoreRole
    active: bool
    """Whether the account may log in (a disabled account is kept, and listed)."""
    last_login_at: Timestamp | None
    member_since: Timestamp
    you: bool
    """Whether this is the caller."""


class MemberList(Schema):
    """The store's members, by email address."""

    members: list[MemberView]


class NewMember(BaseModel):
    """Someone to bring into the store: a new account, or an existing one by its email."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Annotated[str, Field(max_length=200)] = ""
    """The name shown in the admin (a new account only)."""
    role: StoreRole = StoreRole.AGENT


class RoleChange(BaseModel):
    """The member's new role in this store."""

    model_config = ConfigDict(extra="forbid")

    role: StoreRole


class Invited(Schema):
    """The member brought in; a new account's password appears here and nowhere else."""

    member: MemberView
    created: bool
    """Whether a new account was made (False: an existing account joined the store)."""
    password: str | None
    """The new account's one-time password, shown only in this answer: hand it over safely.
    None when the account existed: it keeps its password."""


class PasswordReset(Schema):
    """A member's new password, shown only in this answer; every session of theirs ended."""

    member: MemberView
    password: str
    sessions_ended: int


class DisabledMember(Schema):
    """A disabled account: it cannot log in, its sessions ended, its API tokens are revoked."""

    member: MemberView
    sessions_ended: int
    tokens_revoked: int


class Removed(Schema):
    """Who is no longer a member of this store (their account and other stores are untouched)."""

    id: int
    email: str


def new_password() -> str:
    """A random one-time password for an owner to hand over."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def owned_store(staff: Staff) -> Membership:
    """The store the request acts in, if the caller owns it (else `Forbidden`)."""
    if staff.store is None or staff.store.role is not StoreRole.OWNER:
        raise Forbidden(OWNERS_ONLY)
    return staff.store


async def list_members(db: Database, staff: Staff) -> MemberList:
    """Every member of the caller's store."""
    store = owned_store(staff)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(StaffUser, StoreMembership)
                .join(StoreMembership, StoreMembership.staff_id == StaffUser.id)
                .where(StoreMembership.store_id == store.store_id)
                .order_by(StaffUser.email)
            )
        ).all()
    return MemberList(members=[_view(user, membership, staff) for user, membership in rows])


def _view(user: StaffUser, membership: StoreMembership, staff: Staff) -> MemberView:
    return MemberView(
        id=user.id,
        email=user.email,
        name=user.name,
        role=membership.role,
        active=user.is_active,
        last_login_at=user.last_login_at,
        member_since=membership.created_at,
        you=user.id == staff.id,
    )


async def _lock(session: AsyncSession, store_ids: Iterable[int], staff: Staff) -> None:
    """Lock the stores' rows (in id order) and check the caller still owns the current store.

    Changes to a store's owners are serialised by its row, so two owners demoting each other at
    once cannot both succeed and leave the store with none (SQLite has one writer anyway).
    """
    store = owned_store(staff)
    wanted = sorted({store.store_id, *store_ids})
    await session.execute(
        select(Store.id).where(Store.id.in_(wanted)).order_by(Store.id).with_for_update()
    )
    role = (
        await session.execute(
            select(StoreMembership.role).where(
                StoreMembership.staff_id == staff.id,
                StoreMembership.store_id == store.store_id,
            )
        )
    ).scalar_one_or_none()
    if role is not StoreRole.OWNER:
        raise Forbidden(OWNERS_ONLY)


async def _member(
    session: AsyncSession, store_id: int, staff_id: int
) -> tuple[StaffUser, StoreMembership]:
    row = (
        await session.execute(
            select(StaffUser, StoreMembership)
            .join(StoreMembership, StoreMembership.staff_id == StaffUser.id)
            .where(StoreMembership.store_id == store_id, StaffUser.id == staff_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no staff member {staff_id} in this store")
    return row[0], row[1]


async def _keeps_an_owner(
    session: AsyncSession, user: StaffUser, store_id: int, store_name: str
) -> None:
    """Refuse if `user` is the store's last active owner (checked before they stop being one)."""
    others = (
        await session.execute(
            select(func.count())
            .select_from(StoreMembership)
            .join(StaffUser, StaffUser.id == StoreMembership.staff_id)
            .where(
                StoreMembership.store_id == store_id,
                StoreMembership.role == StoreRole.OWNER,
                StoreMembership.staff_id != user.id,
                StaffUser.is_active,
            )
        )
    ).scalar_one()
    if not others:
        raise Conflict(LAST_OWNER.format(email=user.email, store=store_name))


async def invite(db: Database, staff: Staff, new: NewMember) -> Invited:
    """Bring someone into the store with a role.

    A new address gets an account with a one-time password (in the answer only); an existing
    account joins as it is, keeping its password and its other stores.
    """
    store = owned_store(staff)
    address = new.email.strip().lower()
    async with db.write() as session:
        await _lock(session, (), staff)
        user = (
            await session.execute(select(StaffUser).where(StaffUser.email == address))
        ).scalar_one_or_none()
        password: str | None = None
        if user is None:
            password = new_password()
            try:
                user = await create_staff(
                    session,
                    email=address,
                    password=password,
                    name=new.name,
                    stores=[store.slug],
                    role=new.role,
                )
            except StaffError as exc:
                raise Invalid(str(exc)) from exc
            # The password is not part of the entry: it is the caller's to hand over, once.
            audit(
                session,
                staff,
                "create_staff",
                target_type="staff",
                target_id=user.id,
                detail={"email": user.email, "role": new.role.value},
            )
        else:
            if await _membership(session, user.id, store.store_id) is not None:
                raise Conflict(f"{address} is already a member of this store: change their role")
            row = await session.get(Store, store.store_id)
            if row is None:
                raise NotFound("this store no longer exists")
            await grant(session, user, row, new.role, by=staff.email)
        found, membership = await _member(session, store.store_id, user.id)
        return Invited(
            member=_view(found, membership, staff), created=password is not None, password=password
        )


async def _membership(session: AsyncSession, staff_id: int, store_id: int) -> int | None:
    return (
        await session.execute(
            select(StoreMembership.id).where(
                StoreMembership.staff_id == staff_id, StoreMembership.store_id == store_id
            )
        )
    ).scalar_one_or_none()


async def is_member(db: Database, staff: Staff, member_id: int) -> bool:
    """Whether the account works in the store `staff` acts in."""
    async with db.read() as session:
        return await _membership(session, member_id, owned_store(staff).store_id) is not None


async def change_role(db: Database, staff: Staff, member_id: int, role: StoreRole) -> MemberView:
    """Give a member another role in this store (the last active owner keeps theirs)."""
    store = owned_store(staff)
    async with db.write() as session:
        await _lock(session, (), staff)
        user, membership = await _member(session, store.store_id, member_id)
        if membership.role is role:
            return _view(user, membership, staff)
        if membership.role is StoreRole.OWNER:
            await _keeps_an_owner(session, user, store.store_id, store.name)
        row = await session.get(Store, store.store_id)
        if row is None:
            raise NotFound("this store no longer exists")
        await grant(session, user, row, role, by=staff.email)
        await session.refresh(membership)
        return _view(user, membership, staff)


async def remove(db: Database, staff: Staff, member_id: int) -> Removed:
    """Take a member out of this store; their account and other stores stay as they are."""
    store = owned_store(staff)
    async with db.write() as session:
        await _lock(session, (), staff)
        user, membership = await _member(session, store.store_id, member_id)
        if membership.role is StoreRole.OWNER:
            await _keeps_an_owner(session, user, store.store_id, store.name)
        row = await session.get(Store, store.store_id)
        if row is None or not await revoke(session, user, row, by=staff.email):
            raise NotFound(f"no staff member {member_id} in this store")
        return Removed(id=user.id, email=user.email)


async def _whole_account(
    session: AsyncSession, staff: Staff, member_id: int
) -> tuple[StaffUser, StoreMembership, tuple[Membership, ...]]:
    """A member whose whole account the caller may act on: they own every store it works in."""
    store = owned_store(staff)
    user, _ = await _member(session, store.store_id, member_id)
    await _lock(session, [m.store_id for m in await memberships_of(session, user.id)], staff)
    user, membership = await _member(session, store.store_id, member_id)
    theirs = await memberships_of(session, user.id)
    owned = {
        m.store_id for m in await memberships_of(session, staff.id) if m.role is StoreRole.OWNER
    }
    if any(m.store_id not in owned for m in theirs):
        raise Forbidden(OTHER_STORES.format(email=user.email))
    return user, membership, theirs


async def disable(db: Database, staff: Staff, member_id: int) -> DisabledMember:
    """Disable a member's account: no login, sessions ended, API tokens revoked for good."""
    async with db.write() as session:
        user, membership, theirs = await _whole_account(session, staff, member_id)
        if not user.is_active:
            raise Conflict(f"{user.email} is disabled already")
        for other in theirs:
            if other.role is StoreRole.OWNER:
                await _keeps_an_owner(session, user, other.store_id, other.name)
        done = await disable_staff(session, email=user.email)
        audit(
            session,
            staff,
            "disable_staff",
            target_type="staff",
            target_id=user.id,
            detail={"email": user.email, "sessions": done.sessions, "tokens": done.tokens},
        )
        await session.refresh(user)
        return DisabledMember(
            member=_view(user, membership, staff),
            sessions_ended=done.sessions,
            tokens_revoked=done.tokens,
        )


async def reset_password(db: Database, staff: Staff, member_id: int) -> PasswordReset:
    """Give a member a new random password, returned once; every session of theirs ends."""
    async with db.write() as session:
        user, membership, _ = await _whole_account(session, staff, member_id)
        password = new_password()
        ended = await set_password(session, email=user.email, password=password)
        # The entry says a password was set, and by whom; never the password.
        audit(
            session,
            staff,
            "reset_password",
            target_type="staff",
            target_id=user.id,
            detail={"email": user.email, "sessions": ended},
        )
        return PasswordReset(
            member=_view(user, membership, staff), password=password, sessions_ended=ended
        )
