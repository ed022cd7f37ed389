"""The shared per-minute model budget: every worker draws on the same rows in the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.agent.budget import BudgetedLLM, SharedBudget, estimate_tokens
from app.agent.llm import ModelRequest, UserText
from app.db.engine import Database
from app.db.models import RateWindow
from app.db.scope import ALL_STORES
from tests.fakes import ScriptedLLM, turn

START = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)


class Minutes:
    """A clock that moves only when someone sleeps, and the sleep that moves it."""

    def __init__(self) -> None:
        self.now = START
        self.slept: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now = max(self.now, self.now + timedelta(seconds=seconds))


def budget(db: Database, time: Minutes, *, rpm: int = 1000, tpm: int = 10**6) -> SharedBudget:
    return SharedBudget(
        db=db,
        key="openai:test",
        requests_per_minute=rpm,
        tokens_per_minute=tpm,
        clock=time.clock,
        sleep=time.sleep,
    )


async def windows(db: Database) -> list[tuple[datetime, int, int]]:
    async with db.read(ALL_STORES) as session:
        rows = (
            await session.execute(select(RateWindow).order_by(RateWindow.window_start))
        ).scalars()
        return [(r.window_start, r.requests, r.tokens) for r in rows]


async def test_two_processes_share_one_request_budget(db: Database) -> None:
    time = Minutes()
    first, second = budget(db, time, rpm=3), budget(db, time, rpm=3)
    for limiter in (first, second, first):
        assert await limiter.take(10) == START.replace(second=0)
    assert time.slept == []
    await second.take(10)  # The fourth request of the minute waits for the next one.
    assert time.slept == [30.0]
    assert await windows(db) == [
        (START.replace(second=0), 3, 30),
        (START.replace(second=0) + timedelta(minutes=1), 1, 10),
    ]


async def test_the_token_budget_holds_back_a_turn_until_the_next_minute(db: Database) -> None:
    time = Minutes()
    limiter = budget(db, time, tpm=1000)
    await limiter.take(600)
    await limiter.take(600)
    assert time.slept == [30.0]
    # One turn bigger than the whole budget still runs, alone in its minute.
    await limiter.take(5000)
    assert len(time.slept) == 2


async def test_concurrent_turns_never_exceed_the_budget(db: Database) -> None:
    time = Minutes()
    limiters = [budget(db, time, rpm=5) for _ in range(10)]
    await asyncio.gather(*(limiter.take(1) for limiter in limiters))
    counts = [requests for _, requests, _ in await windows(db)]
    assert sum(counts) == 10
    assert max(counts) <= 5


async def test_the_estimate_is_corrected_with_the_tokens_the_provider_counted(
    db: Database,
) -> None:
    time = Minutes()
    model = ScriptedLLM([turn(tokens=300)])  # 300 in, 30 out.
    llm = BudgetedLLM(model, budget(db, time))
    request = ModelRequest(
        instructions="x" * 4000, items=(UserText(text="hello"),), tools=(), max_output_tokens=800
    )
    assert estimate_tokens(request) >= 1800
    response = await llm.complete(request)
    assert response.input_tokens == 300
    assert await windows(db) == [(START.replace(second=0), 1, 330)]
    assert (llm.kind, llm.model) == ("scripted", "scripted-model")
