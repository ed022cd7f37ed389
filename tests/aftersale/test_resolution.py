"""Resolution after 72 hours, with the clock passed in: a customer who wrote again was not
helped; one who did not was, and only the service's own replies count as resolved without a
person (the automation rate: involvement × resolution)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.db.aftersale import ResolutionCheck
from app.db.engine import Database
from app.db.scope import ALL_STORES
from app.db.statuses import MessageStatus
from app.jobs import resolution
from tests.aftersale.rows import T0, add_conversation, add_email, add_sent_reply
from tests.builders import IN_DEFAULT_STORE


async def sweep(db: Database, now_hours: float) -> int:
    now = T0 + timedelta(hours=now_hours)
    await db.unit(lambda s: resolution.schedule_checks_in(s, hours=72, now=now), ALL_STORES)
    return await db.unit(lambda s: resolution.decide_due_in(s, now=now), ALL_STORES)


async def checks(db: Database) -> dict[int, ResolutionCheck]:
    async with db.read(ALL_STORES) as session:
        rows = (await session.execute(select(ResolutionCheck))).scalars()
        return {row.reply_id: row for row in rows}


async def answered(db: Database, address: str = "sara@example.com", **values: Any) -> int:
    conversation = await add_conversation(db, address)
    message = await add_email(
        db, conversation_id=conversation, received_at=T0 - timedelta(minutes=5), address=address
    )
    return await add_sent_reply(db, message, conversation_id=conversation, **values)


async def test_a_customer_who_did_not_write_again_in_72_hours_was_resolved(db: Database) -> None:
    reply = await answered(db)

    assert await sweep(db, 71.9) == 0  # Scheduled, not due yet.
    assert (await checks(db))[reply].checked_at is None
    assert await sweep(db, 72) == 1

    check = (await checks(db))[reply]
    assert (check.resolved, check.wrote_again_id, check.automated) == (True, None, True)
    assert check.due_at == T0 + timedelta(hours=72)


async def test_a_customer_who_wrote_again_was_not_resolved(db: Database) -> None:
    reply = await answered(db)
    # A new email from the same address (another conversation, other case), 10 hours later.
    again = await add_email(
        db, conversation_id=None, received_at=T0 + timedelta(hours=10), address="SARA@example.com"
    )

    await sweep(db, 73)

    check = (await checks(db))[reply]
    assert (check.resolved, check.wrote_again_id) == (False, again)


async def test_writing_in_the_same_conversation_from_another_address_counts(db: Database) -> None:
    conversation = await add_conversation(db)
    first = await add_email(db, conversation_id=conversation, received_at=T0)
    reply = await add_sent_reply(db, first, conversation_id=conversation)
    again = await add_email(
        db, conversation_id=conversation, received_at=T0 + timedelta(hours=1), address="s@x.org"
    )

    await sweep(db, 72)

    assert (await checks(db))[reply].wrote_again_id == again


async def test_an_auto_reply_or_a_late_email_is_not_writing_again(db: Database) -> None:
    reply = await answered(db)
    await add_email(
        db,
        conversation_id=None,
        received_at=T0 + timedelta(hours=1),
        status=MessageStatus.SKIPPED,  # Their out-of-office.
    )
    await add_email(db, conversation_id=None, received_at=T0 + timedelta(hours=80))

    await sweep(db, 90)

    assert (await checks(db))[reply].resolved is True


async def test_the_automation_rate_is_involvement_times_resolution(db: Database) -> None:
    await answered(db, "a@example.com", to_address="a@example.com")  # automated, resolved
    await answered(db, "b@example.com", to_address="b@example.com")  # automated, wrote again
    await add_email(
        db, conversation_id=None, received_at=T0 + timedelta(hours=2), address="b@example.com"
    )
    await answered(db, "c@example.com", to_address="c@example.com", is_automated=False)  # staff
    await answered(db, "d@example.com", to_address="d@example.com")  # automated, resolved
    await sweep(db, 72)

    async with db.read(IN_DEFAULT_STORE) as session:
        rate = await resolution.automation_rate(
            session, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1)
        )

    assert (rate.checked, rate.automated, rate.resolved_automated) == (4, 3, 2)
    assert rate.involvement == 0.75
    assert rate.resolution == 2 / 3
    assert rate.rate == 0.5 == rate.involvement * rate.resolution
