"""The tool-call caps, repeated calls, and output that cannot be sent back, at the agent loop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import respx
from hypothesis import given, settings
from hypothesis import strategies as st

from app.agent.calls import call_key, unusable
from app.agent.exchange_log import storable
from app.agent.llm import (
    AssistantTurn,
    LLMRejected,
    ModelRequest,
    ModelResponse,
    ToolCallRequest,
    ToolOutput,
    UserText,
    _chat_messages,
    _responses_input,
)
from app.agent.loop import AgentEmail, AgentLimits, MemoryTrace, run_agent
from app.agent.plan import HandoverReason
from app.tools.kit.context import MemoryJournal, Sender, ToolContext
from tests.agent.test_llm import APIS, Api
from tests.fakes import ScriptedLLM, call, submit, turn
from tests.tools.test_registry import RecordingShop

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
EMAIL = AgentEmail(subject="Where is my order #1001?", text="Where is order #1001?")
LONE = "\ud800"
"""A lone surrogate: a valid Python string, which UTF-8 (and so no HTTP body) can carry."""


def response(*calls: ToolCallRequest, text: str | None = None) -> ModelResponse:
    return ModelResponse(text=text, tool_calls=calls, finish_reason="completed")


def texts(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts(item)


def raw_call(arguments: str, *, call_id: str = "c1", name: str = "get_order") -> ToolCallRequest:
    return ToolCallRequest(call_id=call_id, name=name, arguments=arguments)


# --- What can be sent back -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        (response(raw_call('{"order_number": "' + LONE + '"}')), "cannot be encoded"),
        (response(raw_call('{"order_number": "\\ud800"}')), "cannot be encoded"),
        (response(raw_call('{"order_number": "\\u0000"}')), "cannot be encoded"),
        (response(raw_call("{not json")), "are not valid JSON"),
        (response(raw_call('["1001"]')), "are not a JSON object"),
        (response(raw_call("42")), "are not a JSON object"),
        (response(raw_call("{}"), text="Let me look" + LONE), "the text contains"),
        (response(raw_call("{}", call_id="")), "tool call id"),
        (response(raw_call("{}", call_id="x" * 129)), "tool call id"),
        (response(raw_call("{}", call_id="c" + LONE)), "tool call id"),
        (response(raw_call("{}"), raw_call("{}", name="list_my_orders")), "same id"),
        (response(raw_call("{}", name="get order; drop")), "tool name"),
        (response(raw_call("{}", name="")), "tool name"),
        (
            ModelResponse(text=None, tool_calls=(), finish_reason="completed", problem="wrong"),
            "wrong",
        ),
    ],
    ids=[
        "surrogate-in-arguments",
        "escaped-surrogate",
        "escaped-nul",
        "not-json",
        "json-list",
        "json-number",
        "surrogate-in-text",
        "empty-id",
        "long-id",
        "surrogate-in-id",
        "id-twice",
        "bad-name",
        "empty-name",
        "wrong-types",
    ],
)
def test_output_that_cannot_go_back_is_named(output: ModelResponse, problem: str) -> None:
    found = unusable(output)
    assert found is not None
    assert problem in found


def test_ordinary_output_can_go_back() -> None:
    calls = (
        raw_call('{"order_number": "#1001"}'),
        # An unknown but well-formed name goes back to the model as "no such tool".
        raw_call('{"x": ["سفارش", 1, null, {"y": "😀"}]}', call_id="c2", name="drop_tables"),
        raw_call("", call_id="c3", name="list_my_orders"),
    )
    assert unusable(response(*calls, text="Checking\u2026")) is None


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
ARGUMENTS = st.dictionaries(st.text(max_size=20), JSON_VALUES, max_size=5)
# Any code point, lone surrogates and NUL included: what a broken model might emit.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
ANY_ARGUMENTS = st.dictionaries(ANY_TEXT, ANY_TEXT | st.lists(ANY_TEXT, max_size=3), max_size=4)
MODEL_ARGUMENTS = (
    ANY_TEXT
    | ARGUMENTS.map(json.dumps)
    | st.builds(json.dumps, ANY_ARGUMENTS, ensure_ascii=st.booleans())
)


@settings(database=None, max_examples=200)
@given(arguments=ARGUMENTS, ascii_only=st.booleans())
def test_any_json_object_without_lone_surrogates_or_nul_can_go_back(
    arguments: dict[str, Any], ascii_only: bool
) -> None:
    # Hypothesis text has no lone surrogates by default; NUL is the one character it may add.
    text = json.dumps(arguments, ensure_ascii=ascii_only)
    has_nul = any("\x00" in t for t in texts(arguments))
    assert (unusable(response(raw_call(text))) is None) is not has_nul


@settings(database=None, max_examples=300)
@given(
    text=st.none() | ANY_TEXT,
    call_id=st.just("call_1") | ANY_TEXT,
    name=st.sampled_from(["get_order", "drop_tables"]) | ANY_TEXT,
    arguments=MODEL_ARGUMENTS,
)
def test_whatever_is_judged_usable_encodes_for_both_apis_and_the_database(
    text: str | None, call_id: str, name: str, arguments: str
) -> None:
    output = response(ToolCallRequest(call_id=call_id, name=name, arguments=arguments), text=text)
    if unusable(output) is not None:
        return
    echoed = ModelRequest(
        instructions="i",
        items=(
            UserText(text="hi"),
            AssistantTurn(text=output.text, tool_calls=output.tool_calls),
            ToolOutput(call_id=call_id, content="result"),
        ),
        tools=(),
    )
    # What the SDK's HTTP client does with the request body: strict UTF-8 JSON.
    json.dumps(_chat_messages(echoed), ensure_ascii=False).encode("utf-8")
    json.dumps(_responses_input(echoed.items), ensure_ascii=False).encode("utf-8")
    # PostgreSQL refuses NUL in text and JSON; the tools get an object, as their schema says.
    parsed = json.loads(arguments or "{}")
    assert isinstance(parsed, dict)
    assert not any("\x00" in t for t in [*texts(parsed), call_id, text or ""])


@settings(database=None, max_examples=200)
@given(
    value=st.recursive(ANY_TEXT, lambda inner: st.lists(inner) | st.dictionaries(ANY_TEXT, inner))
)
def test_the_trace_stores_any_text_as_utf8_without_nul(value: Any) -> None:
    stored = storable(value)
    json.dumps(stored, ensure_ascii=False).encode("utf-8")
    assert not any("\x00" in t for t in texts(stored))


@settings(database=None, max_examples=200)
@given(arguments=ARGUMENTS)
def test_the_same_call_is_recognised_whatever_the_key_order_and_spacing(
    arguments: dict[str, Any],
) -> None:
    first = raw_call(json.dumps(arguments))
    again = raw_call(json.dumps(dict(reversed(arguments.items())), indent=2), call_id="c2")
    assert call_key(first) == call_key(again)
    assert call_key(first) != call_key(raw_call(json.dumps(arguments), name="get_customer"))


# --- In the loop -----------------------------------------------------------------------------


async def run(
    llm: ScriptedLLM, limits: AgentLimits | None = None
) -> tuple[Any, MemoryJournal, RecordingShop]:
    shop = RecordingShop()
    journal = MemoryJournal()
    ctx = ToolContext(shop=shop, sender=Sender(email="alice@example.com"), journal=journal, now=NOW)
    outcome = await run_agent(
        EMAIL, ctx=ctx, llm=llm, trace=MemoryTrace(), store_name="S", limits=limits
    )
    return outcome, journal, shop


def flood(turn_number: int, size: int = 300) -> ModelResponse:
    """One turn asking for `size` different order lookups."""
    return turn(
        *(
            call(
                "get_order",
                call_id=f"t{turn_number}_{n}",
                order_number=str(10_000 + 1000 * turn_number + n),
            )
            for n in range(size)
        )
    )


class Lookups:
    """Counts the store lookups each model turn caused (sampled when the model is asked)."""

    def __init__(self, shop: RecordingShop) -> None:
        self.shop = shop
        self.marks: list[int] = []

    def mark(self, step: ModelResponse) -> Callable[[ModelRequest], ModelResponse]:
        def answer(request: ModelRequest) -> ModelResponse:
            self.marks.append(len(self.shop.calls))
            return step

        return answer


async def test_300_calls_a_turn_run_at_most_8_a_turn_and_20_an_email() -> None:
    shop = RecordingShop()
    lookups = Lookups(shop)
    llm = ScriptedLLM(
        [lookups.mark(step) for step in [flood(0), flood(1), flood(2), turn(submit())]]
    )
    journal = MemoryJournal()
    ctx = ToolContext(shop=shop, sender=Sender(email="alice@example.com"), journal=journal, now=NOW)
    outcome = await run_agent(EMAIL, ctx=ctx, llm=llm, trace=MemoryTrace(), store_name="S")

    per_turn = [b - a for a, b in zip(lookups.marks, lookups.marks[1:], strict=False)]
    assert per_turn == [8, 8, 4]
    assert len(shop.calls) == len(journal.calls) == 20
    # Every call the model asked for is answered once, so the conversation stays valid.
    last = llm.requests[-1]
    asked = [c.call_id for i in last.items if isinstance(i, AssistantTurn) for c in i.tool_calls]
    answered = [i.call_id for i in last.items if isinstance(i, ToolOutput)]
    assert sorted(asked) == sorted(answered)
    assert len(asked) == 900
    outputs = [i.content for i in last.items if isinstance(i, ToolOutput)]
    assert sum(o.startswith("Not run: cap reached") for o in outputs) == 900 - 20
    # The plan was confident, but a cap was hit: a person sees it first.
    assert outcome.plan.needs_human
    assert outcome.plan.handover_reason is HandoverReason.CAP_HIT


async def test_the_caps_come_from_the_limits() -> None:
    llm = ScriptedLLM([flood(0, size=5), flood(1, size=5), turn(submit())])
    outcome, journal, shop = await run(
        llm, AgentLimits(max_calls_per_turn=3, max_calls_per_email=4)
    )
    assert len(shop.calls) == 4
    assert outcome.plan.handover_reason is HandoverReason.CAP_HIT


async def test_calls_within_the_caps_do_not_hand_over() -> None:
    llm = ScriptedLLM([flood(0, size=8), flood(1, size=8), turn(submit())])
    outcome, _, shop = await run(llm)
    assert len(shop.calls) == 16
    assert not outcome.plan.needs_human


@pytest.mark.parametrize(
    "bad",
    [
        raw_call('{"order_number": "' + LONE + '"}', call_id="bad"),
        raw_call("{not json", call_id="bad"),
        raw_call('"1001"', call_id="bad"),
    ],
    ids=["lone-surrogate", "not-json", "not-an-object"],
)
async def test_output_that_cannot_go_back_hands_over_without_running_anything(
    bad: ToolCallRequest,
) -> None:
    llm = ScriptedLLM(
        [
            turn(call("get_order", call_id="c1", order_number="1001")),
            turn(call("get_order", call_id="c2", order_number="2002"), bad),
        ]
    )
    shop = RecordingShop()
    trace = MemoryTrace()
    ctx = ToolContext(shop=shop, sender=Sender(email="alice@example.com"), now=NOW)
    outcome = await run_agent(EMAIL, ctx=ctx, llm=llm, trace=trace, store_name="S")
    assert outcome.plan.needs_human
    assert outcome.plan.handover_reason is HandoverReason.MODEL_ERROR
    # The first turn's lookup ran; nothing of the unusable turn did, and it was not sent back.
    assert len(shop.calls) == 1
    assert len(llm.requests) == 2
    assert trace.turns[-1].error is not None
    assert trace.turns[-1].error.startswith("unusable model output: the arguments of get_order")


@APIS
async def test_a_request_that_cannot_be_encoded_is_refused_before_it_is_sent(
    api: Api, httpx2_mock: respx.Router
) -> None:
    # A lone surrogate from anywhere else (a tool result, say) must not crash the job either:
    # the agent hands a rejected request over as a model error.
    conversation = ModelRequest(
        instructions="i",
        items=(
            UserText(text="hi"),
            AssistantTurn(text=None, tool_calls=(raw_call("{}"),)),
            ToolOutput(call_id="c1", content="Order " + LONE),
        ),
        tools=(),
    )
    with pytest.raises(LLMRejected, match="could not be encoded"):
        await api.llm().complete(conversation)
    assert httpx2_mock.calls.call_count == 0
