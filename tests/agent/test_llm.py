"""The OpenAI adapters against wire-shaped JSON, for the Responses API and Chat Completions.

Every request goes through the real SDK (openai 3.x, which sends through HTTPX2) to the
`httpx2_mock` router; an unmatched request fails the test. The payloads are built like the
recorded responses in `shared/openai-sdk-recorded/` and are validated against the SDK's own
models first, because the SDK itself parses responses without validating them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import respx
from openai import AsyncOpenAI  # noqa: TID251 - the tests build the client the adapters take.
from openai.types.chat import ChatCompletion  # noqa: TID251 - payloads are checked against it.
from openai.types.responses import Response  # noqa: TID251 - payloads are checked against it.

import app.agent.llm as llm_module
from app.agent.llm import (
    AssistantTurn,
    LLMRejected,
    LLMUnavailable,
    ModelRequest,
    OpenAIChatLLM,
    OpenAIResponsesLLM,
    ToolCallRequest,
    ToolOutput,
    UserText,
)
from app.agent.loop import SUBMIT_TOOL, AgentEmail, MemoryTrace, run_agent
from app.agent.plan import HandoverReason, Intent
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.kit.lookup import ORDER_NOT_FOUND
from tests.tools.test_registry import RecordingShop

RESPONSES_URL = "https://api.openai.com/v1/responses"
CHAT_URL = "https://api.openai.com/v1/chat/completions"
PAYLOADS = Path(__file__).parents[1] / "payloads" / "openai"
MODEL = "gpt-4.1-mini"
SERVED_MODEL = "gpt-4.1-mini-2025-04-14"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
INSTRUCTIONS = "You answer customer emails for Test Shop."
GET_ORDER = {
    "name": "get_order",
    "description": "Look up one of the sender's orders by its number.",
    "parameters": {
        "type": "object",
        "properties": {"order_number": {"type": "string", "description": 'e.g. "#1001".'}},
        "required": ["order_number"],
        "additionalProperties": False,
    },
    "strict": True,
}
LIST_ORDERS = {
    "name": "list_my_orders",
    "description": "The sender's latest orders.",
    "parameters": {
        "type": "object",
        "properties": {"limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["limit"],
        "additionalProperties": False,
    },
    "strict": True,
}
ORDER_ARGS = '{"order_number":"#1001"}'
BAD_ARGS = '{"number":"#1001"}'
"""A JSON object the API takes back that does not fit `get_order`: the model may fix it."""


# --- Wire payloads ------------------------------------------------------------------------------


def _payload(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return body


def responses_body(
    *output: dict[str, Any],
    status: str = "completed",
    incomplete_reason: str | None = None,
    input_tokens: int = 321,
    output_tokens: int = 45,
) -> dict[str, Any]:
    """A `response` object like the recorded one, with this output."""
    body = _payload("responses.parallel_function_calls.json")
    body.update(
        status=status,
        incomplete_details={"reason": incomplete_reason} if incomplete_reason else None,
        output=list(output),
    )
    body["usage"].update(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )
    body["usage"]["input_tokens_details"]["cached_tokens"] = 0
    Response.model_validate(body)
    return body


def function_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {
        "id": f"fc_{call_id}",
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def message_item(*content: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_0a1b2c3d4e5f6071",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": list(content),
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def chat_body(
    message: dict[str, Any],
    *,
    finish_reason: str,
    prompt_tokens: int = 321,
    completion_tokens: int = 45,
) -> dict[str, Any]:
    """A `chat.completion` object like the recorded one, with this one choice."""
    body = _payload("chat.parallel_tool_calls.json")
    body["choices"] = [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                **message,
            },
            "logprobs": None,
            "finish_reason": finish_reason,
        }
    ]
    body["usage"].update(
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
    )
    ChatCompletion.model_validate(body)
    return body


def chat_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --- The two APIs behind one test interface -----------------------------------------------------


Adapter = OpenAIResponsesLLM | OpenAIChatLLM


@dataclass(frozen=True)
class Api:
    """One API: its endpoint, its adapter, its payloads and how to read its requests."""

    name: str
    url: str
    adapter: type[OpenAIResponsesLLM] | type[OpenAIChatLLM]

    def llm(self, *, max_retries: int = 0, temperature: float | None = None) -> Adapter:
        client = AsyncOpenAI(api_key="sk-test", max_retries=max_retries)
        return self.adapter(client, model=MODEL, temperature=temperature)

    def calls(
        self, *calls: tuple[str, str, str], prompt_tokens: int = 321, completion_tokens: int = 45
    ) -> dict[str, Any]:
        """A response making these (call_id, name, arguments) calls, with this usage."""
        if self.adapter is OpenAIResponsesLLM:
            return responses_body(
                *(function_call(*c) for c in calls),
                input_tokens=prompt_tokens,
                output_tokens=completion_tokens,
            )
        message = {"tool_calls": [chat_tool_call(*c) for c in calls]}
        return chat_body(
            message,
            finish_reason="tool_calls",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )

    def text(self, text: str) -> dict[str, Any]:
        if self.adapter is OpenAIResponsesLLM:
            return responses_body(message_item(output_text(text)))
        return chat_body({"content": text}, finish_reason="stop")

    def echoed_calls(self, body: dict[str, Any]) -> list[tuple[str, str, str]]:
        """The earlier calls a request echoes back, as (call_id, name, arguments)."""
        if self.adapter is OpenAIResponsesLLM:
            return [
                (i["call_id"], i["name"], i["arguments"])
                for i in body["input"]
                if i.get("type") == "function_call"
            ]
        return [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for m in body["messages"]
            if m["role"] == "assistant"
            for c in m.get("tool_calls", [])
        ]

    def outputs(self, body: dict[str, Any]) -> dict[str, str]:
        """The tool outputs a request carries, by call id."""
        if self.adapter is OpenAIResponsesLLM:
            items = [i for i in body["input"] if i.get("type") == "function_call_output"]
            pairs = [(i["call_id"], i["output"]) for i in items]
        else:
            tools = [m for m in body["messages"] if m["role"] == "tool"]
            pairs = [(m["tool_call_id"], m["content"]) for m in tools]
        assert len({call_id for call_id, _ in pairs}) == len(pairs), "one output per call"
        return dict(pairs)

    def assert_paired(self, body: dict[str, Any]) -> None:
        """Every echoed call is answered once, after it; every output answers an earlier call."""
        if self.adapter is OpenAIResponsesLLM:
            sequence = [
                (i["type"], i["call_id"])
                for i in body["input"]
                if i.get("type") in ("function_call", "function_call_output")
            ]
        else:
            sequence = []
            for m in body["messages"]:
                if m["role"] == "assistant":
                    sequence += [("function_call", c["id"]) for c in m.get("tool_calls", [])]
                elif m["role"] == "tool":
                    sequence.append(("function_call_output", m["tool_call_id"]))
        calls = [call_id for kind, call_id in sequence if kind == "function_call"]
        outputs = [call_id for kind, call_id in sequence if kind == "function_call_output"]
        assert sorted(calls) == sorted(outputs)
        assert len(set(calls)) == len(calls)
        for position, (kind, call_id) in enumerate(sequence):
            if kind == "function_call_output":
                assert ("function_call", call_id) in sequence[:position]


RESPONSES = Api("responses", RESPONSES_URL, OpenAIResponsesLLM)
CHAT = Api("chat", CHAT_URL, OpenAIChatLLM)
APIS = pytest.mark.parametrize("api", [RESPONSES, CHAT], ids=lambda a: a.name)


def sent(route: respx.Route, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


def ok(body: dict[str, Any], request_id: str = "req_0001") -> httpx.Response:
    return httpx.Response(200, json=body, headers={"x-request-id": request_id})


def request(*items: UserText | AssistantTurn | ToolOutput, max_tokens: int = 800) -> ModelRequest:
    return ModelRequest(
        instructions=INSTRUCTIONS,
        items=items or (UserText(text="Where is my order #1001?"),),
        tools=(GET_ORDER, LIST_ORDERS),
        max_output_tokens=max_tokens,
    )


def contains(actual: Any, expected: Any) -> bool:
    """`actual` has everything `expected` has (the SDK adds its optional fields as null)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return bool(actual == expected)


