"""`customers/data_request` and `customers/redact` on two stores holding the same customer.

Sara writes to the default store through the real webhook and worker (and once more, not yet
parsed); Reza has rows there too; the second store holds its own copy of Sara. Her export holds
her data of that store only; erasing her leaves no column of that store with her address, name
or words (raw deliveries included), and leaves Reza, the second store and every count as they
were. Running it again changes nothing.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import AuditEntry, Message, ProposedAction, Reply
from app.db.scope import ALL_STORES
from app.db.statuses import (
    MessageStatus,
    PrivacyStatus,
    PrivacyTopic,
    ProposalStatus,
    ReplyStatus,
)
from app.providers import Providers
from app.store.privacy.runner import process_due
from tests.store.privacy.world import (
    DEFAULT,
    REZA,
    SARA,
    add_request,
    add_rows,
    add_second_store,
    get_request,
    mentions,
    row_counts,
    sara_through_the_pipeline,
    scan,
)


@pytest.fixture
async def second(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> int:
    """The world of these tests; the second store's id."""
    await sara_through_the_pipeline(client, db, settings, providers)
    # And one more of hers inserted directly, with every kind of row (proposals, audit...).
    await add_rows(db, DEFAULT, SARA)
    await add_rows(db, DEFAULT, REZA)
    store = await add_second_store(db)
    await add_rows(db, store, SARA, address="Sara.Ahmadi@Example.com")
    return store


async def test_the_export_holds_the_customers_data_of_that_store_only(
    db: Database, second: int
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    assert await process_due(db, now=utcnow()) == 1

    request = await get_request(db, pk)
    assert request.status is PrivacyStatus.DONE
    assert request.completed_at is not None
    assert request.export is not None
    document = json.loads(request.export)
    data = document["data"]
    assert document["customer"]["addresses"] == [SARA.address]
    assert document["request"]["data_request_id"] == 9999
    # Her emails (answered, raw only, inserted), her conversations and their traces.
    assert len(data["messages"]) == 3
    assert {m["status"] for m in data["messages"]} >= {"received"}
    assert any(SARA.phrase in (m["text"] or "") for m in data["messages"])
    assert data["conversations"][0]["customer_email"] == SARA.address
    assert data["replies"]
    assert all(r["to_address"] == SARA.address for r in data["replies"])
    assert data["agent_runs"]
    assert data["model_turns"]
    assert data["tool_calls"]
    assert data["proposed_actions"]
    assert data["audit_log"]
    assert all("raw" not in m for m in data["messages"])
    # Nothing of Reza, nothing of the second store.
    text = request.export.decode()
    assert REZA.address not in text
    assert REZA.phrase not in text
    assert "Sara.Ahmadi@Example.com" not in text
    assert {m["store_id"] for m in data["messages"]} == {DEFAULT}
    # The summary and the audit entry hold counts only.
    assert request.summary == {"exported": document["counts"], "addresses": 1}
    assert SARA.address not in json.dumps(request.summary)
    async with db.read(ALL_STORES) as session:
        [entry] = (
            await session.execute(select(AuditEntry).where(AuditEntry.target_id == pk))
        ).scalars()
    assert (entry.staff_email, entry.action, entry.store_id) == (
        "shopify",
        "privacy:customers/data_request:done",
        DEFAULT,
    )
    assert entry.detail == request.summary


async def test_after_redact_nothing_in_that_store_recognises_the_customer(
    db: Database, second: int
) -> None:
    export = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    await process_due(db, now=utcnow())
    before = await scan(db, DEFAULT)
    assert "messages.raw" in mentions(before, SARA)
    assert "privacy_requests.export" in mentions(before, SARA)
    other_store = await scan(db, second)
    reza = mentions(before, REZA)

    pk = await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    counts = await row_counts(db)
    assert await process_due(db, now=utcnow()) == 1
    counts[("audit_log", DEFAULT)] += 1  # The request's own entry.

    after = await scan(db, DEFAULT)
    assert mentions(after, SARA) == set()
    # Reza, the other store's Sara and every count are as they were.
    assert mentions(after, REZA) == reza
    assert await scan(db, second) == other_store
    assert mentions(other_store, SARA) >= {"messages.raw", "messages.text", "replies.to_address"}
    assert await row_counts(db) == counts
    request = await get_request(db, pk)
    assert request.status is PrivacyStatus.DONE
    assert request.summary is not None
    assert request.summary["erased"]["messages"] == 3
    assert request.summary["exports_deleted"] == 1
    assert (await get_request(db, export)).export is None


async def test_redact_keeps_what_reports_count_and_stops_work_in_flight(
    db: Database, second: int
) -> None:
    async with db.read(ALL_STORES) as session:
        statement = select(Message).where(Message.store_id == DEFAULT).order_by(Message.id)
        intents = [(m.id, m.intent) for m in (await session.execute(statement)).scalars()]
    await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    await process_due(db, now=utcnow())

    async with db.read(ALL_STORES) as session:
        messages = list((await session.execute(statement)).scalars())
        replies = list(
            (await session.execute(select(Reply).where(Reply.store_id == DEFAULT))).scalars()
        )
        proposals = list(
            (await session.execute(select(ProposedAction).order_by(ProposedAction.id))).scalars()
        )
    assert [(m.id, m.intent) for m in messages] == intents
    sara = [m for m in messages if m.from_address != REZA.address]
    address = sara[0].from_address
    assert address is not None
    assert address.startswith("redacted-")
    assert address.endswith("@invalid")
    # The email not yet parsed will never be: it is closed, its raw delivery empty.
    assert all(m.status is not MessageStatus.RECEIVED for m in sara)
    assert all(m.raw_size == 0 for m in sara)
    assert all(m.text in (None, "[redacted]") for m in sara)
    # Her draft is rejected (nothing goes to an erased address); Reza's stays a draft.
    statuses = {r.to_address: r.status for r in replies}
    assert statuses[REZA.address] is ReplyStatus.DRAFT
    assert ReplyStatus.DRAFT not in {r.status for r in replies if r.to_address != REZA.address}
    # Only the other store's and Reza's proposals still wait.
    assert [p.status for p in proposals].count(ProposalStatus.PENDING) == 2


async def test_redacting_twice_changes_nothing_more(db: Database, second: int) -> None:
    await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    await process_due(db, now=utcnow())
    once = await scan(db, None)
    counts = await row_counts(db)

    # Done requests are not picked up again; a repeated webhook finds nothing left.
    assert await process_due(db, now=utcnow()) == 0
    again = await add_request(db, DEFAULT, PrivacyTopic.CUSTOMER_REDACT, SARA)
    assert await process_due(db, now=utcnow()) == 1

    assert await scan(db, None) == once
    counts[("privacy_requests", DEFAULT)] += 1
    counts[("audit_log", DEFAULT)] += 1
    assert await row_counts(db) == counts
    summary = (await get_request(db, again)).summary
    assert summary is not None
    assert summary["erased"] == {}
    assert summary["stopped"] == 0


async def test_a_customer_unknown_to_the_store_is_answered_with_an_empty_export(
    db: Database,
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, REZA)
    assert await process_due(db, now=utcnow()) == 1
    request = await get_request(db, pk)
    assert request.export is not None
    assert json.loads(request.export)["data"] == {}
    assert request.summary == {"exported": {}, "addresses": 0}
