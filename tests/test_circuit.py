"""Circuit breakers: stop calling a failing provider, probe it later, never mislead."""

from __future__ import annotations

import httpx
import pytest
import respx

from app.agent.llm import GuardedLLM, LLMRejected, LLMUnavailable, ModelRequest, UserText
from app.circuit import CircuitBreaker, CircuitOpen, CircuitState
from app.store.protocol import ShopQueryError, ShopUnavailable
from app.store.shopify import ShopifyGraphQL, StaticToken
from tests.fakes import ScriptedLLM, turn


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def fail() -> None:
    raise ShopUnavailable("down")


async def succeed() -> str:
    return "ok"


def state(circuit: CircuitBreaker) -> CircuitState:
    """The state now (a function, so each read is fresh for the type checker too)."""
    return circuit.state


def breaker(clock: Clock, threshold: int = 3) -> CircuitBreaker:
    return CircuitBreaker(name="shop", threshold=threshold, reset_seconds=30, clock=clock)


async def test_the_circuit_opens_after_consecutive_failures_and_then_fails_fast() -> None:
    clock = Clock()
    circuit = breaker(clock)
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        raise ShopUnavailable("down")

    for _ in range(3):
        with pytest.raises(ShopUnavailable):
            await circuit.call(counted, failure=(ShopUnavailable,))
    assert state(circuit) is CircuitState.OPEN
    with pytest.raises(CircuitOpen):
        await circuit.call(counted, failure=(ShopUnavailable,))
    assert calls == 3


async def test_a_success_between_failures_resets_the_count() -> None:
    circuit = breaker(Clock())
    for _ in range(2):
        with pytest.raises(ShopUnavailable):
            await circuit.call(fail, failure=(ShopUnavailable,))
    assert await circuit.call(succeed, failure=(ShopUnavailable,)) == "ok"
    for _ in range(2):
        with pytest.raises(ShopUnavailable):
            await circuit.call(fail, failure=(ShopUnavailable,))
    assert state(circuit) is CircuitState.CLOSED


async def test_after_the_reset_time_one_probe_decides_whether_it_closes() -> None:
    clock = Clock()
    circuit = breaker(clock, threshold=1)
    with pytest.raises(ShopUnavailable):
        await circuit.call(fail, failure=(ShopUnavailable,))
    clock.now += 29
    assert state(circuit) is CircuitState.OPEN
    clock.now += 1
    assert state(circuit) is CircuitState.HALF_OPEN
    with pytest.raises(ShopUnavailable):
        await circuit.call(fail, failure=(ShopUnavailable,))
    assert state(circuit) is CircuitState.OPEN  # The probe failed: open for another 30 s.
    clock.now += 30
    assert await circuit.call(succeed, failure=(ShopUnavailable,)) == "ok"
    assert state(circuit) is CircuitState.CLOSED


async def test_errors_that_are_not_outages_do_not_open_the_circuit() -> None:
    circuit = breaker(Clock(), threshold=1)

    async def bad_query() -> None:
        raise ShopQueryError("field does not exist")

    for _ in range(3):
        with pytest.raises(ShopQueryError):
            await circuit.call(bad_query, failure=(ShopUnavailable,))
    assert state(circuit) is CircuitState.CLOSED


async def test_an_open_circuit_makes_the_model_unavailable_without_calling_it() -> None:
    clock = Clock()
    model = ScriptedLLM([LLMUnavailable("timeout"), LLMRejected("bad key"), turn(), turn(), turn()])
    guarded = GuardedLLM(model, breaker(clock, threshold=1))
    request = ModelRequest(instructions="", items=(UserText(text="hi"),), tools=())
    with pytest.raises(LLMUnavailable):
        await guarded.complete(request)
    with pytest.raises(LLMUnavailable, match="calls paused"):
        await guarded.complete(request)
    assert len(model.requests) == 1
    clock.now += 30
    # A refusal is the request's fault, not an outage: it does not keep the circuit open.
    with pytest.raises(LLMRejected):
        await guarded.complete(request)
    assert (guarded.kind, guarded.model) == ("scripted", "scripted-model")


async def test_the_shopify_client_stops_calling_a_failing_store(
    respx_mock: respx.MockRouter,
) -> None:
    endpoint = "https://down.myshopify.com/admin/api/2026-10/graphql.json"
    route = respx_mock.post(endpoint).mock(return_value=httpx.Response(503))

    async def no_sleep(_seconds: float) -> None:
        return None

    async with httpx.AsyncClient() as http:
        client = ShopifyGraphQL(
            endpoint=endpoint,
            tokens=StaticToken("shpat_x"),
            http=http,
            max_attempts=2,
            sleep=no_sleep,
            breaker=CircuitBreaker(name="shopify", threshold=2, reset_seconds=30),
        )
        for _ in range(2):
            with pytest.raises(ShopUnavailable, match="after 2 attempts"):
                await client.execute("query { shop { name } }")
        assert route.call_count == 4
        with pytest.raises(ShopUnavailable, match="calls paused"):
            await client.execute("query { shop { name } }")
        assert route.call_count == 4
