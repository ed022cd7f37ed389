"""Rows the after-sale tests start from: a customer's email, our sent reply, a conversation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.db.engine import Database
from app.db.models import Conversation, Message, Reply
from app.db.statuses import MessageStatus, ReplyStatus
from tests.builders import IN_DEFAULT_STORE

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
"""When the reply under test was sent."""
SECRET = "satisfaction-test-secret-0123456789"
ORIGIN = "https://support.shop.test"


async def add_conversation(db: Database, address: str = "sara@example.com") -> int:
    async with db.write(IN_DEFAULT_STORE) as session:
        conversation = Conversation(customer_email=address, subject="Order", created_at=T0)
        session.add(conversation)
        await session.flush()
        return conversation.id


async def add_email(
    db: Database,
    *,
    conversation_id: int | None,
    received_at: datetime,
    address: str = "sara@example.com",
    status: MessageStatus = MessageStatus.ANSWERED,
    intent: str | None = "order_status",
) -> int:
    """A customer's stored email."""
    async with db.write(IN_DEFAULT_STORE) as session:
        message = Message(
            provider="sendgrid",
            payload_format="raw",
            content_type="text/plain",
            raw=b"raw",
            raw_size=3,
            checksum=uuid.uuid4().hex * 2,
            message_id=f"<{uuid.uuid4().hex}@example.com>",
            status=status,
            from_address=address,
            subject="Where is my order?",
            received_at=received_at,
            conversation_id=conversation_id,
            intent=intent,
        )
        session.add(message)
        await session.flush()
        return message.id


async def add_sent_reply(
    db: Database,
    message_pk: int,
    *,
    conversation_id: int | None,
    sent_at: datetime = T0,
    language: str = "en",
    **values: Any,
) -> int:
    """A reply that went out at `sent_at`."""
    fields: dict[str, Any] = {
        "message_id": message_pk,
        "conversation_id": conversation_id,
        "from_address": "support@shop.test",
        "to_address": "Sara@Example.com",
        "subject": "Re: Where is my order?",
        "text_body": "Your order has shipped.",
        "html_body": "<p>Your order has shipped.</p>",
        "is_automated": True,
        "status": ReplyStatus.SENT,
        "sent_at": sent_at,
        "created_at": sent_at,
        "language": language,
        **values,
    }
    async with db.write(IN_DEFAULT_STORE) as session:
        reply = Reply(**fields)
        session.add(reply)
        await session.flush()
        return reply.id
