"""Adding, listing, disabling and re-keying stores: the checks and the writes behind `stores ...`.

Every function here runs inside the caller's unit of work, which is deployment-wide
(`ALL_STORES`): a store's own row is not store-scoped, but the audit entries, the unrouted mail
count and the checks against every other store are. A refusal is a `StoreRefused` whose message
is one line an operator can act on.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent.plan import Intent
from app.config import Settings
from app.db.models import AuditEntry, Message, Store
from app.db.statuses import StoreStatus
from app.store.directory import StoreConfig, store_config
from app.store.secrets import SecretBox, SecretsUnavailable

CLI_ACTOR = "cli"
"""Who the audit log names for a change made from the command line."""

_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_SHOP_DOMAIN = re.compile(r"[a-z0-9][a-z0-9-]*\.myshopify\.com")
_STORE_URL = re.compile(r"https?://[^/\s]+(/\S*)?")
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


class StoreRefused(ValueError):
    """A store command cannot be carried out; the message says why, in one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewStore:
    """A store to add, every value checked and in the form it is stored."""

    slug: str
    name: str
    support_email: str
    support_addresses: tuple[str, ...]
    """Every address of the store, lower case, the support address first."""
    shop_domain: str | None
    store_url: str | None
    locale: str
    timezone: str
    auto_send_intents: tuple[str, ...]
    shadow_mode: bool


def check_new_store(
    *,
    slug: str,
    name: str,
    support_email: str,
    addresses: Iterable[str] = (),
    shop_domain: str | None = None,
    store_url: str | None = None,
    locale: str = "en",
    timezone: str = "UTC",
    auto_send_intents: Iterable[str] = (),
    shadow_mode: bool = False,
) -> NewStore:
    """The store as given, checked on its own (not against other stores: see `add_store`)."""
    slug = slug.strip()
    if not _SLUG.fullmatch(slug):
        raise StoreRefused(
            f"slug {slug!r} must be 1-64 lower-case letters, digits and inner hyphens (e.g. acme)"
        )
    name = name.strip()
    if not name:
        raise StoreRefused("the store needs a --name")
    support = _address(support_email, "--support-email")
    every = [support.lower(), *(_address(a, "--address").lower() for a in addresses)]
    domain = (shop_domain or "").strip().lower() or None
    if domain is not None and not _SHOP_DOMAIN.fullmatch(domain):
        raise StoreRefused(f"shop domain {domain!r} must look like your-store.myshopify.com")
    url = (store_url or "").strip().rstrip("/") or None
    if url is not None and not _STORE_URL.fullmatch(url):
        raise StoreRefused(
            f"store URL {url!r} must be the shop's address, e.g. https://shop.example"
        )
    locale = locale.strip()
    if not _LOCALE.fullmatch(locale):
        raise StoreRefused(f"locale {locale!r} must be a language tag such as en or de-CH")
    return NewStore(
        slug=slug,
        name=name,
        support_email=support,
        support_addresses=tuple(dict.fromkeys(every)),
        shop_domain=domain,
        store_url=url,
        locale=locale,
        timezone=_timezone(timezone.strip()),
        auto_send_intents=tuple(dict.fromkeys(_intent(i) for i in auto_send_intents)),
        shadow_mode=shadow_mode,
    )


def _address(value: str, option: str) -> str:
    try:
        # `test_environment` accepts `.test` domains (as the test suites use) and still demands
        # a domain with a dot; nothing is looked up in DNS.
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise StoreRefused(f"{option} {value.strip()!r} is not an email address: {exc}") from None
    return str(checked.normalized)


def _timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise StoreRefused(
            f"time zone {name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
        ) from None
    return name


def _intent(value: str) -> str:
    try:
        return Intent(value.strip().lower()).value
    except ValueError:
        known = ", ".join(intent.value for intent in Intent)
        raise StoreRefused(f"unknown intent {value.strip()!r}; use some of: {known}") from None


