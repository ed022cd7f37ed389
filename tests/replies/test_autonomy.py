"""Autonomy per intent, earned: proposal and automatic demotion over a seeded review history."""

from __future__ import annotations

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import AuditEntry, AutonomyChange, IntentAutonomy
from app.db.scope import ALL_STORES
from app.db.statuses import AutonomyLevel
from app.replies import autonomy
from app.replies.autonomy import Rules
from tests.builders import IN_DEFAULT_STORE
from tests.replies.autonomy_seed import (
    EDIT,
    OK,
    REJECT,
    SENT,
    STORE,
    SUPERSEDED,
    WRONG,
    WRONG_REASON,
    history,
    seed,
    set_level,
)

DRAFTING = Rules(start=AutonomyLevel.DRAFT)
AUTO = Rules(start=AutonomyLevel.AUTO)


async def standing(db: Database, rules: Rules, language: str = "en") -> autonomy.Standing:
    return await db.unit(
        lambda s: autonomy.standing_in(s, STORE, "order_status", language, rules),
        IN_DEFAULT_STORE,
    )


async def level(db: Database, rules: Rules) -> AutonomyLevel:
    return await db.unit(
        lambda s: autonomy.level_in(s, STORE, "order_status", "en", rules), IN_DEFAULT_STORE
    )


async def changes(db: Database) -> list[AutonomyChange]:
    async with db.read(ALL_STORES) as session:
        found = await session.execute(select(AutonomyChange).order_by(AutonomyChange.id))
        return list(found.scalars())


async def audit(db: Database) -> list[AuditEntry]:
    async with db.read(ALL_STORES) as session:
        found = await session.execute(
            select(AuditEntry).where(AuditEntry.target_type == "autonomy").order_by(AuditEntry.id)
        )
        return list(found.scalars())


async def test_19_of_20_approved_as_is_is_proposed_for_auto(db: Database) -> None:
    await seed(db, history(19, 20))
    found = await standing(db, DRAFTING)
    assert (found.window.sample, found.window.approved_as_is, found.window.rate) == (20, 19, 0.95)
    assert found.proposed is True
    assert found.level is AutonomyLevel.DRAFT
    # Another language's drafts are measured on their own.
    assert (await standing(db, DRAFTING, "fa")).window.sample == 0


async def test_15_of_20_is_not_proposed(db: Database) -> None:
    await seed(db, history(15, 20))
    found = await standing(db, DRAFTING)
    assert (found.window.sample, found.window.rate) == (20, 0.75)
    assert found.proposed is False


async def test_only_the_last_n_count_and_a_short_window_is_not_proposed(db: Database) -> None:
    # Ten old edits, then twenty approved as is: only the last twenty count.
    await seed(db, [EDIT] * 10 + [OK] * 20)
    assert (await standing(db, DRAFTING)).window.rate == 1.0
    assert (await standing(db, DRAFTING)).proposed is True
    assert (await standing(db, Rules(window=40, start=AutonomyLevel.DRAFT))).proposed is False


async def test_one_draft_rejected_for_a_wrong_fact_blocks_the_proposal(db: Database) -> None:
    await seed(db, [WRONG] + [OK] * 19)
    found = await standing(db, DRAFTING)
    assert (found.window.rate, found.window.wrong_facts, found.proposed) == (0.95, 1, False)


async def test_a_reject_reason_starting_with_wrong_fact_counts_as_one(db: Database) -> None:
    await seed(db, [WRONG_REASON] + [OK] * 19)
    assert (await standing(db, DRAFTING)).window.wrong_facts == 1
    assert autonomy.is_wrong_fact(None, " wrong fact: price") is True
    assert autonomy.is_wrong_fact("wrong_tone", "wrong fact: price") is False


async def test_rejections_no_person_made_and_sent_replies_are_not_reviews(db: Database) -> None:
    await seed(db, [SUPERSEDED, SENT, REJECT] + [OK] * 19)
    found = await standing(db, DRAFTING)
    # The plain rejection counts; the superseded draft and the automatic send do not.
    assert (found.window.sample, found.window.approved_as_is, found.window.rejected) == (20, 19, 1)
    found_all = await standing(db, Rules(window=25, start=AutonomyLevel.DRAFT))
    assert (found_all.window.sample, found_all.window.rejected) == (20, 1)


async def test_auto_drops_to_draft_on_its_own_when_the_rate_falls(db: Database) -> None:
    await seed(db, history(15, 20))
    assert (await standing(db, AUTO)).demotion is not None
    assert await level(db, AUTO) is AutonomyLevel.DRAFT
    [change] = await changes(db)
    assert (change.from_level, change.to_level, change.changed_by) == (
        AutonomyLevel.AUTO,
        AutonomyLevel.DRAFT,
        autonomy.SYSTEM,
    )
    assert change.measured is not None
    assert change.measured["rate"] == 0.75
    [entry] = await audit(db)
    assert (entry.action, entry.staff_email, entry.store_id) == ("autonomy_demote", "system", 1)
    assert entry.detail is not None
    assert entry.detail["to"] == "draft"
    # The measurement starts again: the old window neither demotes again nor proposes.
    again = await standing(db, AUTO)
    assert (again.level, again.window.sample, again.proposed) == (AutonomyLevel.DRAFT, 0, False)
    assert await level(db, AUTO) is AutonomyLevel.DRAFT
    assert len(await changes(db)) == 1


async def test_auto_is_kept_while_the_rate_holds(db: Database) -> None:
    await seed(db, history(16, 20))
    assert await level(db, AUTO) is AutonomyLevel.AUTO
    assert await changes(db) == []


async def test_a_short_window_says_too_little_to_demote(db: Database) -> None:
    await seed(db, history(5, 10))
    assert await level(db, AUTO) is AutonomyLevel.AUTO
    assert await changes(db) == []


async def test_a_wrong_fact_rejection_demotes_auto(db: Database) -> None:
    await set_level(db, AutonomyLevel.AUTO)
    await seed(db, [OK, OK, WRONG])
    assert await level(db, AUTO) is AutonomyLevel.DRAFT
    assert (await changes(db))[-1].reason.startswith("1 draft(s)")


async def test_a_sent_reply_reported_wrong_demotes_its_intent(db: Database) -> None:
    [sent] = await seed(db, [SENT])
    [elsewhere] = await seed(db, [SENT], language="fa")
    await set_level(db, AutonomyLevel.DRAFT, language="fa")
    async with db.write(IN_DEFAULT_STORE) as session:
        change = await autonomy.report_wrong(session, sent, rules=AUTO)
        # The Persian order_status drafts already: nothing to demote.
        assert await autonomy.report_wrong(session, elsewhere, rules=AUTO) is None
    assert change is not None
    assert (change.to_level, change.reply_id) == (AutonomyLevel.DRAFT, sent)
    async with db.read(IN_DEFAULT_STORE) as session:
        row = (
            await session.execute(select(IntentAutonomy).where(IntentAutonomy.language == "en"))
        ).scalar_one()
    assert (row.level, row.changed_by) == (AutonomyLevel.DRAFT, "system")
    assert row.measured_since is not None
    entries = await audit(db)
    assert entries[-1].action == "autonomy_demote"
    assert entries[-1].detail is not None
    assert entries[-1].detail["reply_id"] == sent


async def test_report_wrong_at_a_starting_level_below_auto_changes_nothing(db: Database) -> None:
    [sent] = await seed(db, [SENT])
    async with db.write(IN_DEFAULT_STORE) as session:
        assert await autonomy.report_wrong(session, sent, rules=DRAFTING) is None
    assert await changes(db) == []
