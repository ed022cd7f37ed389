"""SQL for the agent's exchange log: runs, model turns, tool calls and proposals.

By default each record commits on its own, as it happens. The pipeline instead buffers a run's
turns and tool calls and commits them with the run's outcome and the email's plan in one
transaction (fewer commits per email); a run cut short by a crash then leaves only its `running`
row, and the email is planned again by a new run. Proposals always commit at once: the model is
told their id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.agent.calls import UNUSABLE_CHARS
from app.agent.llm import request_for_trace, tools_hash
from app.agent.loop import PROMPT_VERSION, AgentOutcome, TurnRecord
from app.db.engine import Database
from app.db.models import AgentRun, ModelTurn, ProposedAction, ToolCall, utcnow
from app.db.statuses import AgentRunStatus, ProposalStatus
from app.tools.kit.context import CallRecord, ProposalRecord


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
        return await session.run_sync(
            start_run_in, message_pk=message_pk, llm_kind=llm_kind, model=model, tools=tools
        )


def start_run_in(
    session: Session,
    *,
    message_pk: int | None,
    llm_kind: str,
    model: str,
    tools: tuple[dict[str, Any], ...],
) -> int:
    """`start_run` in the caller's unit of work."""
    if message_pk is not None:
        session.execute(
            update(AgentRun)
            .where(AgentRun.message_id == message_pk, AgentRun.status == AgentRunStatus.RUNNING)
            .values(status=AgentRunStatus.ABANDONED, finished_at=utcnow())
        )
    run = AgentRun(
        message_id=message_pk,
        llm_kind=llm_kind,
        model=model,
        prompt_version=PROMPT_VERSION,
        tools_hash=tools_hash(tools),
        status=AgentRunStatus.RUNNING,
    )
    session.add(run)
    session.flush()
    return run.id


async def finish_run(db: Database, run_pk: int, outcome: AgentOutcome) -> None:
    """Record how a run ended: its plan, steps and tokens."""
    async with db.write() as session:
        await session.run_sync(finish_run_in, run_pk, outcome)


def finish_run_in(session: Session, run_pk: int, outcome: AgentOutcome) -> None:
    """`finish_run` in the caller's unit of work."""
    plan = outcome.plan
    session.execute(
        update(AgentRun)
        .where(AgentRun.id == run_pk)
        .values(
            status=AgentRunStatus.FINISHED,
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
    """Writes one run's model turns (at once, or on `flush_into` when `buffered`)."""

    def __init__(
        self,
        db: Database,
        *,
        run_pk: int,
        message_pk: int | None,
        tools_hash: str,
        buffered: bool = False,
    ) -> None:
        self._db = db
        self._run_pk = run_pk
        self._message_pk = message_pk
        self._tools_hash = tools_hash
        self._buffer: list[ModelTurn] | None = [] if buffered else None

    def flush_into(self, session: Session) -> None:
        """Add the buffered turns to the caller's transaction."""
        if self._buffer:
            session.add_all(self._buffer)
            self._buffer = []

    async def record_turn(self, turn: TurnRecord) -> None:
        row = self._row(turn)
        if self._buffer is not None:
            self._buffer.append(row)
            return
        async with self._db.write() as session:
            session.add(row)

    def _row(self, turn: TurnRecord) -> ModelTurn:
        response = turn.response
        return ModelTurn(
            agent_run_id=self._run_pk,
            message_id=self._message_pk,
            step=turn.step,
            llm_kind=turn.llm_kind,
            model=response.model if response and response.model else turn.model,
            prompt_version=PROMPT_VERSION,
            tools_hash=self._tools_hash,
            request=storable(request_for_trace(turn.request)),
            response=storable(response.raw) if response else None,
            input_tokens=response.input_tokens if response else 0,
            output_tokens=response.output_tokens if response else 0,
            latency_ms=response.latency_ms if response else 0.0,
            finish_reason=response.finish_reason if response else None,
            error=turn.error,
        )


def storable(value: Any) -> Any:
    """JSON with every lone surrogate and NUL replaced by U+FFFD.

    A turn whose output could not be sent back is still recorded, and is exactly the one staff
    open: a lone surrogate would make its trace fail to encode as UTF-8 when shown, and NUL is
    refused by PostgreSQL wherever the value ends up as text.
    """
    if isinstance(value, str):
        return UNUSABLE_CHARS.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


class SqlJournal:
    """Writes one message's tool calls and proposals."""

    def __init__(
        self,
        db: Database,
        *,
        message_pk: int | None,
        run_pk: int | None = None,
        buffered: bool = False,
    ) -> None:
        self._db = db
        self._message_pk = message_pk
        self._run_pk = run_pk
        self._buffer: list[ToolCall] | None = [] if buffered else None

    @property
    def buffered_calls(self) -> list[ToolCall]:
        """The tool calls recorded and not yet flushed, in order (their results included)."""
        return list(self._buffer or [])

    def flush_into(self, session: Session) -> None:
        """Add the buffered tool calls to the caller's transaction."""
        if self._buffer:
            session.add_all(self._buffer)
            self._buffer = []

    async def record_call(self, record: CallRecord) -> None:
        validated = isinstance(record.arguments, dict)
        row = ToolCall(
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
        if self._buffer is not None:
            self._buffer.append(row)
            return
        async with self._db.write() as session:
            session.add(row)

    async def record_proposal(self, proposal: ProposalRecord) -> int:
        """Store a proposal; the same pending proposal for the same message is stored once."""
        async with self._db.write() as session:
            if self._message_pk is not None:
                pending = await session.execute(
                    select(ProposedAction).where(
                        ProposedAction.message_id == self._message_pk,
                        ProposedAction.tool == proposal.tool,
                        ProposedAction.order_id == proposal.order_id,
                        ProposedAction.status == ProposalStatus.PENDING,
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
                status=ProposalStatus.PENDING,
            )
            session.add(row)
            await session.flush()
            return row.id


async def latest_run_id(session: AsyncSession, message_pk: int) -> int | None:
    """The id of the message's latest finished agent run."""
    statement = (
        select(AgentRun.id)
        .where(AgentRun.message_id == message_pk, AgentRun.status == AgentRunStatus.FINISHED)
        .order_by(AgentRun.id.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def latest_run_calls(session: AsyncSession, message_pk: int) -> list[ToolCall]:
    """The tool calls of the message's latest finished agent run, in order."""
    latest = (
        select(AgentRun.id)
        .where(AgentRun.message_id == message_pk, AgentRun.status == AgentRunStatus.FINISHED)
        .order_by(AgentRun.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = select(ToolCall).where(ToolCall.agent_run_id == latest).order_by(ToolCall.id)
    return list((await session.execute(statement)).scalars())
