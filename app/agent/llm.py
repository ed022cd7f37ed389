"""Language models behind one small interface.

OpenAI's Responses API by default; Chat Completions for OpenAI-compatible servers (vLLM, Ollama,
LiteLLM, Azure); the offline rule-based model lives in `app/offline_model.py`.

Only this module talks to the `openai` SDK, and it imports the SDK on first use (a third of a
second and tens of MB), so a process without an OpenAI key never loads it. The SDK owns HTTP
retries (429 with Retry-After, 5xx, timeouts; `OPENAI_MAX_RETRIES`) so nothing here retries on
top of it; what still fails is raised as `LLMUnavailable`, and the agent hands the email to a
person. So is a reply that is not the JSON the API promises (a proxy's HTML page, a cut-off
body, a wrong shape): the adapters raise nothing but `LLMError`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from app.circuit import CircuitBreaker, CircuitOpen

if TYPE_CHECKING:
    import openai
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion
    from openai.types.responses import Response


@dataclass(frozen=True, kw_only=True)
class ToolCallRequest:
    """The model asking for one tool call."""

    call_id: str
    name: str
    arguments: str
    """The arguments as the model wrote them (JSON text, not yet validated)."""


@dataclass(frozen=True, kw_only=True)
class UserText:
    """Text given to the model as the user turn (the delimited email)."""

    text: str


@dataclass(frozen=True, kw_only=True)
class AssistantTurn:
    """What the model said in an earlier step, echoed back."""

    text: str | None
    tool_calls: tuple[ToolCallRequest, ...]


@dataclass(frozen=True, kw_only=True)
class ToolOutput:
    """A tool's result, given back to the model."""

    call_id: str
    content: str


Item = UserText | AssistantTurn | ToolOutput


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """One request to a model: instructions, the conversation so far, and the tools."""

    instructions: str
    items: tuple[Item, ...]
    tools: tuple[dict[str, Any], ...]
    """Function schemas: {"name", "description", "parameters", "strict"}."""
    max_output_tokens: int = 800


@dataclass(frozen=True, kw_only=True)
class ModelResponse:
    """What the model answered, in provider-neutral form, with what the trace needs."""

    text: str | None
    tool_calls: tuple[ToolCallRequest, ...]
    finish_reason: str | None
    refusal: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    request_id: str | None = None
    latency_ms: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)
    """The provider's response as JSON, for the trace."""
    problem: str | None = None
    """Set when part of the output had the wrong type (a number for a call's arguments, a call
    without a name): such a part is left out of `tool_calls`, and the turn cannot go on."""


class LLMError(Exception):
    """The model could not be used for this email; the message is safe to store."""


class LLMUnavailable(LLMError):
    """Timeouts, rate limits or server errors that outlasted the SDK's retries."""


class LLMRejected(LLMError):
    """The provider refused the request itself (bad key, bad model name, invalid request)."""