async def add_store(
    session: AsyncSession,
    store: NewStore,
    settings: Settings,
    *,
    sealed_credentials: bytes | None = None,
) -> Store:
    """Insert the store after checking it against every other one, with its audit entry."""
    others = [store_config(row, settings) for row in await _all_rows(session)]
    _refuse_taken(store, others)
    row = Store(
        slug=store.slug,
        name=store.name,
        status=StoreStatus.ACTIVE,
        shop_domain=store.shop_domain,
        support_email=store.support_email,
        support_addresses=list(store.support_addresses),
        store_url=store.store_url,
        locale=store.locale,
        timezone=store.timezone,
        auto_send_intents=list(store.auto_send_intents),
        auto_send_min_confidence=settings.AUTO_SEND_MIN_CONFIDENCE,
        shadow_mode=store.shadow_mode,
        credentials=sealed_credentials,
    )
    session.add(row)
    await session.flush()
    _audit(
        session,
        row,
        "store_added",
        {
            "slug": row.slug,
            "shop_domain": row.shop_domain,
            "support_addresses": list(store.support_addresses),
            "credentials": sealed_credentials is not None,
        },
    )
    return row


def _refuse_taken(store: NewStore, others: Sequence[StoreConfig]) -> None:
    for other in others:
        if other.slug == store.slug:
            raise StoreRefused(f"slug {store.slug!r} is already store {other.id}'s")
        if store.shop_domain is not None and other.shop_domain == store.shop_domain:
            raise StoreRefused(f"shop domain {store.shop_domain} is already store {other.slug!r}'s")
        # The default store's addresses come from the environment (`store_config`), so mail
        # routing can never hesitate between it and a new store.
        for address in store.support_addresses:
            if address in other.support_addresses:
                raise StoreRefused(f"address {address} already routes mail to store {other.slug!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreListing:
    """One line of `stores list`: what a store is, never its credentials."""

    config: StoreConfig
    credentials: str
    """`stored` (sealed in its row), `environment` (the default store's token), or `none`."""


async def list_stores(session: AsyncSession, settings: Settings) -> list[StoreListing]:
    """Every store by id, with whether it holds credentials."""
    listings = []
    for row in await _all_rows(session):
        config = store_config(row, settings)
        if row.credentials:
            held = "stored"
        elif config.from_environment and settings.SHOPIFY_ACCESS_TOKEN is not None:
            held = "environment"
        else:
            held = "none"
        listings.append(StoreListing(config=config, credentials=held))
    return listings


async def count_unrouted(session: AsyncSession) -> int:
    """Emails no store owns yet: not routed, or quarantined because no store's address matched."""
    statement = select(func.count(Message.id)).where(Message.store_id.is_(None))
    return int((await session.execute(statement)).scalar_one())


async def set_status(session: AsyncSession, slug: str, status: StoreStatus) -> Store | None:
    """Disable or enable a store by slug (its data stays); None if it already was so.

    Only an active store can be disabled and only a disabled one enabled: an uninstalled store
    comes back by installing the app again, and a redacted one has no data left to serve.
    """
    row = (
        await session.execute(select(Store).where(Store.slug == slug.strip()).with_for_update())
    ).scalar_one_or_none()
    if row is None:
        raise StoreRefused(f"no store with slug {slug.strip()!r} (see `python -m app stores list`)")
    if row.status is status:
        return None
    wanted_from = StoreStatus.ACTIVE if status is StoreStatus.DISABLED else StoreStatus.DISABLED
    if row.status is not wanted_from:
        raise StoreRefused(f"store {row.slug!r} is {row.status.value}, not {wanted_from.value}")
    previous = row.status
    row.status = status
    action = "store_disabled" if status is StoreStatus.DISABLED else "store_enabled"
    _audit(session, row, action, {"from": previous.value, "to": status.value})
    return row


async def rotate_credentials(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every store's credentials with the newest key; how many were re-encrypted.

    All or nothing: a row no key opens raises `StoreRefused` before the caller commits.
    """
    rows = (
        (
            await session.execute(
                select(Store).where(Store.credentials.is_not(None)).order_by(Store.id)
            )
        )
        .scalars()
        .all()
    )
    rotated = 0
    for row in rows:
        if not row.credentials:
            continue
        try:
            row.credentials = box.rotate(row.credentials)
        except SecretsUnavailable:
            raise StoreRefused(
                f"no key in STORE_SECRET_KEYS opens the credentials of store {row.slug!r}; "
                "nothing was changed (put back the key they were sealed with)"
            ) from None
        rotated += 1
    return rotated


async def _all_rows(session: AsyncSession) -> Sequence[Store]:
    return (await session.execute(select(Store).order_by(Store.id))).scalars().all()


def _audit(session: AsyncSession, row: Store, action: str, detail: dict[str, object]) -> None:
    session.add(
        AuditEntry(
            store_id=row.id,
            staff_email=CLI_ACTOR,
            action=action,
            target_type="store",
            target_id=row.id,
            detail=detail,
        )
    )
