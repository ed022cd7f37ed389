"""The stores page's model: the stores a member works in, and the settings owners may change.

Only a store's owners change its settings, and only the ones that are not secrets: the display
name, the support addresses mail is routed by, which intents may be sent without review and at
what confidence, and shadow mode. Credentials are never read here, let alone shown. The default
store's settings come from the environment, so it is shown read-only. Each change is audited in
the store it changes, and the process's store directory is told to read the stores again.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.admin.memberships import Membership
from app.admin.review import Conflict, NotFound, ReviewError
from app.admin.staff import Staff, audit
from app.agent.plan import Intent
from app.db.engine import Database
from app.db.statuses import StoreRole, StoreStatus
from app.db.stores import Store
from app.store.directory import StoreConfig, StoreDirectory

MAX_ADDRESSES = 20
FROM_ENVIRONMENT = (
    "This is the default store: its settings come from the environment (STORE_NAME, "
    "SUPPORT_FROM_EMAIL, SUPPORT_ADDRESSES, AUTO_SEND_INTENTS, AUTO_SEND_MIN_CONFIDENCE, "
    "SHADOW_MODE) and are changed there, not here."
)


class StoreView(BaseModel):
    """One store as its members see it (never its credentials)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    slug: str
    name: str
    role: StoreRole
    """The caller's role in this store."""
    current: bool
    """Whether the request acts in this store."""
    status: StoreStatus
    shop_domain: str | None
    support_email: str
    """The address replies come from."""
    support_addresses: list[str]
    """Every address whose mail belongs to this store."""
    auto_send_intents: list[str]
    """Intents whose replies may be sent without review."""
    auto_send_min_confidence: float
    shadow_mode: bool
    """Whether nothing is sent automatically (drafts only)."""
    editable: bool
    """Whether the caller may change these settings here (owners, not the default store)."""
    note: str | None = None


class StoreList(BaseModel):
    """The stores the caller works in."""

    stores: list[StoreView]


Address = Annotated[str, Field(min_length=3, max_length=320)]


class StoreUpdate(BaseModel):
    """The settings to change; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    support_addresses: Annotated[list[Address], Field(max_length=MAX_ADDRESSES)] | None = None
    """Every address whose mail belongs to the store (the reply address always does)."""
    auto_send_intents: list[Intent] | None = None
    auto_send_min_confidence: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    shadow_mode: bool | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a store needs a name")
        return value.strip() if value is not None else None

    @field_validator("support_addresses")
    @classmethod
    def _check_addresses(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        cleaned: list[str] = []
        for raw in value:
            address = raw.strip().lower()
            local, _, domain = address.partition("@")
            if not local or "." not in domain or any(c.isspace() for c in address):
                raise ValueError(f"{raw!r} is not an email address")
            if address not in cleaned:
                cleaned.append(address)
        return cleaned


def view(config: StoreConfig, membership: Membership, *, current: bool) -> StoreView:
    """A store as the member sees it."""
    return StoreView(
        slug=membership.slug,
        name=config.name,
        role=membership.role,
        current=current,
        status=config.status,
        shop_domain=config.shop_domain,
        support_email=config.support_email,
        support_addresses=sorted(config.support_addresses),
        auto_send_intents=sorted(config.auto_send_intents),
        auto_send_min_confidence=config.auto_send_min_confidence,
        shadow_mode=config.shadow_mode,
        editable=membership.role is StoreRole.OWNER and not config.from_environment,
        note=FROM_ENVIRONMENT if config.from_environment else None,
    )


async def list_stores(directory: StoreDirectory, staff: Staff) -> StoreList:
    """Every store the member works in, in membership order."""
    views = []
    for membership in staff.memberships:
        config = await directory.get(membership.store_id)
        if config is not None:
            views.append(view(config, membership, current=membership == staff.store))
    return StoreList(stores=views)


class Forbidden(ReviewError):
    """Only the store's owners may do this."""

    status = 403


async def update_store(
    db: Database, directory: StoreDirectory, staff: Staff, slug: str, change: StoreUpdate
) -> StoreView:
    """Change a store's settings as one of its owners; audited in that store.

    Raises:
        NotFound: the caller is not a member of a store `slug` (whether or not it exists).
        Forbidden: the caller is an agent there.
        Conflict: it is the default store, or an address already belongs to another store.
    """
    membership = next((m for m in staff.memberships if m.slug == slug), None)
    if membership is None:
        raise NotFound(f"no store {slug} of yours")
    if membership.role is not StoreRole.OWNER:
        raise Forbidden("only the store's owners may change its settings")
    config = await directory.get(membership.store_id)
    if config is None:
        raise NotFound(f"no store {slug}")
    if config.from_environment:
        raise Conflict(FROM_ENVIRONMENT)
    if change.support_addresses is not None:
        await _check_addresses_free(directory, membership.store_id, change.support_addresses)
    async with db.write() as session:
        store = await session.get(Store, membership.store_id, with_for_update=True)
        if store is None:
            raise NotFound(f"no store {slug}")
        changed = _apply(store, change)
        if changed:
            # Written with the changed store's id: the caller may be acting in another store.
            audit(
                session,
                staff,
                "update_store",
                target_type="store",
                target_id=store.id,
                detail=changed,
                store_id=store.id,
            )
    directory.invalidate()
    updated = await directory.get(membership.store_id)
    if updated is None:
        raise NotFound(f"no store {slug}")
    return view(updated, membership, current=membership == staff.store)


async def _check_addresses_free(
    directory: StoreDirectory, store_id: int, addresses: list[str]
) -> None:
    # Mail is routed by recipient address, so one address can belong to one store only.
    for other in await directory.all():
        if other.id == store_id:
            continue
        taken = sorted(set(addresses) & other.support_addresses)
        if taken:
            raise Conflict(f"{', '.join(taken)} already belongs to another store")


def _apply(store: Store, change: StoreUpdate) -> dict[str, dict[str, object]]:
    """Set the changed fields; return each change as `{field: {before, after}}`."""
    wanted: dict[str, object] = {}
    if change.name is not None:
        wanted["name"] = change.name
    if change.support_addresses is not None:
        wanted["support_addresses"] = change.support_addresses
    if change.auto_send_intents is not None:
        wanted["auto_send_intents"] = sorted({intent.value for intent in change.auto_send_intents})
    if change.auto_send_min_confidence is not None:
        wanted["auto_send_min_confidence"] = change.auto_send_min_confidence
    if change.shadow_mode is not None:
        wanted["shadow_mode"] = change.shadow_mode
    changed: dict[str, dict[str, object]] = {}
    for name, after in wanted.items():
        before = getattr(store, name)
        if before != after:
            setattr(store, name, after)
            changed[name] = {"before": before, "after": after}
    return changed
