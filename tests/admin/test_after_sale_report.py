"""The reports page's after-sale figures: resolution-based automation, ratings and follow-ups
over the period, through the JSON API and on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from app.admin.auth import CSRF_HEADER
from app.db.aftersale import FollowUp, ResolutionCheck
from app.db.engine import Database
from app.db.models import Reply
from app.db.statuses import FollowUpKind, FollowUpStatus, Rating
from tests.admin.test_pages import log_in
from tests.aftersale.rows import add_conversation, add_email, add_sent_reply
from tests.builders import IN_DEFAULT_STORE


async def seed(db: Database) -> None:
    """Three checked replies (two automated, one of them written about again), two ratings,
    a check-in sent in the period and one sent long before it."""
    now = datetime.now(UTC)
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=now)
    outcomes = [(True, True), (True, False), (False, True)]
    replies = []
    for automated, resolved in outcomes:
        reply = await add_sent_reply(
            db, message, conversation_id=conversation, sent_at=now, is_automated=automated
        )
        replies.append(reply)
        async with db.write(IN_DEFAULT_STORE) as session:
            session.add(
                ResolutionCheck(
                    reply_id=reply,
                    conversation_id=conversation,
                    address="sara@example.com",
                    automated=automated,
                    sent_at=now,
                    due_at=now,
                    checked_at=now,
                    resolved=resolved,
                )
            )
    async with db.write(IN_DEFAULT_STORE) as session:
        for reply, rating in zip(replies, (Rating.GOOD, Rating.NOT_GOOD), strict=False):
            row = await session.get_one(Reply, reply)
            row.rating, row.rated_at = rating, now
        for sent_at in (now, now - timedelta(days=400)):
            session.add(
                FollowUp(
                    kind=FollowUpKind.CHECKIN,
                    source_key=f"order:{sent_at.timestamp()}",
                    status=FollowUpStatus.SENT,
                    address="sara@example.com",
                    due_at=sent_at,
                    sent_at=sent_at,
                )
            )


async def test_the_api_and_page_show_what_happened_after_the_reply(
    client: httpx.AsyncClient, db: Database
) -> None:
    await seed(db)
    csrf = await log_in(client, db)

    answer = await client.get("/admin/api/reports/after-sale?days=30", headers={CSRF_HEADER: csrf})

    assert answer.status_code == 200, answer.text
    figures = answer.json()
    assert figures["resolution"] == {
        "checked": 3,
        "automated": 2,
        "resolved_automated": 1,
        "rate": 1 / 3,
    }
    assert figures["ratings"] == {"good": 1, "not_good": 1}
    assert figures["followups_sent"]["checkin"] == 1
    page = await client.get("/admin/reports?days=30")
    assert page.status_code == 200
    assert "1 good · 1 not good" in page.text
    assert "1 of 3 sent replies" in page.text
    assert "Customers by segment" in page.text


async def test_the_after_sale_figures_need_credentials(client: httpx.AsyncClient) -> None:
    assert (await client.get("/admin/api/reports/after-sale")).status_code == 401
