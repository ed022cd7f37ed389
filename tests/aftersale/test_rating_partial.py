"""The staff's view of a rating: the thread partial `thread/_rating.html` (the lead includes it
after `thread/_reply.html`), fed the `ReplyView` the email page already has as `latest`."""

from __future__ import annotations

from typing import Any

from app.admin.schemas import ReplyView
from app.admin.templating import environment
from app.db.engine import Database
from app.db.models import Reply
from app.db.scope import ALL_STORES
from app.db.statuses import Rating
from tests.aftersale.rows import T0, add_conversation, add_email, add_sent_reply


async def view(db: Database, **values: Any) -> ReplyView:
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0)
    reply_pk = await add_sent_reply(db, message, conversation_id=conversation, **values)
    async with db.read(ALL_STORES) as session:
        reply = await session.get(Reply, reply_pk)
        return ReplyView.model_validate(reply)


async def test_a_not_good_rating_and_its_comment_are_shown_to_staff(db: Database) -> None:
    latest = await view(db, rating=Rating.NOT_GOOD, rated_at=T0, rating_comment="Wrong <size>")

    page = environment.get_template("thread/_rating.html").render(latest=latest)

    assert 'data-rating="not_good"' in page
    assert "Not good" in page
    assert "Wrong &lt;size&gt;" in page


async def test_an_unrated_sent_reply_says_so(db: Database) -> None:
    page = environment.get_template("thread/_rating.html").render(latest=await view(db))

    assert 'data-rating="none"' in page
