"""The demo's after-sale step: a delivered order's check-in, with the right next product.

After the sample emails, the demo turns the demo store's check-in rule and product suggestions
on (its own settings, with the running service's address for the links), schedules check-ins
from the demo store's delivered orders, and sends the due ones through the same path the
worker's sweep uses (`app.jobs.followups`): verifier, caps, unsubscribe link, log transport.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.config import Settings
from app.db.aftersale import FollowUp
from app.db.engine import Database
from app.db.scope import ALL_STORES
from app.db.statuses import FollowUpStatus
from app.jobs import followups
from app.replies.links import LinkMaker
from app.replies.senders import MailSender
from app.store.demo import DemoShop
from app.store.directory import default_store_config

PREVIEW_LINES = 16


def demo_settings(settings: Settings, base_url: str) -> Settings:
    """The demo's settings with check-ins and product suggestions on for the demo store."""
    return settings.model_copy(
        update={
            "FOLLOWUP_CHECKIN_STORES": ["default"],
            "NEXT_PRODUCT_ENABLED": True,
            "NEXT_PRODUCT_LINK_BASE_URL": base_url,
            "AFTERSALE_PUBLIC_URL": base_url,
        }
    )


def _daytime(now: datetime) -> datetime:
    """Noon of the demo's day: outside the default quiet hours, whenever the demo runs."""
    return now.replace(hour=12, minute=0, second=0, microsecond=0)


async def show_checkin(db: Database, settings: Settings, mail: MailSender, base_url: str) -> bool:
    """Schedule and send the demo store's due check-ins; print the first. False if none went."""
    chosen = demo_settings(settings, base_url)
    now = _daytime(datetime.now(UTC))
    store = default_store_config(chosen)
    shop = DemoShop()
    scheduled = await followups.scan_store(db, store, shop, settings=chosen, now=now)
    # Every check-in due by a week from now goes out now: the demo does not wait for the days.
    later = now + timedelta(days=7)
    links = LinkMaker(origin=base_url, secret=secrets.token_bytes(32))
    sent = await followups.send_due(
        db, {store.id: store}, mail, links=links, settings=chosen, now=later
    )
    print(
        f"\nAfter the sale: {scheduled} delivered order(s) got a check-in; {sent} sent "
        "(one per customer within FOLLOWUP_CAP_DAYS)."
    )
    async with db.read(ALL_STORES) as session:
        first = await session.scalar(
            select(FollowUp.id)
            .where(FollowUp.status == FollowUpStatus.SENT, FollowUp.text_body.is_not(None))
            .order_by(FollowUp.id)
            .limit(1)
        )
        row = await session.get(FollowUp, first) if first is not None else None
    if row is None:
        return False
    print(f"  to {row.address}: {row.subject}")
    for line in (row.text_body or "").splitlines()[:PREVIEW_LINES]:
        print(f"    | {line}")
    return True
