"""Circuit breakers for the providers: stop calling a service that keeps failing, probe it later.

After `threshold` consecutive failures the circuit opens: calls fail at once (the caller treats
that exactly like the outage it is: "the store is not answering", never "not found"). After
`reset_seconds` one call is let through as a probe; its success closes the circuit, its failure
opens it again. One breaker per provider per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from app import metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CircuitState(StrEnum):
    """Whether calls go through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The provider failed repeatedly; calls are refused until the next probe."""


@dataclass
class CircuitBreaker:
    """Counts consecutive failures of one provider and opens after `threshold` of them."""

    name: str
    threshold: int = 5
    reset_seconds: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = field(default=False)

    def __post_init__(self) -> None:
        self._publish()

    @property
    def state(self) -> CircuitState:
        """Closed, open, or half-open (the reset time has passed; the next call is a probe)."""
        if self.opened_at is None:
            return CircuitState.CLOSED
        if self.clock() - self.opened_at >= self.reset_seconds:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    async def call(
        self, action: Callable[[], Awaitable[T]], *, failure: tuple[type[BaseException], ...]
    ) -> T:
        """Run `action` unless the circuit is open; exceptions in `failure` count against it."""
        state = self._publish()
        if state is CircuitState.OPEN or (state is CircuitState.HALF_OPEN and self.probing):
            raise CircuitOpen(f"{self.name} is failing; calls paused for {self.reset_seconds:g} s")
        if state is CircuitState.HALF_OPEN:
            self.probing = True
        try:
            result = await action()
        except failure:
            self._failed()
            raise
        finally:
            self.probing = False
        self._succeeded()
        return result

    def _failed(self) -> None:
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.threshold:
            if self.opened_at is None:
                logger.error("circuit opened", extra={"provider": self.name})
            self.opened_at = self.clock()
        self._publish()

    def _succeeded(self) -> None:
        if self.opened_at is not None:
            logger.warning("circuit closed again", extra={"provider": self.name})
        self.failures = 0
        self.opened_at = None
        self._publish()

    def _publish(self) -> CircuitState:
        """Show the current state on `/metrics` (a half-open state shows once a call probes)."""
        state = self.state
        metrics.set_circuit(self.name, state.value)
        return state
