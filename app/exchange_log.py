"""SQL for the agent's exchange log: runs, model turns, tool calls and proposals.

Each record commits on its own, as it happens, so the trace of an answer survives a crash half
way through it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent import PROMPT_VERSION, TurnRecord
from app.agent import AgentRun as AgentOutcome
from app.db import Database
from app.llm import request_for_trace, tools_hash
from app.models import AgentRun, ModelTurn, ProposedAction, ToolCall, utcnow
from app.tools.context import CallRecord, ProposalRecord


async def start_run(
    db: Database,
    *,
    message_pk: int | None,
    llm_kind: str,
    model: str,
    tools: tuple[dict[str, Any], ...],
) -> int:
    """Record that a run started; earlier unfinished runs of the message become abandoned."""
    async with db.write() as session:
        if message_pk is not None:
            await session.execute(
                update(AgentRun)
                .where(AgentRun.message_id == message_pk, AgentRun.status == "running")
                .values(status="abandoned", finished_at=utcnow())
            )
        run = AgentRun(
            message_id=message_pk,
            llm_kind=llm_kind,
            model=model,
            prompt_version=PROMPT_VERSION,
            tools_hash=tools_hash(tools),
            status="running",
        )
        session.add(run)
        await session.flush()
        return run.id


async def finish_run(db: Database, run_pk: int, outcome: AgentOutcome) -> None:
    """Record how a run ended: its plan, steps and tokens."""
    plan = outcome.plan
    async with db.write() as session:
        await session.execute(
            update(AgentRun)
            .where(AgentRun.id == run_pk)
            .values(
                status="finished",
                llm_kind=outcome.llm_kind,
                steps=outcome.steps,
                input_tokens=outcome.input_tokens,
                output_tokens=outcome.output_tokens,
                intent=plan.intent.value,
                confidence=plan.confidence,
                language=plan.language,
                needs_human=plan.needs_human,
                handover_reason=plan.handover_reason.value if plan.handover_reason else None,
                plan=plan.model_dump(mode="json"),
                finished_at=utcnow(),
            )
        )


class SqlTrace:
    """Writes one run's model turns."""

    def __init__(
        self, db: Database, *, run_pk: int, message_pk: int | None, tools_hash: str
    ) -> None:
        self._db = db
        self._run_pk = run_pk
        self._message_pk = message_pk
        self._tools_hash = tools_hash

    async def record_turn(self, turn: TurnRecord) -> None:
        response = turn.response
        async with self._db.write() as session:
            session.add(
                ModelTurn(
                    agent_run_id=self._run_pk,
                    message_id=self._message_pk,
                    step=turn.step,
                    llm_kind=turn.llm_kind,
                    model=response.model if response and response.model else turn.model,
                    prompt_version=PROMPT_VERSION,
                    tools_hash=self._tools_hash,
                    request=request_for_trace(turn.request),
                    response=response.raw if response else None,
                    input_tokens=response.input_tokens if response else 0,
                    output_tokens=response.output_tokens if response else 0,
                    latency_ms=response.latency_ms if response else 0.0,
                    finish_reason=response.finish_reason if response else None,
                    error=turn.error,
                )
            )


class SqlJournal:
    """Writes one message's tool calls and proposals."""

    def __init__(self, db: Database, *, message_pk: int | None, run_pk: int | None = None) -> None:
        self._db = db
        self._message_pk = message_pk
        self._run_pk = run_pk

    async def record_call(self, record: CallRecord) -> None:
        validated = isinstance(record.arguments, dict)
        async with self._db.write() as session:
            session.add(
                ToolCall(
                    message_id=self._message_pk,
                    agent_run_id=self._run_pk,
                    call_id=record.call_id,
                    tool=record.tool,
                    arguments=record.arguments if isinstance(record.arguments, dict) else None,
                    raw_arguments=None if validated else str(record.arguments),
                    outcome=record.outcome.value,
                    summary=record.summary,
                    result=record.facts,
                    duration_ms=record.duration_ms,
                )
            )

    async def record_proposal(self, proposal: ProposalRecord) -> int:
        """Store a proposal; the same pending proposal for the same message is stored once."""
        async with self._db.write() as session:
            if self._message_pk is not None:
                pending = await session.execute(
                    select(ProposedAction).where(
                        ProposedAction.message_id == self._message_pk,
                        ProposedAction.tool == proposal.tool,
                        ProposedAction.order_id == proposal.order_id,
                        ProposedAction.status == "pending",
                    )
                )
                for existing in pending.scalars():
                    if existing.arguments == proposal.arguments:
                        return existing.id
            row = ProposedAction(
                message_id=self._message_pk,
                agent_run_id=self._run_pk,
                tool=proposal.tool,
                arguments=proposal.arguments,
                order_id=proposal.order_id,
                order_name=proposal.order_name,
                reason=proposal.reason,
                status="pending",
            )
            session.add(row)
            await session.flush()
            return row.id


async def tool_calls_for(session: AsyncSession, message_pk: int) -> list[ToolCall]:
    """The tool calls made while answering a message, in order."""
    statement = select(ToolCall).where(ToolCall.message_id == message_pk).order_by(ToolCall.id)
    return list((await session.execute(statement)).scalars())


async def latest_run_calls(session: AsyncSession, message_pk: int) -> list[ToolCall]:
    """The tool calls of the message's latest finished agent run, in order."""
    latest = (
        select(AgentRun.id)
        .where(AgentRun.message_id == message_pk, AgentRun.status == "finished")
        .order_by(AgentRun.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = select(ToolCall).where(ToolCall.agent_run_id == latest).order_by(ToolCall.id)
    return list((await session.execute(statement)).scalars())
