"""What the workspace tests share: the demo's sample emails posted to the real webhook."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Message, Reply
from app.db.scope import ALL_STORES
from app.demo.deliveries import DemoWorld, load_samples
from tests.conftest import BASIC_AUTH

SPOOF = "display-name spoof of a customer"
INJECTION = "prompt injection in the email"
NEWSLETTER = "newsletter from a mailing list"
UNVERIFIED = "question from an unauthenticated sender"
STOCK = "stock and price question"
ORDER_STATUS = "order status, DKIM-verified customer"


async def post_sample(http: httpx.AsyncClient, name: str) -> int:
    """Post one of the demo's sample deliveries to the webhook; the stored email's id."""
    [sample] = [s for s in load_samples(DemoWorld()) if s.name == name]
    response = await http.post(
        "/webhooks/sendgrid/inbound",
        content=sample.post.body,
        headers=sample.post.headers,
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    pk: int = response.json()["id"]
    return pk


async def message_row(db: Database, pk: int) -> Message:
    async with db.read(ALL_STORES) as session:
        message = await session.get(Message, pk)
    assert message is not None
    return message


async def replies_of(db: Database, pk: int) -> list[Reply]:
    async with db.read(ALL_STORES) as session:
        statement = select(Reply).where(Reply.message_id == pk).order_by(Reply.id)
        return list((await session.execute(statement)).scalars())
