"""After-the-sale settings: resolution checks, satisfaction links, follow-ups, unsubscribing.

Part of `Settings` (`app.config` adds these fields to its own), kept beside the code that uses
them; like `app.mail.settings` it imports nothing of the app.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode


class AftersaleSettings(BaseSettings):
    """The after-sale half of `Settings`; field names are the environment variable names."""

    # Where customers reach the service (satisfaction and unsubscribe links): its public origin,
    # e.g. https://support.example.com. Without it (and without SHOPIFY_APP_URL) replies carry
    # no satisfaction link and no follow-up is sent (a proactive email needs its unsubscribe link).
    AFTERSALE_PUBLIC_URL: str | None = None
    # Signs satisfaction and unsubscribe links (HMAC-SHA256). Unset: derived from the first
    # STORE_SECRET_KEYS key, so a deployment with store secrets needs nothing more.
    SATISFACTION_SECRET: SecretStr | None = None
    SATISFACTION_LINK_DAYS: int = Field(default=30, ge=1, le=365)
    # A sent reply counts as resolved when the customer has not written again this long after it.
    RESOLUTION_CHECK_HOURS: int = Field(default=72, ge=1, le=24 * 60)

    # Follow-ups are off for every store until its slug is listed here (comma-separated).
    FOLLOWUP_CHECKIN_STORES: Annotated[list[str], NoDecode] = Field(default_factory=list)
    FOLLOWUP_REVIEW_STORES: Annotated[list[str], NoDecode] = Field(default_factory=list)
    FOLLOWUP_CHECKIN_DAYS: int = Field(default=3, ge=0, le=60)
    FOLLOWUP_CAP_DAYS: int = Field(default=14, ge=0, le=365)
    # Quiet hours in the store's own time zone: no proactive email from START until END o'clock.
    FOLLOWUP_QUIET_START_HOUR: int = Field(default=21, ge=0, le=23)
    FOLLOWUP_QUIET_END_HOUR: int = Field(default=8, ge=0, le=23)
    FOLLOWUP_SCAN_MINUTES: int = Field(default=60, ge=1)
    FOLLOWUP_SCAN_ORDERS: int = Field(default=100, ge=1, le=250)
    AFTERSALE_EVERY_SECONDS: float = Field(default=60.0, gt=0)

    @field_validator("FOLLOWUP_CHECKIN_STORES", "FOLLOWUP_REVIEW_STORES", mode="before")
    @classmethod
    def _parse_slugs(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value

    def link_secret(self) -> bytes | None:
        """The key that signs customers' links, or None when links cannot be made."""
        if self.SATISFACTION_SECRET is not None:
            return self.SATISFACTION_SECRET.get_secret_value().encode()
        keys: SecretStr | None = getattr(self, "STORE_SECRET_KEYS", None)
        first = keys.get_secret_value().split(",")[0].strip() if keys is not None else ""
        if not first:
            return None
        # A key of its own, so a link never reveals anything about the store secrets' key.
        return hmac.new(first.encode(), b"aftersale-links", hashlib.sha256).digest()

    def public_url(self) -> str | None:
        """The service's public origin for customers' links (no trailing slash)."""
        url = self.AFTERSALE_PUBLIC_URL or getattr(self, "SHOPIFY_APP_URL", None)
        return url.rstrip("/") if url else None