class LLM(Protocol):
    """A model the agent loop can drive."""

    kind: str
    """"openai-responses", "openai-chat" or "offline"."""
    model: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Run one model turn."""
        ...


_TRANSIENT_STATUSES = frozenset({408, 409})
"""Besides 429 and 5xx, the statuses the SDK retries as transient (request timeout, conflict)."""


def _translate(exc: openai.APIError) -> LLMError:
    import openai

    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    described = f"{name}{f' (HTTP {status})' if status else ''}"
    if isinstance(
        exc,
        openai.APIConnectionError
        | openai.RateLimitError
        | openai.InternalServerError
        | openai.APIResponseValidationError,
    ):
        return LLMUnavailable(described)
    if (
        isinstance(exc, openai.APIStatusError)
        and status is not None
        and (status >= 500 or status in _TRANSIENT_STATUSES)
    ):
        return LLMUnavailable(described)
    return LLMRejected(described)


async def _send(create: Any, **params: Any) -> Any:
    """Call the SDK; its errors, and a body that is not JSON, become `LLMError`s."""
    import openai  # Loaded by the client that `create` belongs to: only a lookup here.

    try:
        return await create(**params)
    except openai.APIError as exc:
        raise _translate(exc) from exc
    except json.JSONDecodeError as exc:
        raise LLMUnavailable("the response body was not valid JSON") from exc
    except UnicodeEncodeError as exc:
        # A lone surrogate (from a tool result, say) cannot be encoded as UTF-8: the request
        # never leaves, and sending it again would fail the same way.
        raise LLMRejected("the request could not be encoded as UTF-8") from exc


# What reading a reply of the wrong shape raises: the SDK builds its models without validation.
_MALFORMED = (AttributeError, TypeError, ValueError, KeyError)


class OpenAIResponsesLLM:
    """The Responses API: stateless (`store=False`), the whole conversation sent each turn."""

    kind = "openai-responses"

    def __init__(self, client: AsyncOpenAI, *, model: str, temperature: float | None) -> None:
        self._client = client
        self.model = model
        self._temperature = temperature

    async def complete(self, request: ModelRequest) -> ModelResponse:
        options: dict[str, Any] = {}
        if self._temperature is not None:
            options["temperature"] = self._temperature
        input_items = _responses_input(request.items)
        tools = [{"type": "function", **tool} for tool in request.tools]
        started = time.perf_counter()
        # The SDK's overloads cannot type our plain-dict items; the response type is checked.
        response = await _send(
            self._client.responses.create,
            model=self.model,
            instructions=request.instructions,
            input=input_items,
            tools=tools,
            tool_choice="required",
            parallel_tool_calls=True,
            max_output_tokens=request.max_output_tokens,
            store=False,
            **options,
        )
        latency = (time.perf_counter() - started) * 1000
        from openai.types.responses import Response

        if not isinstance(response, Response):
            raise LLMUnavailable("the response was not a Responses API response")
        try:
            return _from_response(response, latency)
        except _MALFORMED as exc:
            raise LLMUnavailable(f"malformed response ({type(exc).__name__})") from exc


def _from_response(response: Response, latency: float) -> ModelResponse:
    calls: list[ToolCallRequest] = []
    texts: list[str] = []
    refusal: str | None = None
    problems: list[str] = []
    for item in response.output:
        if item.type == "function_call":
            call = _tool_call(
                getattr(item, "call_id", None),
                getattr(item, "name", None),
                getattr(item, "arguments", None),
            )
            if call is None:
                problems.append(WRONG_TYPES)
            else:
                calls.append(call)
        elif item.type == "message":
            for part in item.content:
                if part.type == "output_text":
                    text = _string(getattr(part, "text", None))
                    if text is None:
                        problems.append("output text that is not a string")
                    else:
                        texts.append(text)
                elif part.type == "refusal":
                    refusal = part.refusal
    usage = response.usage
    incomplete = response.incomplete_details.reason if response.incomplete_details else None
    return ModelResponse(
        text="".join(texts) or None,
        tool_calls=tuple(calls),
        finish_reason=incomplete or response.status,
        refusal=refusal,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        model=response.model,
        request_id=response._request_id,
        latency_ms=latency,
        raw=_raw(response),
        problem=problems[0] if problems else None,
    )


WRONG_TYPES = "a tool call whose id, name or arguments are missing or not strings"


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _tool_call(call_id: object, name: object, arguments: object) -> ToolCallRequest | None:
    """The call, if its fields are the strings the API promises (the SDK does not check)."""
    if isinstance(call_id, str) and isinstance(name, str) and isinstance(arguments, str):
        return ToolCallRequest(call_id=call_id, name=name, arguments=arguments)
    return None


def _raw(reply: Response | ChatCompletion) -> dict[str, Any]:
    # Fields of the wrong type are kept as they came (the trace should show them), without the
    # serializer's warnings about them.
    return reply.model_dump(mode="json", warnings=False)


def _responses_input(items: tuple[Item, ...]) -> list[dict[str, Any]]:
    converted: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, UserText):
            converted.append({"role": "user", "content": item.text})
        elif isinstance(item, AssistantTurn):
            if item.text:
                converted.append({"role": "assistant", "content": item.text})
            for call in item.tool_calls:
                converted.append(
                    {
                        "type": "function_call",
                        "call_id": call.call_id,
                        "name": call.name,
                        "arguments": call.arguments,
                    }
                )
        else:
            converted.append(
                {"type": "function_call_output", "call_id": item.call_id, "output": item.content}
            )
    return converted


class OpenAIChatLLM:
    """Chat Completions, for OpenAI-compatible servers that lack the Responses API."""

    kind = "openai-chat"

    def __init__(self, client: AsyncOpenAI, *, model: str, temperature: float | None) -> None:
        self._client = client
        self.model = model
        self._temperature = temperature

    async def complete(self, request: ModelRequest) -> ModelResponse:
        options: dict[str, Any] = {}
        if self._temperature is not None:
            options["temperature"] = self._temperature
        messages = _chat_messages(request)
        tools = [{"type": "function", "function": tool} for tool in request.tools]
        started = time.perf_counter()
        completion = await _send(
            self._client.chat.completions.create,
            model=self.model,
            messages=messages,
            tools=tools,
            tool_choice="required",
            parallel_tool_calls=True,
            max_completion_tokens=request.max_output_tokens,
            **options,
        )
        latency = (time.perf_counter() - started) * 1000
        from openai.types.chat import ChatCompletion

        if not isinstance(completion, ChatCompletion):
            raise LLMUnavailable("the response was not a chat completion")
        try:
            return _from_completion(completion, latency)
        except _MALFORMED as exc:
            raise LLMUnavailable(f"malformed response ({type(exc).__name__})") from exc


def _from_completion(completion: ChatCompletion, latency: float) -> ModelResponse:
    if not completion.choices:
        raise LLMUnavailable("the model returned no choices")
    choice = completion.choices[0]
    message = choice.message
    calls: list[ToolCallRequest] = []
    problems: list[str] = []
    for c in message.tool_calls or []:
        if c.type != "function":
            continue
        function = getattr(c, "function", None)
        call = _tool_call(
            getattr(c, "id", None),
            getattr(function, "name", None),
            getattr(function, "arguments", None),
        )
        if call is None:
            problems.append(WRONG_TYPES)
        else:
            calls.append(call)
    content: object = message.content
    if content is not None and not isinstance(content, str):
        problems.append("message content that is not a string")
    usage = completion.usage
    return ModelResponse(
        text=_string(content),
        tool_calls=tuple(calls),
        finish_reason=choice.finish_reason,
        refusal=message.refusal,
        input_tokens=usage.prompt_tokens if usage else 0,
        output_tokens=usage.completion_tokens if usage else 0,
        model=completion.model,
        request_id=completion._request_id,
        latency_ms=latency,
        raw=_raw(completion),
        problem=problems[0] if problems else None,
    )


def _chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.instructions}]
    for item in request.items:
        if isinstance(item, UserText):
            messages.append({"role": "user", "content": item.text})
        elif isinstance(item, AssistantTurn):
            if not item.text and not item.tool_calls:
                # Chat requires content or tool calls; the Responses input skips it likewise.
                continue
            message: dict[str, Any] = {"role": "assistant", "content": item.text}
            if item.tool_calls:
                message["tool_calls"] = [
                    {
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in item.tool_calls
                ]
            messages.append(message)
        else:
            messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.content})
    return messages


def request_for_trace(request: ModelRequest) -> dict[str, Any]:
    """The request as stored in the trace (the tool schemas are stored as their hash)."""
    return {
        "instructions": request.instructions,
        "items": [_item_for_trace(item) for item in request.items],
        "max_output_tokens": request.max_output_tokens,
    }


def _item_for_trace(item: Item) -> dict[str, Any]:
    if isinstance(item, UserText):
        return {"type": "user", "text": item.text}
    if isinstance(item, AssistantTurn):
        return {
            "type": "assistant",
            "text": item.text,
            "tool_calls": [
                {"call_id": c.call_id, "name": c.name, "arguments": c.arguments}
                for c in item.tool_calls
            ],
        }
    return {"type": "tool_output", "call_id": item.call_id, "content": item.content}


def tools_hash(tools: tuple[dict[str, Any], ...]) -> str:
    """A short stable hash of the tool schemas offered (to tell prompt versions apart)."""
    encoded = json.dumps(tools, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


class GuardedLLM:
    """A model behind a circuit breaker: while open, turns fail fast as `LLMUnavailable`."""

    def __init__(self, inner: LLM, breaker: CircuitBreaker) -> None:
        self.inner = inner
        self.breaker = breaker
        self.kind = inner.kind
        self.model = inner.model

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One model turn, unless the model has been failing."""
        try:
            return await self.breaker.call(
                lambda: self.inner.complete(request), failure=(LLMUnavailable,)
            )
        except CircuitOpen as exc:
            raise LLMUnavailable(str(exc)) from exc
