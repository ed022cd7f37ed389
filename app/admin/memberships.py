"""Which stores a staff member works in, with what role, and which one a request acts in.

A staff account belongs to stores through `StoreMembership` rows (owner or agent). Every admin
request acts in exactly one of them: a browser session's chosen store (the switcher), an API
token's bound store, or an `X-Store` header naming one of the caller's stores; a member of no
store is refused everything. Memberships change through the CLI (`grant-store`, `revoke-store`,
`create-staff --store`) and a store's owners on the Staff page (`app.admin.staff_admin`); each
change is audited in the store it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import AuditEntry, StaffUser
from app.db.statuses import StoreRole
from app.db.stores import DEFAULT_STORE_ID, Store, StoreMembership


class MembershipError(ValueError):
    """A membership cannot be given or taken as asked."""


@dataclass(frozen=True, slots=True)
class Membership:
    """One store a staff member works in, and their role there."""

    store_id: int
    slug: str
    name: str
    """The store's row name (the default store's shown name comes from the environment)."""
    role: StoreRole


async def memberships_of(session: AsyncSession, staff_id: int) -> tuple[Membership, ...]:
    """The staff member's stores, by store id (the first is their default)."""
    rows = (
        await session.execute(
            select(StoreMembership.store_id, Store.slug, Store.name, StoreMembership.role)
            .join(Store, Store.id == StoreMembership.store_id)
            .where(StoreMembership.staff_id == staff_id)
            .order_by(StoreMembership.store_id)
        )
    ).all()
    return tuple(Membership(store_id=row[0], slug=row[1], name=row[2], role=row[3]) for row in rows)


def choose(memberships: Sequence[Membership], wanted: int | None) -> Membership | None:
    """The membership for store `wanted` if the member has it, else their first (None: none)."""
    for membership in memberships:
        if membership.store_id == wanted:
            return membership
    return memberships[0] if memberships else None


def parse_slugs(values: Iterable[str] | None) -> list[str]:
    """Store slugs from repeated and comma-separated `--store` values, in order, once each."""
    slugs: list[str] = []
    for value in values or []:
        for part in value.split(","):
            slug = part.strip().lower()
            if slug and slug not in slugs:
                slugs.append(slug)
    return slugs


async def stores_by_slug(session: AsyncSession, slugs: Sequence[str]) -> list[Store]:
    """The stores named by `slugs`, in that order; an unknown slug is refused."""
    found = {
        row.slug: row
        for row in (await session.execute(select(Store).where(Store.slug.in_(slugs)))).scalars()
    }
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise MembershipError(f"no store {', '.join(missing)}")
    return [found[slug] for slug in slugs]


async def default_stores(session: AsyncSession) -> list[Store]:
    """The stores a new account joins when none is named: the default store, if it is the only.

    With several stores, which ones a person may see is a decision, never a default.
    """
    count = (await session.execute(select(func.count()).select_from(Store))).scalar_one()
    if count > 1:
        raise MembershipError("this deployment has several stores: name them with --store SLUG")
    store = await session.get(Store, DEFAULT_STORE_ID)
    if store is None:
        raise MembershipError("the default store is missing: run `python -m app migrate`")
    return [store]


async def grant(
    session: AsyncSession, user: StaffUser, store: Store, role: StoreRole, *, by: str | None
) -> None:
    """Make `user` a member of `store` with `role` (or change their role there).

    Audited as done `by` someone (None: part of creating the account, which is not audited).
    """
    membership = (
        await session.execute(
            select(StoreMembership).where(
                StoreMembership.staff_id == user.id, StoreMembership.store_id == store.id
            )
        )
    ).scalar_one_or_none()
    before = membership.role if membership is not None else None
    if membership is None:
        session.add(StoreMembership(staff_id=user.id, store_id=store.id, role=role))
    else:
        membership.role = role
    if before != role and by is not None:
        _audit(
            session,
            by,
            "grant_store",
            user,
            store,
            {"role": role.value, "was": before.value if before else None},
        )
    await session.flush()


async def revoke(session: AsyncSession, user: StaffUser, store: Store, *, by: str) -> bool:
    """Take `user` out of `store`; False if they were not a member. Audited."""
    removed = await session.execute(
        delete(StoreMembership).where(
            StoreMembership.staff_id == user.id, StoreMembership.store_id == store.id
        )
    )
    count = getattr(removed, "rowcount", 0)
    if not count:
        return False
    _audit(session, by, "revoke_store", user, store, None)
    await session.flush()
    return True


def _audit(
    session: AsyncSession,
    by: str,
    action: str,
    user: StaffUser,
    store: Store,
    detail: dict[str, object] | None,
) -> None:
    # Written with the store's id explicitly: the CLI works deployment-wide, not in a store.
    session.add(
        AuditEntry(
            store_id=store.id,
            staff_email=by,
            action=action,
            target_type="staff",
            target_id=user.id,
            detail={"email": user.email, **(detail or {})},
        )
    )
