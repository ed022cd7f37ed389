"""Per-minute budgets for the model provider, shared by every worker process through the database.

OpenAI limits requests and tokens per minute per organisation, not per process: N workers each
pacing themselves would still exceed it together. Each model turn therefore first takes its
request and an estimate of its tokens from the current minute's row (a locked update), waits for
the next minute when the budget is spent, and afterwards corrects the estimate with the tokens
the provider reported.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.agent.llm import LLM, ModelRequest, ModelResponse
from app.db.engine import Database
from app.db.models import RateWindow

logger = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
"""A conservative estimate for the request before the provider counts it."""
MAX_WAIT_SECONDS = 61.0


@dataclass
class SharedBudget:
    """Requests and tokens per minute under one key, counted in the database."""

    db: Database
    key: str
    requests_per_minute: int
    tokens_per_minute: int
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def take(self, tokens: int) -> datetime:
        """Take one request and `tokens` from this minute, waiting for a later one if needed.

        Returns the minute charged, for `settle`. A single request larger than the whole token
        budget is let through alone in an otherwise empty minute rather than blocked forever.
        """
        while True:
            now = self.clock()
            window = now.replace(second=0, microsecond=0)
            async with self.db.write() as session:
                insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
                await session.execute(
                    insert(RateWindow)
                    .values(key=self.key, window_start=window, requests=0, tokens=0)
                    .on_conflict_do_nothing()
                )
                row = (
                    await session.execute(
                        select(RateWindow)
                        .where(RateWindow.key == self.key, RateWindow.window_start == window)
                        .with_for_update()
                    )
                ).scalar_one()
                fits_requests = row.requests + 1 <= self.requests_per_minute
                fits_tokens = row.tokens + tokens <= self.tokens_per_minute or row.requests == 0
                if fits_requests and fits_tokens:
                    row.requests += 1
                    row.tokens += tokens
                    return window
            wait = (window + timedelta(minutes=1) - now).total_seconds()
            logger.info("model budget spent; waiting", extra={"key": self.key, "seconds": wait})
            await self.sleep(min(MAX_WAIT_SECONDS, max(0.05, wait)))

    async def settle(self, window: datetime, correction: int) -> None:
        """Replace the estimate with what the provider counted (may be negative)."""
        if correction == 0:
            return
        async with self.db.write() as session:
            await session.execute(
                update(RateWindow)
                .where(RateWindow.key == self.key, RateWindow.window_start == window)
                .values(tokens=RateWindow.tokens + correction)
            )


def estimate_tokens(request: ModelRequest) -> int:
    """An upper-bound guess of a turn's tokens: its text in characters / 4, plus the answer."""
    size = len(request.instructions) + len(json.dumps(request.tools, ensure_ascii=False))
    size += sum(len(str(item)) for item in request.items)
    return size // CHARS_PER_TOKEN + request.max_output_tokens


class BudgetedLLM:
    """A model whose turns draw on a shared per-minute budget."""

    def __init__(self, inner: LLM, budget: SharedBudget) -> None:
        self.inner = inner
        self.budget = budget
        self.kind = inner.kind
        self.model = inner.model

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Wait for budget, run the turn, then correct the token count."""
        estimate = estimate_tokens(request)
        started = time.perf_counter()
        window = await self.budget.take(estimate)
        waited = time.perf_counter() - started
        if waited > 1:
            logger.info("model turn waited for budget", extra={"seconds": round(waited, 1)})
        response = await self.inner.complete(request)
        used = response.input_tokens + response.output_tokens
        await self.budget.settle(window, used - estimate)
        return response
