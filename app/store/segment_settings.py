"""Settings for segments and the right next product (a mixin of `app.config.Settings`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings


class SegmentSettings(BaseSettings):
    """Field names are the environment variable names."""

    # The right next product: off by default; when on, order-status replies to verified senders
    # may carry one complementary product (never complaints, refunds, cancellations).
    NEXT_PRODUCT_ENABLED: bool = False
    # The service's public address for counted product links (`<base>/p/<token>`); unset, the
    # reply links to the product page itself and only "shown" is counted.
    NEXT_PRODUCT_LINK_BASE_URL: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    # The worker recomputes each store's segments at most this often (its after-sale sweep reads
    # every customer, paced); 0 turns the schedule off (`python -m app segments refresh` still
    # works).
    SEGMENTS_REFRESH_HOURS: int = Field(default=24, ge=0, le=24 * 90)
