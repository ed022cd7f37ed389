"""Stores as data: each store's settings and credentials, who works in it, and what belongs to it.

Every table whose rows belong to one store mixes in `StoreOwned`; `app.db.scope` then adds the
store filter to every ORM query on it, in one place, and refuses a query that names no scope.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Float, ForeignKey, LargeBinary, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.statuses import PrivacyStatus, PrivacyTopic, StoreRole, StoreStatus
from app.db.text import SafeString, SafeText

DEFAULT_STORE_ID = 1
"""The store the single-store environment variables describe (created by migration 0009)."""


class StoreScoped:
    """Marker: the table's rows carry a store id, and every ORM query on it is scoped."""

    if TYPE_CHECKING:
        store_id: int | None


class StoreOwned(StoreScoped):
    """Mixin: every row belongs to one store."""

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)


class StoreRouted(StoreScoped):
    """Mixin: a row belongs to one store once it is known (an email before routing has none).

    Rows without a store are seen only by deployment-wide work (`ALL_STORES`).
    """

    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)


class Store(Base):
    """One Shopify store served by this deployment, with its settings.

    The default store (`DEFAULT_STORE_ID`) takes its settings from the environment; its row
    exists so that its data carries a store id like every other store's.
    """

    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(SafeString(64), unique=True)
    """A short name for URLs and the CLI (`acme`)."""
    shop_domain: Mapped[str | None] = mapped_column(SafeString(255), unique=True)
    """`name.myshopify.com`, for Admin API calls and Shopify's webhooks."""
    name: Mapped[str] = mapped_column(SafeString(200))
    status: Mapped[StoreStatus] = mapped_column(
        stored_enum(StoreStatus, length=16, constraint="ck_stores_status"),
        default=StoreStatus.ACTIVE,
    )
    support_email: Mapped[str] = mapped_column(SafeString(320))
    """The address replies come from."""
    support_addresses: Mapped[list[Any]] = mapped_column(default=list)
    """Every address whose mail belongs to this store (lower case), the support address included."""
    mail_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Mailbox and provider settings that are not secrets (host, port, provider name...)."""
    store_url: Mapped[str | None] = mapped_column(SafeText)
    locale: Mapped[str] = mapped_column(SafeString(35), default="en")
    timezone: Mapped[str] = mapped_column(SafeString(64), default="UTC")
    signature: Mapped[str] = mapped_column(SafeText, default="")
    branding: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """What templates may show of the brand: `accent_color`, `logo_url`."""
    auto_send_intents: Mapped[list[Any]] = mapped_column(default=list)
    auto_send_min_confidence: Mapped[float] = mapped_column(Float, default=0.8)
    shadow_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    autonomy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Autonomy level per intent, once earned (see the send policy)."""
    policies_cache: Mapped[dict[str, Any] | None]
    """The store's policies as last fetched, with `fetched_at`."""
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Secrets (Admin API token, client secret, mailbox passwords, provider signing keys) as one
    JSON object encrypted with `STORE_SECRET_KEYS` (`app.store.secrets`); never plain text."""
    scopes: Mapped[str] = mapped_column(SafeText, default="")
    """The Admin API access scopes the store granted at install."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    installed_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
    redacted_at: Mapped[datetime | None]


class StoreMembership(Base):
    """A staff member's role in one store; a member of no store sees nothing."""

    __tablename__ = "store_memberships"
    __table_args__ = (UniqueConstraint("staff_id", "store_id", name="uq_store_memberships"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    role: Mapped[StoreRole] = mapped_column(
        stored_enum(StoreRole, length=16, constraint="ck_store_memberships_role")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ShopifyWebhook(Base):
    """A webhook delivery from Shopify, by its `X-Shopify-Webhook-Id`: a replay is not redone."""

    __tablename__ = "shopify_webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[str] = mapped_column(SafeString(128), unique=True)
    topic: Mapped[str] = mapped_column(SafeString(64))
    shop_domain: Mapped[str] = mapped_column(SafeString(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyRequest(StoreOwned, Base):
    """One privacy webhook to carry out in one store, and its outcome.

    The customer is named by Shopify's customer id and a SHA-256 of the address, never the
    address itself, so the record outlives the data it erased.
    """

    __tablename__ = "privacy_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[PrivacyTopic] = mapped_column(
        stored_enum(PrivacyTopic, length=32, constraint="ck_privacy_requests_topic")
    )
    status: Mapped[PrivacyStatus] = mapped_column(
        stored_enum(PrivacyStatus, length=16, constraint="ck_privacy_requests_status"),
        default=PrivacyStatus.PENDING,
    )
    webhook_id: Mapped[str | None] = mapped_column(SafeString(128))
    shopify_customer_id: Mapped[str | None] = mapped_column(SafeString(64))
    customer_email_hash: Mapped[str | None] = mapped_column(SafeString(64))
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The webhook's payload, with the customer's address and phone left out."""
    export: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    """For a data request: the JSON file staff download and send on."""
    summary: Mapped[dict[str, Any] | None]
    """What was found, exported or erased (counts only)."""
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(SafeText)
