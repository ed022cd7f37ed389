"""Seeded review history for the autonomy tests: drafts of one intent as staff left them."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Message, Reply, utcnow
from app.db.statuses import AutonomyLevel, MessageStatus, ReplyStatus
from app.replies import autonomy
from tests.builders import IN_DEFAULT_STORE

STORE = 1
OK, EDIT, REJECT, WRONG, WRONG_REASON, SUPERSEDED, SENT = (
    "ok",
    "edit",
    "reject",
    "wrong",
    "wrong_reason",
    "superseded",
    "sent",
)


def history(approved: int, total: int) -> list[str]:
    """`approved` drafts approved as is among `total`, the rest edited (oldest first)."""
    return [EDIT] * (total - approved) + [OK] * approved


async def seed(
    db: Database, outcomes: list[str], *, intent: str = "order_status", language: str = "en"
) -> list[int]:
    """One email and reply per outcome, decided a minute apart in this order; the reply ids."""

    def write(session: Session) -> list[int]:
        start = utcnow() - timedelta(hours=2)
        ids = []
        for n, outcome in enumerate(outcomes):
            raw = f"email {intent} {language} {n} {start}".encode()
            message = Message(
                provider="sendgrid",
                payload_format="raw",
                content_type="message/rfc822",
                raw=raw,
                raw_size=len(raw),
                checksum=hashlib.sha256(raw).hexdigest(),
                message_id=f"<{hashlib.sha1(raw).hexdigest()}@example.com>",
                status=MessageStatus.ANSWERED,
                intent=intent,
                received_at=start,
            )
            session.add(message)
            session.flush()
            rejected = outcome in (REJECT, WRONG, WRONG_REASON, SUPERSEDED)
            reply = Reply(
                message_id=message.id,
                to_address="customer@example.com",
                language=language,
                decision="send" if outcome == SENT else "draft",
                status=ReplyStatus.REJECTED if rejected else ReplyStatus.SENT,
                decided_by=None if outcome == SENT else "agent@shop.test",
                decided_at=None if outcome == SENT else start + timedelta(minutes=n),
                edit_distance={OK: 0, EDIT: 3}.get(outcome),
                reject_reason={
                    REJECT: "too long",
                    WRONG: "the total is not right",
                    WRONG_REASON: "Wrong fact: the order shipped yesterday",
                    SUPERSEDED: "superseded by a re-run of the agent",
                }.get(outcome),
                reject_category="wrong_fact" if outcome == WRONG else None,
            )
            session.add(reply)
            session.flush()
            ids.append(reply.id)
        return ids

    return await db.unit(write, IN_DEFAULT_STORE)


async def set_level(
    db: Database,
    level: AutonomyLevel,
    *,
    intent: str = "order_status",
    language: str = "en",
    by: str = "owner@shop.test",
) -> None:
    """An owner's level, written as the admin writes it."""
    await db.unit(
        lambda s: autonomy.set_level_in(s, STORE, intent, language, level, by=by, reason="test").id,
        IN_DEFAULT_STORE,
    )
