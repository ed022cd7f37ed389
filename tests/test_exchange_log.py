"""The tool-call audit log and the proposals table, on the database under test."""

from __future__ import annotations

from sqlalchemy import select

from app.db import Database
from app.exchange_log import SqlJournal
from app.models import ProposedAction, ToolCall
from app.tools.context import CallOutcome, CallRecord, ProposalRecord


async def test_calls_and_proposals_are_written_as_they_happen(db: Database) -> None:
    journal = SqlJournal(db, message_pk=None)
    await journal.record_call(
        CallRecord(
            tool="get_order",
            arguments={"order_number": "1001"},
            outcome=CallOutcome.OK,
            summary="order #1001: in_transit",
            duration_ms=12.5,
            call_id="call_abc",
        )
    )
    await journal.record_call(
        CallRecord(
            tool="get_order",
            arguments='{"order_number": 10',
            outcome=CallOutcome.INVALID_ARGUMENTS,
            summary="Invalid arguments for get_order: ...",
            duration_ms=0.1,
        )
    )
    first = await journal.record_proposal(
        ProposalRecord(
            tool="cancel_order",
            arguments={"order_number": "1001", "reason": "Wrong size"},
            order_id="gid://shopify/Order/1001",
            order_name="#1001",
            reason="Wrong size",
        )
    )
    second = await journal.record_proposal(
        ProposalRecord(
            tool="refund_order",
            arguments={"order_number": "1002", "reason": "Damaged"},
            order_id="gid://shopify/Order/1002",
            order_name="#1002",
            reason="Damaged",
        )
    )
    assert second == first + 1
    async with db.read() as session:
        calls = (await session.execute(select(ToolCall).order_by(ToolCall.id))).scalars().all()
        proposals = (await session.execute(select(ProposedAction))).scalars().all()
    assert [(c.tool, c.outcome, c.call_id) for c in calls] == [
        ("get_order", "ok", "call_abc"),
        ("get_order", "invalid_arguments", None),
    ]
    assert calls[0].arguments == {"order_number": "1001"}
    assert calls[1].arguments is None
    assert calls[1].raw_arguments == '{"order_number": 10'
    assert calls[0].duration_ms == 12.5
    assert {p.status for p in proposals} == {"pending"}
    assert proposals[0].arguments == {"order_number": "1001", "reason": "Wrong size"}