# A conversation with two earlier assistant turns: parallel calls, then text and one call.
FIRST = ToolCallRequest(call_id="call_a", name="get_order", arguments=ORDER_ARGS)
SECOND = ToolCallRequest(call_id="call_b", name="list_my_orders", arguments='{"limit":null}')
THIRD = ToolCallRequest(call_id="call_c", name="get_order", arguments='{"order_number":"2002"}')
CONVERSATION = (
    UserText(text="<<<EMAIL x>>>Where is #1001?<<<END EMAIL x>>>"),
    AssistantTurn(text=None, tool_calls=(FIRST, SECOND)),
    ToolOutput(call_id="call_a", content="Order #1001: processing"),
    ToolOutput(call_id="call_b", content="2 orders"),
    AssistantTurn(text="Let me check the other one.", tool_calls=(THIRD,)),
    ToolOutput(call_id="call_c", content=ORDER_NOT_FOUND),
    UserText(text=f"Call a tool, or finish with {SUBMIT_TOOL}."),
)


# --- Request shape ------------------------------------------------------------------------------


async def test_responses_request_shape(httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.post(RESPONSES_URL).mock(return_value=ok(RESPONSES.text("ok")))
    await RESPONSES.llm().complete(request(*CONVERSATION, max_tokens=640))
    body = sent(route)
    assert set(body) == {
        "model",
        "instructions",
        "input",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "store",
    }
    assert body["model"] == MODEL
    assert body["instructions"] == INSTRUCTIONS
    assert body["tools"] == [
        {
            "type": "function",
            "name": "get_order",
            "description": GET_ORDER["description"],
            "parameters": GET_ORDER["parameters"],
            "strict": True,
        },
        {"type": "function", **LIST_ORDERS},
    ]
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is True
    assert body["store"] is False
    assert body["max_output_tokens"] == 640
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test"


async def test_responses_input_echoes_calls_and_pairs_every_output(
    httpx2_mock: respx.Router,
) -> None:
    route = httpx2_mock.post(RESPONSES_URL).mock(return_value=ok(RESPONSES.text("ok")))
    await RESPONSES.llm().complete(request(*CONVERSATION))
    assert sent(route)["input"] == [
        {"role": "user", "content": "<<<EMAIL x>>>Where is #1001?<<<END EMAIL x>>>"},
        {
            "type": "function_call",
            "call_id": "call_a",
            "name": "get_order",
            "arguments": ORDER_ARGS,
        },
        {
            "type": "function_call",
            "call_id": "call_b",
            "name": "list_my_orders",
            "arguments": '{"limit":null}',
        },
        {"type": "function_call_output", "call_id": "call_a", "output": "Order #1001: processing"},
        {"type": "function_call_output", "call_id": "call_b", "output": "2 orders"},
        {"role": "assistant", "content": "Let me check the other one."},
        {
            "type": "function_call",
            "call_id": "call_c",
            "name": "get_order",
            "arguments": '{"order_number":"2002"}',
        },
        {"type": "function_call_output", "call_id": "call_c", "output": ORDER_NOT_FOUND},
        {"role": "user", "content": f"Call a tool, or finish with {SUBMIT_TOOL}."},
    ]
    RESPONSES.assert_paired(sent(route))


async def test_chat_request_shape(httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.post(CHAT_URL).mock(return_value=ok(CHAT.text("ok")))
    await CHAT.llm().complete(request(*CONVERSATION, max_tokens=640))
    body = sent(route)
    assert set(body) == {
        "model",
        "messages",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_completion_tokens",
    }
    assert body["model"] == MODEL
    assert body["messages"][0] == {"role": "system", "content": INSTRUCTIONS}
    assert body["tools"] == [
        {"type": "function", "function": GET_ORDER},
        {"type": "function", "function": LIST_ORDERS},
    ]
    assert body["tools"][0]["function"]["strict"] is True
    assert body["tool_choice"] == "required"
    assert body["parallel_tool_calls"] is True
    assert body["max_completion_tokens"] == 640
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test"


async def test_chat_messages_echo_calls_and_pair_every_output(httpx2_mock: respx.Router) -> None:
    route = httpx2_mock.post(CHAT_URL).mock(return_value=ok(CHAT.text("ok")))
    await CHAT.llm().complete(request(*CONVERSATION))
    assert sent(route)["messages"][1:] == [
        {"role": "user", "content": "<<<EMAIL x>>>Where is #1001?<<<END EMAIL x>>>"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                chat_tool_call("call_a", "get_order", ORDER_ARGS),
                chat_tool_call("call_b", "list_my_orders", '{"limit":null}'),
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "Order #1001: processing"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2 orders"},
        {
            "role": "assistant",
            "content": "Let me check the other one.",
            "tool_calls": [chat_tool_call("call_c", "get_order", '{"order_number":"2002"}')],
        },
        {"role": "tool", "tool_call_id": "call_c", "content": ORDER_NOT_FOUND},
        {"role": "user", "content": f"Call a tool, or finish with {SUBMIT_TOOL}."},
    ]
    CHAT.assert_paired(sent(route))


@APIS
async def test_an_empty_assistant_turn_is_not_sent(api: Api, httpx2_mock: respx.Router) -> None:
    # A turn without text or calls (the agent then nudges the model): Chat would reject an
    # assistant message with neither content nor tool calls.
    route = httpx2_mock.post(api.url).mock(return_value=ok(api.text("ok")))
    nudge = UserText(text=f"Call a tool, or finish with {SUBMIT_TOOL}.")
    await api.llm().complete(
        request(UserText(text="hi"), AssistantTurn(text=None, tool_calls=()), nudge)
    )
    body = sent(route)
    conversation = body["input"] if api is RESPONSES else body["messages"][1:]
    assert conversation == [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": nudge.text},
    ]


@APIS
@pytest.mark.parametrize("temperature", [None, 0.0, 0.7])
async def test_temperature_is_sent_only_when_set(
    api: Api, temperature: float | None, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(return_value=ok(api.text("ok")))
    await api.llm(temperature=temperature).complete(request())
    body = sent(route)
    if temperature is None:
        assert "temperature" not in body
    else:
        assert body["temperature"] == temperature


# --- Response parsing ---------------------------------------------------------------------------


@APIS
async def test_one_function_call(api: Api, httpx2_mock: respx.Router) -> None:
    body = api.calls(("call_1", "get_order", ORDER_ARGS), prompt_tokens=77, completion_tokens=9)
    httpx2_mock.post(api.url).mock(return_value=ok(body, request_id="req_one_call"))
    response = await api.llm().complete(request())
    assert response.tool_calls == (
        ToolCallRequest(call_id="call_1", name="get_order", arguments=ORDER_ARGS),
    )
    assert response.text is None
    assert response.refusal is None
    assert (response.input_tokens, response.output_tokens) == (77, 9)
    assert response.finish_reason == ("completed" if api is RESPONSES else "tool_calls")
    assert response.request_id == "req_one_call"
    assert response.model == SERVED_MODEL


@APIS
async def test_parallel_function_calls_keep_their_order_and_ids(
    api: Api, httpx2_mock: respx.Router
) -> None:
    recorded = (
        "responses.parallel_function_calls" if api is RESPONSES else "chat.parallel_tool_calls"
    )
    body = _payload(f"{recorded}.json")
    httpx2_mock.post(api.url).mock(return_value=ok(body))
    response = await api.llm().complete(request())
    assert response.tool_calls == (
        ToolCallRequest(call_id="call_order_1001", name="get_order", arguments=ORDER_ARGS),
        ToolCallRequest(
            call_id="call_policies", name="get_store_policies", arguments='{"topic":"returns"}'
        ),
    )
    usage = (1234, 41) if api is RESPONSES else (1187, 52)
    assert (response.input_tokens, response.output_tokens) == usage


@APIS
async def test_a_plain_text_message(api: Api, httpx2_mock: respx.Router) -> None:
    httpx2_mock.post(api.url).mock(return_value=ok(api.text("Your order ships today.")))
    response = await api.llm().complete(request())
    assert response.text == "Your order ships today."
    assert response.tool_calls == ()
    assert response.refusal is None
    assert response.finish_reason == ("completed" if api is RESPONSES else "stop")


async def test_responses_text_around_a_call_is_kept(httpx2_mock: respx.Router) -> None:
    body = responses_body(
        message_item(output_text("Checking "), output_text("your order.")),
        function_call("call_1", "get_order", ORDER_ARGS),
    )
    httpx2_mock.post(RESPONSES_URL).mock(return_value=ok(body))
    response = await RESPONSES.llm().complete(request())
    assert response.text == "Checking your order."
    assert [c.call_id for c in response.tool_calls] == ["call_1"]


async def test_responses_refusal(httpx2_mock: respx.Router) -> None:
    body = responses_body(message_item(refusal_part("I can't help with that request.")))
    httpx2_mock.post(RESPONSES_URL).mock(return_value=ok(body))
    response = await RESPONSES.llm().complete(request())
    assert response.refusal == "I can't help with that request."
    assert response.text is None
    assert response.tool_calls == ()


async def test_chat_refusal(httpx2_mock: respx.Router) -> None:
    body = chat_body({"refusal": "I can't help with that request."}, finish_reason="stop")
    httpx2_mock.post(CHAT_URL).mock(return_value=ok(body))
    response = await CHAT.llm().complete(request())
    assert response.refusal == "I can't help with that request."
    assert response.text is None
    assert response.tool_calls == ()


async def test_responses_incomplete_reports_its_reason(httpx2_mock: respx.Router) -> None:
    body = responses_body(
        message_item(output_text("Your order #10")),
        status="incomplete",
        incomplete_reason="max_output_tokens",
    )
    httpx2_mock.post(RESPONSES_URL).mock(return_value=ok(body))
    response = await RESPONSES.llm().complete(request())
    assert response.finish_reason == "max_output_tokens"
    assert response.text == "Your order #10"


async def test_chat_length_finish_reason(httpx2_mock: respx.Router) -> None:
    body = chat_body({"content": "Your order #10"}, finish_reason="length")
    httpx2_mock.post(CHAT_URL).mock(return_value=ok(body))
    response = await CHAT.llm().complete(request())
    assert response.finish_reason == "length"


@APIS
async def test_missing_usage_counts_as_zero(api: Api, httpx2_mock: respx.Router) -> None:
    # Some OpenAI-compatible servers send no usage at all.
    body = api.text("ok")
    body["usage"] = None
    httpx2_mock.post(api.url).mock(return_value=ok(body))
    response = await api.llm().complete(request())
    assert (response.input_tokens, response.output_tokens) == (0, 0)


@APIS
async def test_raw_holds_the_json_and_latency_is_measured(
    api: Api, httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = api.calls(("call_1", "get_order", ORDER_ARGS))
    httpx2_mock.post(api.url).mock(return_value=ok(body))
    clock = FakeClock(100.0, 100.25)
    monkeypatch.setattr(llm_module, "time", clock)
    response = await api.llm().complete(request())
    assert contains(response.raw, body)
    assert response.raw["id"] == body["id"]
    assert response.latency_ms == pytest.approx(250.0)
    assert clock.readings == 2
    json.dumps(response.raw)  # stored as JSON in the trace


class FakeClock:
    """Stands in for the `time` module in `app.agent.llm`: `perf_counter` returns these readings."""

    def __init__(self, *readings: float) -> None:
        self._readings: Iterator[float] = iter(readings)
        self.readings = 0

    def perf_counter(self) -> float:
        self.readings += 1
        return next(self._readings)


# --- Errors -------------------------------------------------------------------------------------


def error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


RATE_LIMITED = error_body(
    "Rate limit reached for gpt-4.1-mini on tokens per min (TPM): Limit 200000, Used 199800, "
    "Requested 1200. Please try again in 300ms.",
    "tokens",
    "rate_limit_exceeded",
)


@APIS
@pytest.mark.parametrize(
    "headers",
    [{"retry-after-ms": "300"}, {"retry-after": "2"}],
    ids=["retry-after-ms", "retry-after"],
)
async def test_429_without_retries_is_unavailable(
    api: Api, headers: dict[str, str], httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(
        return_value=httpx.Response(
            429, json=RATE_LIMITED, headers={**headers, "x-request-id": "req_429"}
        )
    )
    with pytest.raises(LLMUnavailable) as raised:
        await api.llm(max_retries=0).complete(request())
    assert str(raised.value) == "RateLimitError (HTTP 429)"
    assert getattr(raised.value.__cause__, "code", None) == "rate_limit_exceeded"
    assert route.call_count == 1


@APIS
async def test_the_sdk_retries_a_429_as_told_and_nothing_else_does(
    api: Api, httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    route = httpx2_mock.post(api.url).mock(
        side_effect=[
            httpx.Response(429, json=RATE_LIMITED, headers={"retry-after-ms": "1"}),
            ok(api.calls(("call_1", "get_order", ORDER_ARGS)), request_id="req_after_retry"),
        ]
    )
    response = await api.llm(max_retries=1).complete(request())
    assert [c.call_id for c in response.tool_calls] == ["call_1"]
    assert response.request_id == "req_after_retry"
    assert route.call_count == 2
    assert waits == [0.001]
    assert sent(route, 0) == sent(route, 1)
    assert route.calls[1].request.headers["x-stainless-retry-count"] == "1"


@APIS
async def test_a_server_error_that_outlasts_the_retries_is_unavailable(
    api: Api, httpx2_mock: respx.Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def sleep(seconds: float) -> None:
        pass

    monkeypatch.setattr(anyio, "sleep", sleep)
    failure = error_body("The server had an error while processing your request.", "server", None)
    route = httpx2_mock.post(api.url).mock(return_value=httpx.Response(500, json=failure))
    with pytest.raises(LLMUnavailable) as raised:
        await api.llm(max_retries=1).complete(request())
    assert str(raised.value) == "InternalServerError (HTTP 500)"
    # One try and the SDK's one retry: the adapter adds none of its own.
    assert route.call_count == 2


INVALID = "invalid_request_error"
STATUS_ERRORS = {
    500: (LLMUnavailable, "InternalServerError", error_body("Server error.", "server_error", None)),
    503: (LLMUnavailable, "InternalServerError", error_body("Overloaded.", "server_error", None)),
    408: (LLMUnavailable, "APIStatusError", error_body("Request timed out.", "timeout", None)),
    409: (LLMUnavailable, "ConflictError", error_body("Try again.", "server_error", None)),
    401: (
        LLMRejected,
        "AuthenticationError",
        error_body("Bad key sk-test.", INVALID, "invalid_api_key"),
    ),
    400: (LLMRejected, "BadRequestError", error_body("Invalid schema.", INVALID, "invalid_value")),
    404: (LLMRejected, "NotFoundError", error_body("No model gpt-9.", INVALID, "model_not_found")),
}


@APIS
@pytest.mark.parametrize("status", list(STATUS_ERRORS))
async def test_error_statuses(api: Api, status: int, httpx2_mock: respx.Router) -> None:
    error, name, body = STATUS_ERRORS[status]
    route = httpx2_mock.post(api.url).mock(return_value=httpx.Response(status, json=body))
    expected = f"{name} (HTTP {status})"
    with pytest.raises(error) as raised:
        await api.llm(max_retries=0).complete(request())
    # The message is safe to store: no key, no provider text.
    assert str(raised.value) == expected
    assert route.call_count == 1


@APIS
@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ReadTimeout("timed out"), "APITimeoutError"),
        (httpx2.ReadTimeout("timed out"), "APITimeoutError"),
        (httpx2.ConnectTimeout("timed out"), "APITimeoutError"),
        (httpx.ConnectError("connection refused"), "APIConnectionError"),
        (httpx2.ConnectError("connection refused"), "APIConnectionError"),
        (httpx2.RemoteProtocolError("peer closed connection"), "APIConnectionError"),
    ],
    ids=lambda v: (
        type(v).__module__.split(".")[0] + "." + type(v).__name__
        if isinstance(v, Exception)
        else None
    ),
)
async def test_transport_failures_are_unavailable(
    api: Api, failure: Exception, expected: str, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(side_effect=failure)
    with pytest.raises(LLMUnavailable) as raised:
        await api.llm(max_retries=0).complete(request())
    assert str(raised.value) == expected
    assert type(raised.value.__cause__).__name__ == expected
    assert route.call_count == 1


async def test_chat_without_choices_is_unavailable(httpx2_mock: respx.Router) -> None:
    body = chat_body({"content": "ok"}, finish_reason="stop")
    body["choices"] = []
    httpx2_mock.post(CHAT_URL).mock(return_value=ok(body))
    with pytest.raises(LLMUnavailable, match="no choices"):
        await CHAT.llm().complete(request())


def _html_page() -> httpx.Response:
    return httpx.Response(
        200, text="<html><body>502 Bad Gateway</body></html>", headers={"content-type": "text/html"}
    )


def _cut_off_json() -> httpx.Response:
    return httpx.Response(
        200, content=b'{"id": "resp_1", "output": [', headers={"content-type": "application/json"}
    )


@APIS
@pytest.mark.parametrize(
    "reply",
    [
        _html_page,
        _cut_off_json,
        lambda: httpx.Response(200, json={}),
        lambda: httpx.Response(200, json={"output": "text", "choices": "text"}),
        lambda: httpx.Response(200, json={"output": [None], "choices": [{"message": None}]}),
    ],
    ids=["html", "cut-off-json", "empty-object", "strings", "nulls"],
)
async def test_a_reply_that_is_not_the_promised_json_is_unavailable(
    api: Api, reply: Callable[[], httpx.Response], httpx2_mock: respx.Router
) -> None:
    # A proxy's error page or a half-compatible server: the SDK does not validate what it
    # parses, so the adapter must not let AttributeError or JSONDecodeError escape.
    httpx2_mock.post(api.url).mock(return_value=reply())
    with pytest.raises(LLMUnavailable):
        await api.llm().complete(request())


# --- End to end through the agent ---------------------------------------------------------------


EMAIL = AgentEmail(subject="Where is my order #1001?", text="Hi, where is order #1001? Thanks")


def submit_arguments(show: list[str], paragraph: str = "Your order is being prepared.") -> str:
    return json.dumps(
        {
            "intent": "order_status",
            "confidence": 0.9,
            "language": "en",
            "show_results_of": show,
            "paragraph": paragraph,
            "needs_human": False,
            "handover_reason": None,
        }
    )


@dataclass
class AgentSetup:
    ctx: ToolContext
    journal: MemoryJournal
    shop: RecordingShop
    trace: MemoryTrace


@pytest.fixture
def setup() -> AgentSetup:
    shop = RecordingShop()
    journal = MemoryJournal()
    ctx = ToolContext(shop=shop, sender=Sender(email="alice@example.com"), journal=journal, now=NOW)
    return AgentSetup(ctx=ctx, journal=journal, shop=shop, trace=MemoryTrace())


_ids = itertools.count(1)


def turn(api: Api, *calls: tuple[str, str, str]) -> httpx.Response:
    return ok(api.calls(*calls), request_id=f"req_turn_{next(_ids)}")


@APIS
async def test_agent_one_lookup_then_the_plan(
    api: Api, setup: AgentSetup, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(
        side_effect=[
            turn(api, ("call_1", "get_order", ORDER_ARGS)),
            turn(api, ("call_2", SUBMIT_TOOL, submit_arguments(["call_1"]))),
        ]
    )
    outcome = await run_agent(
        EMAIL, ctx=setup.ctx, llm=api.llm(), trace=setup.trace, store_name="Test Shop"
    )

    assert route.call_count == 2
    first, second = sent(route, 0), sent(route, 1)
    names = [t["name"] if api is RESPONSES else t["function"]["name"] for t in first["tools"]]
    assert {"get_order", SUBMIT_TOOL} <= set(names)
    assert api.echoed_calls(first) == []
    # The second request echoes the call and carries its result, paired by call id.
    assert api.echoed_calls(second) == [("call_1", "get_order", ORDER_ARGS)]
    outputs = api.outputs(second)
    assert list(outputs) == ["call_1"]
    assert "#1001" in outputs["call_1"]
    api.assert_paired(second)
    conversation = second["input"] if api is RESPONSES else second["messages"][1:]
    assert conversation[0] == {"role": "user", "content": conversation[0]["content"]}
    assert "Hi, where is order #1001? Thanks" in conversation[0]["content"]

    plan = outcome.plan
    assert (plan.intent, plan.facts, plan.needs_human) == (Intent.ORDER_STATUS, ("call_1",), False)
    assert (plan.language, plan.confidence) == ("en", 0.9)
    assert plan.paragraph == "Your order is being prepared."
    assert outcome.steps == 2
    assert outcome.llm_kind == api.adapter.kind
    assert outcome.results["call_1"].outcome is CallOutcome.OK
    assert setup.shop.calls == [("find_order", "alice@example.com")]
    assert [t.response.request_id for t in setup.trace.turns if t.response] == [
        route.calls[0].response.headers["x-request-id"],
        route.calls[1].response.headers["x-request-id"],
    ]
    assert outcome.input_tokens == 2 * 321


@APIS
async def test_agent_parallel_lookups_are_all_answered(
    api: Api, setup: AgentSetup, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(
        side_effect=[
            turn(
                api,
                ("call_mine", "get_order", ORDER_ARGS),
                ("call_theirs", "get_order", '{"order_number":"#2002"}'),
            ),
            turn(api, ("call_3", SUBMIT_TOOL, submit_arguments(["call_mine", "call_theirs"]))),
        ]
    )
    outcome = await run_agent(
        EMAIL, ctx=setup.ctx, llm=api.llm(), trace=setup.trace, store_name="Test Shop"
    )

    second = sent(route, 1)
    assert api.echoed_calls(second) == [
        ("call_mine", "get_order", ORDER_ARGS),
        ("call_theirs", "get_order", '{"order_number":"#2002"}'),
    ]
    outputs = api.outputs(second)
    assert set(outputs) == {"call_mine", "call_theirs"}
    assert "#1001" in outputs["call_mine"]
    # Bob's order reads as missing to Alice.
    assert outputs["call_theirs"] == ORDER_NOT_FOUND
    api.assert_paired(second)
    assert outcome.plan.facts == ("call_mine",)
    assert sorted(setup.shop.calls) == [("find_order", "alice@example.com")] * 2


@APIS
async def test_agent_bad_arguments_and_unknown_tools_go_back_to_the_model(
    api: Api, setup: AgentSetup, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(
        side_effect=[
            turn(
                api,
                ("call_bad", "get_order", BAD_ARGS),
                ("call_unknown", "drop_tables", "{}"),
            ),
            turn(api, ("call_retry", "get_order", ORDER_ARGS)),
            turn(api, ("call_done", SUBMIT_TOOL, submit_arguments(["call_retry"]))),
        ]
    )
    outcome = await run_agent(
        EMAIL, ctx=setup.ctx, llm=api.llm(), trace=setup.trace, store_name="Test Shop"
    )

    assert route.call_count == 3
    second = sent(route, 1)
    # Arguments that do not fit the tool are echoed verbatim, and answered as tool output.
    assert ("call_bad", "get_order", BAD_ARGS) in api.echoed_calls(second)
    outputs = api.outputs(second)
    assert outputs["call_bad"].startswith("Invalid arguments for get_order")
    assert "no tool named 'drop_tables'" in outputs["call_unknown"]
    api.assert_paired(second)
    third = sent(route, 2)
    assert set(api.outputs(third)) == {"call_bad", "call_unknown", "call_retry"}
    api.assert_paired(third)
    assert outcome.plan.facts == ("call_retry",)
    assert [c.outcome for c in setup.journal.calls] == [
        CallOutcome.INVALID_ARGUMENTS,
        CallOutcome.INVALID_ARGUMENTS,
        CallOutcome.OK,
    ]


@APIS
async def test_agent_retries_a_malformed_plan_through_the_wire(
    api: Api, setup: AgentSetup, httpx2_mock: respx.Router
) -> None:
    route = httpx2_mock.post(api.url).mock(
        side_effect=[
            turn(api, ("call_plan_1", SUBMIT_TOOL, '{"intent":"world_domination"}')),
            turn(api, ("call_plan_2", SUBMIT_TOOL, submit_arguments([]))),
        ]
    )
    outcome = await run_agent(
        EMAIL, ctx=setup.ctx, llm=api.llm(), trace=setup.trace, store_name="Test Shop"
    )
    outputs = api.outputs(sent(route, 1))
    assert list(outputs) == ["call_plan_1"]
    assert outputs["call_plan_1"].startswith(f"Invalid {SUBMIT_TOOL} arguments")
    assert outcome.plan.intent is Intent.ORDER_STATUS
    assert outcome.steps == 2


@APIS
@pytest.mark.parametrize(
    "reply",
    [
        lambda: httpx.Response(429, json=RATE_LIMITED, headers={"retry-after-ms": "300"}),
        lambda: httpx.Response(401, json=error_body("Bad key.", "invalid_request_error", None)),
        _html_page,
    ],
    ids=["429", "401", "html"],
)
async def test_agent_hands_over_when_the_provider_fails(
    api: Api,
    reply: Callable[[], httpx.Response],
    setup: AgentSetup,
    httpx2_mock: respx.Router,
) -> None:
    httpx2_mock.post(api.url).mock(return_value=reply())
    outcome = await run_agent(
        EMAIL, ctx=setup.ctx, llm=api.llm(), trace=setup.trace, store_name="Test Shop"
    )
    status = reply().status_code
    expected = HandoverReason.MODEL_ERROR if status == 401 else HandoverReason.PROVIDER_DOWN
    assert outcome.plan.needs_human is True
    assert outcome.plan.handover_reason is expected
    [record] = setup.trace.turns
    assert record.response is None
    assert record.error
