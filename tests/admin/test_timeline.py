"""The customer timeline on an email: the sender's other conversations in the same store and,
for a verified sender only, their orders, newest first, with a link to all their emails."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from app.admin.customer_card import CustomerCard
from app.admin.templating import environment
from app.admin.timeline import Timeline, TimelineEntry, load_timeline
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message
from app.db.scope import ALL_STORES
from app.db.stores import DEFAULT_STORE_ID, Store
from app.providers import Providers
from app.store.models import Money, OrderStatus
from app.tools.orders import OrderLine
from tests.admin.test_pages import Desk, lena_return, log_in
from tests.builders import IN_DEFAULT_STORE, make_eml

NOW = datetime.now(UTC)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


def line(number: str, days_ago: int) -> OrderLine:
    return OrderLine(
        order_number=number,
        status=OrderStatus.DELIVERED,
        status_text="delivered",
        placed_on=(NOW - timedelta(days=days_ago)).date(),
        total=Money(amount=Decimal("49.00"), currency="EUR"),
        items=2,
    )


def card(*, verified: bool = True) -> CustomerCard:
    orders = [line("#1013", 1), line("#1007", 30)] if verified else []
    return CustomerCard(address="Lena@Example.de", verified=verified, orders=orders)


def email(subject: str, message_id: str, sender: str = "Lena Fischer <lena@example.de>") -> bytes:
    return make_eml(sender=sender, subject=subject, body=f"{subject}\n", message_id=message_id)


async def received(db: Database, pk: int, days_ago: int) -> None:
    async with db.write(ALL_STORES) as session:
        await session.execute(
            update(Message)
            .where(Message.id == pk)
            .values(received_at=NOW - timedelta(days=days_ago))
        )


async def test_other_conversations_and_orders_newest_first(desk: Desk) -> None:
    old = await desk.seed(lena_return())
    await received(desk.db, old, 10)
    older = await desk.seed(email("Sizes?", "<sizes@example.de>"))
    await received(desk.db, older, 40)
    other_customer = await desk.seed(email("Hi", "<max@example.de>", "Max <max@example.de>"))
    elsewhere = await desk.seed(email("Other store", "<else@example.de>"))
    current = await desk.seed(email("Where is my parcel?", "<now@example.de>"))
    async with desk.db.write(ALL_STORES) as session:
        store = Store(
            slug="beta",
            name="Beta",
            support_email="support@beta.test",
            support_addresses=["support@beta.test"],
            credentials=b"x",
        )
        session.add(store)
        await session.flush()
        await session.execute(
            update(Message).where(Message.id == elsewhere).values(store_id=store.id)
        )

    async with desk.db.read(IN_DEFAULT_STORE) as session:
        timeline = await load_timeline(
            session, store_id=DEFAULT_STORE_ID, message_pk=current, card=card()
        )
    assert [(e.kind, e.title) for e in timeline.entries] == [
        ("order", "#1013"),
        ("conversation", "Return order #1007"),
        ("order", "#1007"),
        ("conversation", "Sizes?"),
    ]
    first = timeline.entries[1]
    assert first.link == f"/admin/messages/{old}"
    assert first.status
    assert timeline.all_emails_url == "/admin?view=all&customer=Lena%40Example.de"
    assert timeline.orders_shown
    links = {e.link for e in timeline.entries}
    assert f"/admin/messages/{other_customer}" not in links
    assert f"/admin/messages/{elsewhere}" not in links
    assert f"/admin/messages/{current}" not in links

    async with desk.db.read(IN_DEFAULT_STORE) as session:
        unverified = await load_timeline(
            session, store_id=DEFAULT_STORE_ID, message_pk=current, card=card(verified=False)
        )
    assert [e.kind for e in unverified.entries] == ["conversation", "conversation"]
    assert not unverified.orders_shown


def test_the_partial_shows_the_timeline_and_tolerates_none() -> None:
    template = environment.get_template("thread/_customer.html")
    verified = card()
    without = template.render(card=verified)
    assert "History" not in without
    timeline = Timeline(
        address="lena@example.de",
        entries=[
            TimelineEntry(
                kind="conversation",
                at=datetime(2026, 11, 20, tzinfo=UTC),
                title="Return <shoes>",
                status="answered",
                link="/admin/messages/4",
            ),
            TimelineEntry(
                kind="order",
                at=datetime.combine(date(2026, 11, 1), datetime.min.time(), tzinfo=UTC),
                title="#1007",
                status="delivered",
                detail="49.00 EUR",
            ),
        ],
        all_emails_url="/admin?view=all&customer=lena%40example.de",
        orders_shown=True,
    )
    html = template.render(card=verified, timeline=timeline)
    assert '<a href="/admin/messages/4"><bdi>Return &lt;shoes&gt;</bdi></a> · answered' in html
    assert "Order <bdi>#1007</bdi> · delivered · 49.00 EUR" in html
    assert html.index("2026-11-20") < html.index("2026-11-01")
    assert 'href="/admin?view=all&amp;customer=lena%40example.de"' in html
    assert "All emails from this customer" in html
    assert "verified sender only" not in html
