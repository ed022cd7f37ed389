"""The right next product in the pipeline: an order-status reply carries one when the store opts
in, with a counted link that passes the verifier; a complaint never does; off by default."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from sqlalchemy import select

from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, ProductSuggestion, Reply
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.worker import Worker
from app.providers import Providers
from app.store.demo import DemoShop
from tests.builders import make_eml, verified_transport
from tests.conftest import BASIC_AUTH

SARA = "Sara Ahmadi <sara.ahmadi@example.com>"
LINK_BASE = "https://support.shop.test"


async def answer(
    client: httpx.AsyncClient, db: Database, settings: Settings, *, subject: str, body: str
) -> Reply:
    post = raw_mode_post(
        make_eml(sender=SARA, subject=subject, body=body), verified_transport("example.com")
    )
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    providers = Providers(shop=DemoShop(), llm=OfflineModel())
    await Worker(db=db, settings=settings, providers=providers).drain()
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, response.json()["id"])
        assert message is not None
        reply = (await session.scalars(select(Reply).where(Reply.message_id == message.id))).one()
    return reply


async def suggestions(db: Database) -> list[ProductSuggestion]:
    async with db.read(ALL_STORES) as session:
        return list((await session.scalars(select(ProductSuggestion))).all())


async def test_an_order_status_reply_carries_a_counted_product_link_the_verifier_accepts(
    client: httpx.AsyncClient, db: Database, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(NEXT_PRODUCT_ENABLED=True, NEXT_PRODUCT_LINK_BASE_URL=LINK_BASE)
    reply = await answer(
        client, db, settings, subject="Where is my order #1001?", body="Where is my order #1001?"
    )
    assert reply.template == "order_status"
    text = reply.text_body or ""
    assert "You might also like Leather Belt, €55.00: https://support.shop.test/p/" in text
    assert f"{LINK_BASE}/p/" in text
    assert "demo-store.example/products/leather-belt" not in text  # the counted link only
    assert not [p for p in reply.verification or [] if "link" in p or "amount" in p]
    [shown] = await suggestions(db)
    assert shown.product_title == "Leather Belt"
    token = text.split(f"{LINK_BASE}/p/", 1)[1].split()[0].rstrip(").,")
    followed = await client.get(f"/p/{token}")
    assert followed.status_code == 302
    assert followed.headers["location"] == shown.url


async def test_a_complaint_never_carries_a_product(
    client: httpx.AsyncClient, db: Database, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(NEXT_PRODUCT_ENABLED=True, NEXT_PRODUCT_LINK_BASE_URL=LINK_BASE)
    reply = await answer(
        client,
        db,
        settings,
        subject="Complaint about order #1001",
        body="I am very unhappy and want to complain about order #1001. Terrible service.",
    )
    assert reply.template != "order_status"
    assert "You might also like" not in (reply.text_body or "")
    assert await suggestions(db) == []


async def test_off_by_default(
    client: httpx.AsyncClient, db: Database, make_settings: Callable[..., Settings]
) -> None:
    reply = await answer(
        client,
        db,
        make_settings(),
        subject="Where is my order #1001?",
        body="Where is my order #1001?",
    )
    assert reply.template == "order_status"
    assert "You might also like" not in (reply.text_body or "")
    assert await suggestions(db) == []
