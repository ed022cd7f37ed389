"""The intent's autonomy decides, through the real pipeline with the offline model and demo store.

A verified customer asks where order #1001 is: the offline model answers it as `order_status`
in English, a reply the send policy sends on its own at `auto`. Each level changes that one
outcome: `off` files no reply, `draft` and `shadow` draft it (shadow recording that it would
have been sent), and AUTO_SEND_INTENTS stays the upper bound.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.engine import Database
from app.db.models import IntentAutonomy, Reply
from app.db.scope import ALL_STORES
from app.db.statuses import AutonomyLevel
from app.demo.sendgrid_posts import raw_mode_post
from app.providers import Providers
from tests.builders import verified_transport
from tests.replies.autonomy_seed import history, seed, set_level
from tests.test_pipeline import deliver, load, order_question, process


async def answer(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> tuple[str, list[Reply]]:
    """Post the order question, run the worker; the email's status and its replies."""
    pk = await deliver(client, raw_mode_post(order_question(), verified_transport("example.com")))
    assert await process(db, settings, providers) == 1
    message = await load(db, pk)
    async with db.read(ALL_STORES) as session:
        found = await session.execute(select(Reply).where(Reply.message_id == pk))
        replies = list(found.scalars())
    assert message.intent == "order_status"
    return f"{message.status}|{message.status_reason or ''}", replies


async def test_auto_sends(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await set_level(db, AutonomyLevel.AUTO)
    status, [reply] = await answer(client, db, settings, providers)
    assert status == "answered|"
    assert (reply.status, reply.decision, reply.shadow_decision) == ("sent", "send", None)


async def test_draft_drafts_and_says_why(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await set_level(db, AutonomyLevel.DRAFT)
    status, [reply] = await answer(client, db, settings, providers)
    assert status.startswith("drafted|")
    assert (reply.status, reply.decision, reply.shadow_decision) == ("draft", "draft", None)
    assert reply.decision_reasons == ["autonomy: intent order_status is at draft"]


async def test_off_files_no_draft_and_waits_for_a_person(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await set_level(db, AutonomyLevel.OFF)
    status, replies = await answer(client, db, settings, providers)
    assert replies == []
    assert status == "needs_human|autonomy: intent order_status in 'en' is off, a person writes"


async def test_another_language_keeps_its_own_level(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await set_level(db, AutonomyLevel.OFF, language="fa")
    status, [reply] = await answer(client, db, settings, providers)
    assert (status, reply.status) == ("answered|", "sent")


async def test_shadow_drafts_and_records_that_it_would_have_sent(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await set_level(db, AutonomyLevel.SHADOW)
    status, [reply] = await answer(client, db, settings, providers)
    assert status.startswith("drafted|")
    assert (reply.status, reply.decision, reply.shadow_decision) == ("draft", "draft", "send")
    assert reply.decision_reasons == ["autonomy: intent order_status is at shadow"]


async def test_the_store_wide_shadow_mode_records_would_have_sent_too(
    client: httpx.AsyncClient,
    db: Database,
    make_settings: Callable[..., Settings],
    providers: Providers,
) -> None:
    status, [reply] = await answer(client, db, make_settings(SHADOW_MODE=True), providers)
    assert (reply.status, reply.shadow_decision) == ("draft", "send")


@pytest.mark.parametrize("level", [AutonomyLevel.AUTO, AutonomyLevel.SHADOW])
async def test_auto_send_intents_stays_the_upper_bound(
    client: httpx.AsyncClient,
    db: Database,
    make_settings: Callable[..., Settings],
    providers: Providers,
    level: AutonomyLevel,
) -> None:
    await set_level(db, level)
    bounded = make_settings(AUTO_SEND_INTENTS="stock_or_price")
    status, [reply] = await answer(client, db, bounded, providers)
    assert (reply.status, reply.decision) == ("draft", "draft")
    assert "intent order_status is not auto-sent" in (reply.decision_reasons or [])
    # Shadow mode records what `auto` would do, and `auto` would not send it either.
    assert reply.shadow_decision == ("draft" if level is AutonomyLevel.SHADOW else None)


async def test_a_falling_rate_demotes_auto_before_the_next_email_is_sent(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await seed(db, history(15, 20))
    status, [reply] = await answer(client, db, settings, providers)
    assert (reply.status, reply.decision) == ("draft", "draft")
    assert reply.decision_reasons == ["autonomy: intent order_status is at draft"]
    async with db.read(ALL_STORES) as session:
        row = (await session.execute(select(IntentAutonomy))).scalar_one()
    assert (row.intent, row.language, row.level, row.changed_by) == (
        "order_status",
        "en",
        AutonomyLevel.DRAFT,
        "system",
    )


async def test_a_starting_level_of_draft_makes_every_intent_earn_auto(
    client: httpx.AsyncClient,
    db: Database,
    make_settings: Callable[..., Settings],
    providers: Providers,
) -> None:
    drafting = make_settings(AUTONOMY_START_LEVEL="draft")
    status, [reply] = await answer(client, db, drafting, providers)
    assert (reply.status, reply.decision) == ("draft", "draft")
