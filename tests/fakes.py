"""Fakes for the outside world above the HTTP boundary: a scripted language model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.agent import SUBMIT_TOOL
from app.llm import LLMError, ModelRequest, ModelResponse, ToolCallRequest

Step = ModelResponse | LLMError | Callable[[ModelRequest], ModelResponse]


def call(name: str, call_id: str | None = None, **arguments: Any) -> ToolCallRequest:
    """A tool call as a model would make it."""
    return ToolCallRequest(
        call_id=call_id or f"call_{name}", name=name, arguments=json.dumps(arguments)
    )


def submit(
    *,
    intent: str = "order_status",
    confidence: float = 0.9,
    language: str = "en",
    show: list[str] | None = None,
    paragraph: str = "",
    needs_human: bool = False,
    handover_reason: str | None = None,
    call_id: str = "call_submit",
) -> ToolCallRequest:
    """The final `submit_reply_plan` call."""
    return call(
        SUBMIT_TOOL,
        call_id=call_id,
        intent=intent,
        confidence=confidence,
        language=language,
        show_results_of=show or [],
        paragraph=paragraph,
        needs_human=needs_human,
        handover_reason=handover_reason,
    )


def turn(*calls: ToolCallRequest, text: str | None = None, tokens: int = 100) -> ModelResponse:
    """One model response making these calls."""
    return ModelResponse(
        text=text,
        tool_calls=tuple(calls),
        finish_reason="completed",
        input_tokens=tokens,
        output_tokens=tokens // 10,
        model="scripted",
    )


@dataclass
class ScriptedLLM:
    """Answers from a script, one step per request, and records every request it got."""

    script: list[Step]
    kind: str = "scripted"
    model: str = "scripted-model"
    requests: list[ModelRequest] = field(default_factory=list)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.script:
            raise AssertionError("the model was asked more often than the script allows")
        step = self.script.pop(0)
        if isinstance(step, LLMError):
            raise step
        if callable(step):
            return step(request)
        return step
