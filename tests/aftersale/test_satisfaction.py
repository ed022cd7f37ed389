"""The satisfaction link: GET shows a button and records nothing (mail scanners follow links);
the POST records the rating once; "not good" reopens the email for staff; reused, forged and
expired links are refused. Tokens are signed with a clock the test chooses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.autonomy import IntentAutonomy
from app.db.engine import Database
from app.db.statuses import MessageStatus
from app.replies.links import LinkMaker, Purpose, sign
from app.replies.senders import OutgoingEmail, SendResult
from tests.aftersale.rows import ORIGIN, SECRET, T0, add_conversation, add_email, add_sent_reply
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory
from tests.replies.test_outbox import load_message, load_reply

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(SATISFACTION_SECRET=SECRET, AFTERSALE_PUBLIC_URL=ORIGIN)


def token(reply_id: int, *, expires: datetime | None = None, secret: str = SECRET) -> str:
    when = expires or datetime.now(UTC) + timedelta(days=30)
    return sign(secret.encode(), Purpose.RATE, reply_id, expires=when)


async def sent(db: Database, status: MessageStatus = MessageStatus.ANSWERED) -> tuple[int, int]:
    conversation = await add_conversation(db)
    message = await add_email(db, conversation_id=conversation, received_at=T0, status=status)
    return message, await add_sent_reply(db, message, conversation_id=conversation)


async def test_get_shows_a_form_and_records_nothing(
    client: httpx.AsyncClient, db: Database
) -> None:
    _, reply = await sent(db)

    page = await client.get(f"/r/{token(reply)}", params={"rating": "good"})

    assert page.status_code == 200
    assert f'<form method="post" action="/r/{token(reply)}">' in page.text
    assert 'name="rating" value="good"' in page.text
    assert "<script" not in page.text
    assert (await load_reply(db, reply)).rating is None


async def test_good_is_recorded_on_the_reply_and_leaves_the_email_answered(
    client: httpx.AsyncClient, db: Database
) -> None:
    message, reply = await sent(db)

    answer = await client.post(f"/r/{token(reply)}", content="rating=good", headers=FORM)

    assert answer.status_code == 200
    row = await load_reply(db, reply)
    assert (row.rating, row.rated_at is not None) == ("good", True)
    assert (await load_message(db, message)).status == "answered"
    # Then the optional comment, once.
    note = sign(SECRET.encode(), Purpose.NOTE, reply, expires=None)
    assert f'action="/r/note/{note}"' in answer.text
    first = await client.post(f"/r/note/{note}", content="comment=Fast+and+clear", headers=FORM)
    again = await client.post(f"/r/note/{note}", content="comment=Changed", headers=FORM)
    assert (first.status_code, again.status_code) == (200, 409)
    assert (await load_reply(db, reply)).rating_comment == "Fast and clear"


@pytest.mark.parametrize("status", [MessageStatus.ANSWERED, MessageStatus.CLOSED])
async def test_not_good_reopens_the_email_in_the_needs_action_view(
    client: httpx.AsyncClient, db: Database, status: MessageStatus
) -> None:
    message, reply = await sent(db, status)

    answer = await client.post(f"/r/{token(reply)}", content="rating=not_good", headers=FORM)

    assert answer.status_code == 200
    assert (await load_reply(db, reply)).rating == "not_good"
    row = await load_message(db, message)
    assert (row.status, row.status_reason) == (
        "needs_human",
        "the customer rated the reply not good",
    )
    assert row.closed_reason is None


async def test_not_good_leaves_an_email_staff_still_have_open_as_it_is(
    client: httpx.AsyncClient, db: Database
) -> None:
    message, reply = await sent(db, MessageStatus.DRAFTED)

    await client.post(f"/r/{token(reply)}", content="rating=not_good", headers=FORM)

    assert (await load_message(db, message)).status == "drafted"


async def test_a_reused_link_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    _, reply = await sent(db)
    link = f"/r/{token(reply)}"

    first = await client.post(link, content="rating=good", headers=FORM)
    second = await client.post(link, content="rating=not_good", headers=FORM)

    assert (first.status_code, second.status_code) == (200, 409)
    assert (await load_reply(db, reply)).rating == "good"


@pytest.mark.parametrize(
    "forge",
    [
        lambda reply: token(reply, secret="another-secret"),
        lambda reply: token(reply + 1).replace(f".{reply + 1}.", f".{reply}."),
        lambda reply: sign(SECRET.encode(), Purpose.UNSUBSCRIBE, reply, expires=None),
        lambda reply: "rate.1.0.x",
    ],
    ids=["other-secret", "other-reply", "other-purpose", "garbage"],
)
async def test_a_forged_link_is_refused(
    client: httpx.AsyncClient, db: Database, forge: object
) -> None:
    _, reply = await sent(db)
    link = f"/r/{forge(reply)}"  # type: ignore[operator]

    assert (await client.get(link)).status_code == 404
    assert (await client.post(link, content="rating=good", headers=FORM)).status_code == 404
    assert (await load_reply(db, reply)).rating is None


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    _, reply = await sent(db)
    link = f"/r/{token(reply, expires=datetime.now(UTC) - timedelta(seconds=1))}"

    assert (await client.get(link)).status_code == 410
    assert (await client.post(link, content="rating=good", headers=FORM)).status_code == 410
    assert (await load_reply(db, reply)).rating is None


class Recorder:
    kind = "log"

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> SendResult:
        self.sent.append(email)
        return SendResult(provider_message_id="x")


def email(**values: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "from_address": "support@shop.test",
        "from_name": "Test Shop",
        "to_address": "sara@example.com",
        "to_name": None,
        "subject": "Re: order",
        "text": "Hello",
        "html": "<html><body><p>Hello</p></body></html>",
        "message_id": "<r@shop.test>",
        "in_reply_to": None,
        "references": (),
        **values,
    }
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


async def test_every_sent_reply_carries_its_rating_links_in_its_language() -> None:
    from app.replies.links import WithRatingLinks

    inner = Recorder()
    mail = WithRatingLinks(inner, LinkMaker(origin=ORIGIN, secret=SECRET.encode()), days=30)

    await mail.send(email(custom_args={"reply_id": "7"}, language="fa"))
    await mail.send(email(custom_args={"followup_id": "3"}))

    reply, followup = inner.sent
    assert f"{ORIGIN}/r/rate.7." in reply.text
    assert "?rating=not_good" in reply.text
    assert "چطور بودیم؟" in reply.text
    assert reply.html.index("?rating=good") < reply.html.index("</body>")
    assert followup.text == "Hello"


async def test_replies_get_rating_links_only_when_links_can_be_made(
    make_settings: SettingsFactory,
) -> None:
    from app.providers import build_providers
    from app.replies.links import WithRatingLinks

    with_links = build_providers(
        make_settings(SATISFACTION_SECRET=SECRET, AFTERSALE_PUBLIC_URL=ORIGIN)
    )
    without = build_providers(make_settings(SATISFACTION_SECRET=SECRET))
    try:
        assert isinstance(with_links.mail, WithRatingLinks)
        assert not isinstance(without.mail, WithRatingLinks)
    finally:
        await with_links.aclose()
        await without.aclose()


async def test_not_good_on_an_automated_reply_drops_its_intent_to_draft(
    client: httpx.AsyncClient, db: Database
) -> None:
    _, reply = await sent(db)

    await client.post(f"/r/{token(reply)}", content="rating=not_good", headers=FORM)

    async with db.read(IN_DEFAULT_STORE) as session:
        row = (
            await session.execute(
                select(IntentAutonomy).where(
                    IntentAutonomy.intent == "order_status", IntentAutonomy.language == "en"
                )
            )
        ).scalar_one()
    assert (row.level, row.changed_by) == ("draft", "system")
