"""Follow-ups with a clock the test controls: a check-in is scheduled from the store's delivered
orders, then sent when due with its unsubscribe link and headers — unless the customer
unsubscribed, is suppressed, or already had a proactive email within the cap; in quiet hours
(in the store's time zone) it waits. It is rendered in the customer's language (Persian: rtl).
The shop is the bundled demo store; mail goes to a recording sender."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.db.aftersale import FollowUp, Unsubscribe
from app.db.engine import Database
from app.db.models import Suppression
from app.db.scope import ALL_STORES
from app.db.statuses import DeliveryState, FollowUpKind, FollowUpStatus, Rating
from app.intake import ratings
from app.jobs import followups
from app.replies.links import LinkMaker
from app.store.demo import DemoShop
from app.store.directory import StoreConfig, default_store_config
from tests.aftersale.rows import ORIGIN, SECRET, T0, add_conversation, add_email, add_sent_reply
from tests.aftersale.test_satisfaction import Recorder
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
"""Noon UTC: outside the default quiet hours (21-8) in a store on UTC."""
LINKS = LinkMaker(origin=ORIGIN, secret=SECRET.encode())
ON = {"FOLLOWUP_CHECKIN_STORES": "default", "FOLLOWUP_REVIEW_STORES": "default"}


def store(settings: Settings, **values: Any) -> dict[int, StoreConfig]:
    config = dataclasses.replace(default_store_config(settings), **values)
    return {config.id: config}


async def add_due(
    db: Database, address: str = "sara@example.com", *, key: str = "o1", **values: Any
) -> int:
    fields: dict[str, Any] = {
        "kind": FollowUpKind.CHECKIN,
        "source_key": key,
        "address": address,
        "customer_name": "Sara Karimi",
        "language": "en",
        "detail": {"order": "#1001", "items": ["2 × Wool socks (M)"], "returns": ""},
        "due_at": NOW - timedelta(hours=1),
        **values,
    }
    async with db.write(IN_DEFAULT_STORE) as session:
        followup = FollowUp(**fields)
        session.add(followup)
        await session.flush()
        return followup.id


async def rows(db: Database) -> dict[int, FollowUp]:
    async with db.read(ALL_STORES) as session:
        found = (await session.execute(select(FollowUp).order_by(FollowUp.id))).scalars()
        return {row.id: row for row in found}


async def send(
    db: Database,
    settings: Settings,
    mail: Recorder,
    *,
    now: datetime = NOW,
    stores: dict[int, StoreConfig] | None = None,
) -> int:
    return await followups.send_due(
        db, stores or store(settings), mail, links=LINKS, settings=settings, now=now
    )


async def test_a_check_in_is_scheduled_days_after_delivery_once(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON, FOLLOWUP_CHECKIN_DAYS=7)
    shop = DemoShop(now=NOW)
    [config] = store(settings).values()
    delivered = await shop.delivered_orders(since=NOW - timedelta(days=14), limit=50)
    recent = [o for o in delivered if followups.delivered_at(o) >= NOW - timedelta(days=14)]  # type: ignore[operator]

    assert await followups.scan_store(db, config, shop, settings=settings, now=NOW) >= 1
    assert await followups.scan_store(db, config, shop, settings=settings, now=NOW) == 0

    scheduled = {row.source_key: row for row in (await rows(db)).values()}
    order = next(o for o in recent if o.id in scheduled)
    row = scheduled[order.id]
    arrived = followups.delivered_at(order)
    assert arrived is not None
    assert row.due_at == arrived + timedelta(days=7)
    assert (row.kind, row.status) == (FollowUpKind.CHECKIN, FollowUpStatus.SCHEDULED)
    assert row.address == (order.customer_email or order.email or "").lower()
    assert row.detail["order"] == order.name
    assert row.detail["items"]
    assert row.detail["returns"]  # The returns policy's opening, read from the store.


async def test_no_check_in_is_scheduled_while_the_rule_is_off(
    db: Database, settings: Settings
) -> None:
    [config] = store(settings).values()

    assert (
        await followups.scan_store(db, config, DemoShop(now=NOW), settings=settings, now=NOW) == 0
    )
    assert await rows(db) == {}


async def test_a_due_check_in_goes_out_with_its_unsubscribe_link_and_headers(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON)
    followup = await add_due(db)
    mail = Recorder()

    assert await send(db, settings, mail) == 1

    [email] = mail.sent
    assert email.to_address == "sara@example.com"
    assert email.list_unsubscribe is not None
    assert email.list_unsubscribe.startswith(f"{ORIGIN}/u/unsub.{followup}.0.")
    assert email.threading_headers()["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email.list_unsubscribe in email.text
    assert f'href="{email.list_unsubscribe}"' in email.html
    assert "2 × Wool socks (M)" in email.text
    assert "#1001" in email.subject + email.text
    row = (await rows(db))[followup]
    assert (row.status, row.sent_at) == (FollowUpStatus.SENT, NOW)


async def test_an_unsubscribed_customer_gets_no_follow_up(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON)
    followup = await add_due(db, "sara@example.com")
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(Unsubscribe(address="sara@example.com", unsubscribed_at=T0))
    mail = Recorder()

    assert await send(db, settings, mail) == 0

    assert mail.sent == []
    row = (await rows(db))[followup]
    assert (row.status, row.reason) == (FollowUpStatus.SKIPPED, "unsubscribed")


async def test_a_suppressed_address_gets_no_follow_up(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON)
    followup = await add_due(db)
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(
            Suppression(address="sara@example.com", kind=DeliveryState.BOUNCED, occurred_at=T0)
        )
    mail = Recorder()

    await send(db, settings, mail)

    assert mail.sent == []
    assert (await rows(db))[followup].reason.startswith("suppression list")  # type: ignore[union-attr]


async def test_one_proactive_email_per_customer_within_the_cap(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON, FOLLOWUP_CAP_DAYS=14)
    first = await add_due(db, key="o1")
    second = await add_due(db, key="o2")
    mail = Recorder()

    assert await send(db, settings, mail) == 1

    found = await rows(db)
    assert found[first].status == FollowUpStatus.SENT
    assert found[second].status == FollowUpStatus.SKIPPED
    assert (found[second].reason or "").startswith("capped")
    # After the cap another customer's, or a later one, goes out again.
    later = await add_due(db, key="o3", due_at=NOW + timedelta(days=15))
    assert await send(db, settings, mail, now=NOW + timedelta(days=15)) == 1
    assert (await rows(db))[later].status == FollowUpStatus.SENT


async def test_quiet_hours_in_the_stores_time_zone_hold_it_until_they_end(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON)
    tehran = store(settings, timezone="Asia/Tehran")
    followup = await add_due(db, due_at=datetime(2026, 12, 6, 19, 0, tzinfo=UTC))
    evening = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # 23:30 in Tehran (UTC+3:30).
    mail = Recorder()

    assert await send(db, settings, mail, now=evening, stores=tehran) == 0

    row = (await rows(db))[followup]
    morning = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)  # 08:00 in Tehran.
    assert (row.status, row.due_at) == (FollowUpStatus.SCHEDULED, morning)
    assert mail.sent == []
    assert await send(db, settings, mail, now=morning - timedelta(minutes=1), stores=tehran) == 0
    assert await send(db, settings, mail, now=morning, stores=tehran) == 1


async def test_a_persian_follow_up_is_written_right_to_left(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON)
    await add_due(db, language="fa")
    mail = Recorder()

    await send(db, settings, mail)

    [email] = mail.sent
    assert '<html lang="fa" dir="rtl">' in email.html
    assert email.subject == "آیا همه‌چیز سالم به دستتان رسید؟"
    assert "لغو دریافت ایمیل‌های پیگیری" in email.text


async def test_a_good_rating_schedules_a_review_request_when_the_store_wants_one(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON, STORE_URL="https://shop.test")
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0)
    reply = await add_sent_reply(db, message, conversation_id=conversation, language="de")

    def rate(session: Any) -> bool:
        rated = ratings.rate_in(session, reply, Rating.GOOD, now=NOW)
        return followups.schedule_review_in(session, rated, settings=settings, now=NOW)

    assert await db.unit(rate, ALL_STORES) is True
    [review] = (await rows(db)).values()
    assert (review.kind, review.language, review.reply_id) == (FollowUpKind.REVIEW, "de", reply)
    mail = Recorder()
    assert await send(db, settings, mail, now=NOW) == 1
    assert "https://shop.test" in mail.sent[0].text
    assert mail.sent[0].subject == "Würden Sie uns bewerten?"


async def test_no_review_request_while_the_rule_is_off(db: Database, settings: Settings) -> None:
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0)
    reply = await add_sent_reply(db, message, conversation_id=conversation)

    def rate(session: Any) -> bool:
        rated = ratings.rate_in(session, reply, Rating.GOOD, now=NOW)
        return followups.schedule_review_in(session, rated, settings=settings, now=NOW)

    assert await db.unit(rate, ALL_STORES) is False
    assert await rows(db) == {}


async def test_the_workers_sweep_checks_resolution_scans_and_sends(
    db: Database, make_settings: SettingsFactory
) -> None:
    from app.agent.offline import OfflineModel
    from app.jobs.aftersale import AftersaleSweep
    from app.providers import Providers
    from app.store.directory import StoreDirectory

    settings = make_settings(
        **ON, FOLLOWUP_CHECKIN_DAYS=3, SATISFACTION_SECRET=SECRET, AFTERSALE_PUBLIC_URL=ORIGIN
    )
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0)
    await add_sent_reply(db, message, conversation_id=conversation)
    mail = Recorder()
    sweep = AftersaleSweep(
        db=db,
        settings=settings,
        providers=Providers(shop=DemoShop(now=NOW), llm=OfflineModel(), mail=mail),
        stores=StoreDirectory(db, settings),
    )

    await sweep.run(NOW)

    async with db.read(ALL_STORES) as session:
        from app.db.aftersale import ResolutionCheck

        [check] = (await session.execute(select(ResolutionCheck))).scalars()
    assert check.resolved is True  # Sent at T0, five days before NOW, nobody wrote again.
    assert mail.sent  # Check-ins of orders delivered more than 3 days ago (due, not too late).
    assert all(email.list_unsubscribe for email in mail.sent)


async def test_the_reports_count_follow_ups_sent_and_ratings_by_answer(
    db: Database, make_settings: SettingsFactory
) -> None:
    from app.jobs.resolution import satisfaction

    settings = make_settings(**ON, FOLLOWUP_CAP_DAYS=0)
    await add_due(db, "a@example.com", key="o1")
    await add_due(db, "b@example.com", key="o2")
    await send(db, settings, Recorder())
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0)
    for rating in (Rating.GOOD, Rating.GOOD, Rating.NOT_GOOD):
        reply = await add_sent_reply(db, message, conversation_id=conversation)

        def rate(session: Any, pk: int = reply, given: Rating = rating) -> ratings.Rated:
            return ratings.rate_in(session, pk, given, now=NOW)

        await db.unit(rate, ALL_STORES)

    day = {"since": NOW - timedelta(days=1), "until": NOW + timedelta(days=1)}
    async with db.read(IN_DEFAULT_STORE) as session:
        assert await followups.sent_count(session, **day) == {"checkin": 2, "review": 0}
        assert await satisfaction(session, **day) == {"good": 2, "not_good": 1}


async def test_a_delivered_orders_check_in_carries_the_right_next_product_when_enabled(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        **ON,
        FOLLOWUP_CHECKIN_DAYS=7,
        NEXT_PRODUCT_ENABLED=True,
        NEXT_PRODUCT_LINK_BASE_URL=ORIGIN,
    )
    shop = DemoShop(now=NOW)
    [config] = store(settings).values()
    await followups.scan_store(db, config, shop, settings=settings, now=NOW)
    with_product = [row for row in (await rows(db)).values() if "product" in row.detail]
    assert with_product, "no delivered order's check-in got a product"
    row = with_product[0]
    product = row.detail["product"]
    assert product["link"].startswith(f"{ORIGIN}/p/")
    catalogue = {p.title: p for p in await shop.catalogue(first=250)}
    assert catalogue[product["title"]].url == product["url"]
    bought = {
        item.title
        for order in await shop.list_orders(customer_email=row.address, limit=50)
        for item in order.items
    }
    assert product["title"] not in bought  # Never something the customer already has.

    async with db.write(IN_DEFAULT_STORE) as session:
        # Only this one is due: it goes out with the product, past the verifier.
        for other in (await session.execute(select(FollowUp))).scalars():
            other.due_at = (
                NOW - timedelta(hours=1) if other.id == row.id else NOW + timedelta(days=9)
            )
    mail = Recorder()
    assert await send(db, settings, mail) == 1
    [email] = mail.sent
    assert f"You might also like {product['title']}" in email.text
    assert product["link"] in email.text
    assert (await rows(db))[row.id].status is FollowUpStatus.SENT


async def test_no_product_in_a_check_in_while_the_store_has_not_opted_in(
    db: Database, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**ON, FOLLOWUP_CHECKIN_DAYS=7)
    [config] = store(settings).values()
    await followups.scan_store(db, config, DemoShop(now=NOW), settings=settings, now=NOW)
    assert all("product" not in row.detail for row in (await rows(db)).values())
