"""The model's tool calls of one email: which can go back to the API, which run, and their answers.

A model may ask for any number of calls in a turn (a broken or manipulated one asked for 300).
Code bounds them: at most `per_turn` calls of a turn and `per_email` calls of the whole email
are answered; every other call is answered "not run" (the API refuses a request in which a call
lacks its output) and the plan goes to a person as `cap_hit`. A call identical to an earlier one
of the same email (same tool, same arguments) is answered from the first result: no second
lookup.

Before any of that, `unusable` says whether the model's output can be sent back at all: a lone
surrogate cannot be encoded, arguments that are not a JSON object break OpenAI-compatible servers
that parse them, and an id or name of the wrong shape is refused or cannot be stored. Such output
ends the run as a handover, rather than failing every retry of the job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.agent.llm import ModelResponse, ToolCallRequest, ToolOutput
from app.tools.kit.context import CallOutcome, CallRecord, ToolContext
from app.tools.kit.registry import ToolRegistry, ToolResult

logger = logging.getLogger(__name__)

TURN_CAP_TEXT = (
    "Not run: cap reached (at most {cap} tool calls per turn). Use the results you have."
)
EMAIL_CAP_TEXT = (
    "Not run: cap reached (at most {cap} tool calls per email). Finish with the results you have."
)
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What the API accepts as a function name (and what the audit table stores)."""
_MAX_CALL_ID = 128
"""The longest call id the audit table stores; the API's own ids are far shorter."""
UNUSABLE_CHARS = re.compile("[\x00\ud800-\udfff]")
"""Lone surrogates cannot be encoded as UTF-8; NUL cannot be stored in PostgreSQL text or JSON."""


def unusable(response: ModelResponse) -> str | None:
    """Why this model output cannot be sent back to the API (or stored), or None if it can."""
    if response.problem:
        return response.problem
    if response.text is not None and UNUSABLE_CHARS.search(response.text):
        return "the text contains a character that cannot be encoded or stored"
    ids: set[str] = set()
    for call in response.tool_calls:
        if not 0 < len(call.call_id) <= _MAX_CALL_ID or UNUSABLE_CHARS.search(call.call_id):
            return "a tool call id that is empty, too long or not encodable"
        if call.call_id in ids:
            # Two outputs with one id: the API could not tell which answers which call.
            return "two tool calls with the same id"
        ids.add(call.call_id)
        if not _FUNCTION_NAME.fullmatch(call.name):
            return "a tool name the API does not accept"
        problem = _arguments_problem(call.arguments)
        if problem:
            return f"the arguments of {call.name} {problem}"
    return None


def _arguments_problem(arguments: str) -> str | None:
    if UNUSABLE_CHARS.search(arguments):
        return "contain a character that cannot be encoded or stored"
    try:
        # An empty string is how some servers write "no arguments"; the registry reads it so.
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return "are not valid JSON"
    if not isinstance(parsed, dict):
        return "are not a JSON object"
    # An escape such as "\ud800" is plain ASCII in the text but a lone surrogate once decoded.
    if any(UNUSABLE_CHARS.search(text) for text in _strings(parsed)):
        return "contain a character that cannot be encoded or stored"
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def call_key(call: ToolCallRequest) -> str:
    """What makes two calls the same: the tool and its arguments, key order and spacing aside."""
    arguments = json.loads(call.arguments or "{}")
    return f"{call.name}:{json.dumps(arguments, sort_keys=True, separators=(',', ':'))}"


@dataclass
class CallBook:
    """Every tool call of one email: runs what the caps allow, once per distinct call."""

    registry: ToolRegistry
    ctx: ToolContext
    per_turn: int
    per_email: int
    results: dict[str, ToolResult] = field(default_factory=dict)
    """Every answered call's result by call id (duplicates share their first call's result)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Each duplicate's call id -> the id of the call it was answered from."""
    proposals: list[int] = field(default_factory=list)
    cap_hit: bool = False
    answered: int = 0
    _first: dict[str, str] = field(default_factory=dict)

    async def answer(self, calls: Sequence[ToolCallRequest]) -> list[ToolOutput]:
        """Run or answer one turn's calls (already checked by `unusable`), one output each."""
        to_run: list[ToolCallRequest] = []
        copies: list[tuple[ToolCallRequest, str]] = []
        refused: dict[str, str] = {}
        for position, call in enumerate(calls):
            if position >= self.per_turn:
                refused[call.call_id] = TURN_CAP_TEXT.format(cap=self.per_turn)
                continue
            if self.answered >= self.per_email:
                refused[call.call_id] = EMAIL_CAP_TEXT.format(cap=self.per_email)
                continue
            self.answered += 1
            key = call_key(call)
            if key in self._first:
                copies.append((call, self._first[key]))
            else:
                self._first[key] = call.call_id
                to_run.append(call)
        if refused:
            self.cap_hit = True
            logger.warning(
                "tool-call cap reached",
                extra={"asked": len(calls), "not_run": len(refused), "answered": self.answered},
            )
        for call, result in zip(to_run, await asyncio.gather(*map(self._run, to_run)), strict=True):
            self.results[call.call_id] = result
        for call, first in copies:
            await self._answer_duplicate(call, first)
        return [
            ToolOutput(
                call_id=call.call_id,
                content=refused.get(call.call_id) or self.results[call.call_id].content,
            )
            for call in calls
        ]

    def original(self, call_id: str) -> str:
        """The id of the call whose result `call_id` was answered with (itself, if it ran)."""
        return self.aliases.get(call_id, call_id)

    async def _run(self, call: ToolCallRequest) -> ToolResult:
        result = await self.registry.invoke(
            self.ctx, call.name, call.arguments, call_id=call.call_id
        )
        if result.proposal_id is not None:
            self.proposals.append(result.proposal_id)
        return result

    async def _answer_duplicate(self, call: ToolCallRequest, first: str) -> None:
        self.aliases[call.call_id] = first
        result = self.results[first]
        self.results[call.call_id] = ToolResult(
            tool=call.name, outcome=CallOutcome.DUPLICATE, content=result.content
        )
        await self.ctx.journal.record_call(
            CallRecord(
                tool=call.name,
                arguments=json.loads(call.arguments or "{}"),
                outcome=CallOutcome.DUPLICATE,
                summary=f"answered from the result of call {first}"[:300],
                duration_ms=0.0,
                call_id=call.call_id,
            )
        )
