"""The tool-call audit log and the proposals table, on the database under test."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.agent.exchange_log import SqlJournal, SqlTrace, finish_run, start_run
from app.agent.llm import ModelRequest, ModelResponse, UserText
from app.agent.loop import AgentOutcome, TurnRecord
from app.agent.plan import Intent, ReplyPlan
from app.db.engine import Database
from app.db.models import AgentRun, Message, ModelTurn, ProposedAction, ToolCall
from app.db.stores import DEFAULT_STORE_ID
from app.demo.sendgrid_posts import raw_mode_post
from app.mail.formdata import parse_form_data
from app.tools.kit.context import CallOutcome, CallRecord, ProposalRecord
from tests.builders import make_eml


@pytest.fixture
def db(db: Database) -> Database:
    """The log writes inside one store, as the pipeline does once an email is routed."""
    return db.for_store(DEFAULT_STORE_ID)


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


async def test_a_run_its_turns_and_calls_are_linked(db: Database) -> None:

    tools = ({"name": "get_order", "parameters": {}},)
    run_pk = await start_run(db, message_pk=None, llm_kind="offline", model="rules", tools=tools)
    trace = SqlTrace(db, run_pk=run_pk, message_pk=None, tools_hash="abc")
    request = ModelRequest(instructions="be kind", items=(UserText(text="where?"),), tools=tools)
    response = ModelResponse(
        text=None,
        tool_calls=(),
        finish_reason="completed",
        input_tokens=120,
        output_tokens=12,
        model="rules",
        latency_ms=3.5,
        raw={"id": "resp_1"},
    )
    await trace.record_turn(
        TurnRecord(
            step=1,
            llm_kind="offline",
            model="rules",
            request=request,
            response=response,
            error=None,
        )
    )
    await trace.record_turn(
        TurnRecord(
            step=2,
            llm_kind="offline",
            model="rules",
            request=request,
            response=None,
            error="APITimeoutError",
        )
    )
    journal = SqlJournal(db, message_pk=None, run_pk=run_pk)
    await journal.record_call(
        CallRecord(
            tool="get_order", arguments={}, outcome=CallOutcome.OK, summary="x", duration_ms=1.0
        )
    )
    plan = ReplyPlan(
        intent=Intent.ORDER_STATUS, confidence=0.7, language="en", template="order_status"
    )
    await finish_run(
        db,
        run_pk,
        AgentOutcome(
            plan=plan, results={}, steps=2, input_tokens=120, output_tokens=12, llm_kind="offline"
        ),
    )
    async with db.read() as session:
        run = await session.get(AgentRun, run_pk)
        turns = (await session.execute(select(ModelTurn).order_by(ModelTurn.step))).scalars().all()
        [call] = (await session.execute(select(ToolCall))).scalars().all()
    assert run is not None
    assert (run.status, run.intent, run.steps, run.input_tokens) == (
        "finished",
        "order_status",
        2,
        120,
    )
    assert run.plan is not None
    assert run.plan["language"] == "en"
    assert run.prompt_version
    assert len(run.tools_hash) == 16
    assert [(t.step, t.input_tokens, t.error) for t in turns] == [
        (1, 120, None),
        (2, 0, "APITimeoutError"),
    ]
    assert turns[0].request["items"] == [{"type": "user", "text": "where?"}]
    assert turns[0].response == {"id": "resp_1"}
    assert turns[0].latency_ms == 3.5
    assert call.agent_run_id == run_pk


async def test_a_new_run_abandons_an_unfinished_one_and_proposals_are_not_repeated(
    db: Database,
) -> None:

    # A stored message to hang the runs on.
    post = raw_mode_post(make_eml())
    async with db.write() as session:
        message = Message(
            provider="sendgrid",
            payload_format="sendgrid-raw",
            content_type=post.content_type,
            raw=post.body,
            raw_size=len(post.body),
            checksum="c" * 64,
            message_id="<m@x>",
            status="ready",
        )
        session.add(message)
        await session.flush()
        message_pk = message.id
    assert parse_form_data(post.body, post.content_type, max_parts=50).get("email")
    first = await start_run(db, message_pk=message_pk, llm_kind="offline", model="r", tools=())
    second = await start_run(db, message_pk=message_pk, llm_kind="offline", model="r", tools=())
    async with db.read() as session:
        statuses = {
            run.id: run.status for run in (await session.execute(select(AgentRun))).scalars()
        }
    assert statuses == {first: "abandoned", second: "running"}
    journal = SqlJournal(db, message_pk=message_pk, run_pk=second)
    proposal = ProposalRecord(
        tool="cancel_order",
        arguments={"order_number": "1001", "reason": "x"},
        order_id="gid://shopify/Order/1",
        order_name="#1001",
        reason="x",
    )
    assert await journal.record_proposal(proposal) == await journal.record_proposal(proposal)
