"""The tool registry: the tools the agent may call, and everything derived from their declarations.

Tools are declared in their own modules (`ToolSet` in `toolset.py`) and collected by `discover`;
a registry is a plain value built from them, so production and tests each build their own. From
each declaration the registry derives the name, the description (the docstring, which the model
reads), a strict JSON schema, argument validation, the scope check, approval, error-to-text
mapping and one audit record per call.

Scopes are enforced twice by the same code: `available(ctx)` hides tools the context may not
use, and `invoke` refuses them anyway. Tools with `needs_approval=True` never run on the model's
request: `invoke` checks the order belongs to the sender and records a proposal for staff;
`execute_approved` runs the same function later, with the stored arguments, after a person said
yes.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from app import metrics
from app.store.models import ActionResult
from app.store.protocol import ShopAuthError, ShopError, ShopUnavailable
from app.tools.kit.context import CallOutcome, CallRecord, ProposalRecord, ToolContext, ToolMiss
from app.tools.kit.hints import OfflineHint
from app.tools.kit.lookup import find_own_order

logger = logging.getLogger(__name__)

Handler = Callable[[ToolContext, Any], Awaitable[Any]]
MAX_RESULT_CHARS = 6000


class Scope(StrEnum):
    """Whose data a tool may touch."""

    PUBLIC = "public"
    """Store-wide facts anyone may know: products, policies."""
    SENDER = "sender"
    """The verified sender's own data; needs a verified sender."""


class ToolArgs(BaseModel):
    """Base of every tool's arguments: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ProposalArgs(ToolArgs):
    """Arguments every store-changing tool has: which order, and why (for staff)."""

    order_number: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Tool:
    """A registered tool, derived from its function."""

    name: str
    description: str
    args_model: type[BaseModel]
    handler: Handler
    scope: Scope
    needs_approval: bool
    returns: type[BaseModel] | None = None
    """The facts model the function returns (rebuilds stored results for the renderer)."""
    offline: OfflineHint | None = None
    """How the offline model uses the tool; None: it never calls it."""

    @property
    def finds_order_by_number(self) -> bool:
        """A lookup (not a store change) of the order number the customer wrote.

        When it finds nothing, the reply asks the customer to check the number.
        """
        return not self.needs_approval and "order_number" in self.args_model.model_fields

    def function_schema(self) -> dict[str, Any]:
        """The strict function schema (Chat Completions' `function` object), a fresh copy.

        Length and range keywords are left out: strict mode on some OpenAI-compatible servers
        rejects them, and they cost tokens. Pydantic still enforces them on every call.
        """
        return copy.deepcopy(self._schema)

    @functools.cached_property
    def _schema(self) -> dict[str, Any]:
        # Derived once per tool and kept on it (it takes milliseconds): a cache beside the tools
        # would outlive tools built on the fly and grow with every one. The SDK is imported
        # here, on first use, so a process that never builds a schema never loads it.
        import openai

        param = openai.pydantic_function_tool(
            self.args_model, name=self.name, description=self.description
        )
        schema = dict(param["function"])
        schema["parameters"] = _compact(_without_keywords(schema["parameters"]))
        return schema


@dataclass(frozen=True, kw_only=True)
class ToolResult:
    """What one call produced: text for the model, typed facts for the renderer."""

    tool: str
    outcome: CallOutcome
    content: str
    facts: BaseModel | None = None
    proposal_id: int | None = None


UNAVAILABLE_TEXT = (
    "The store's system is not answering right now. Do not guess or say the order was not "
    "found; hand this email to a person."
)
ERROR_TEXT = "This lookup failed unexpectedly. Do not guess the answer; hand the email to a person."
DENIED_TEXT = (
    "This needs a verified sender, and this email's sender is not verified. Do not reveal any "
    "order or account details; offer general help or hand over to a person."
)


class ToolRegistry:
    """The set of tools the agent may call."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"two tools are named {tool.name!r}: tool names must be unique")
            self._tools[tool.name] = tool

    def all(self) -> list[Tool]:
        """Every registered tool, in the order given."""
        return list(self._tools.values())

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, if there is one."""
        return self._tools.get(name)

    def facts_from(self, name: str, stored: dict[str, Any]) -> BaseModel | None:
        """Rebuild a stored result as the tool's typed facts (None if it no longer fits)."""
        tool = self._tools.get(name)
        if tool is None or tool.returns is None:
            return None
        try:
            return tool.returns.model_validate(stored)
        except ValidationError:
            return None

    def missed_order_lookup(self, name: str, outcome: str) -> bool:
        """Whether a call of `name` that ended with `outcome` looked for an order and found none."""
        tool = self._tools.get(name)
        return (
            tool is not None
            and tool.finds_order_by_number
            and outcome == CallOutcome.NOT_FOUND.value
        )

    def available(self, ctx: ToolContext) -> list[Tool]:
        """The tools this context may use: sender-scoped ones only for a verified sender."""
        return self.available_for(ctx.sender is not None)

    def available_for(self, verified_sender: bool) -> list[Tool]:
        """The tools offered when the sender is (or is not) verified."""
        return [t for t in self._tools.values() if verified_sender or t.scope is Scope.PUBLIC]

    async def invoke(
        self,
        ctx: ToolContext,
        name: str,
        arguments: str | dict[str, Any],
        *,
        call_id: str | None = None,
    ) -> ToolResult:
        """Validate, check scope, run (or propose), map errors to text, and record the call."""
        started = time.perf_counter()
        tool = self._tools.get(name)
        if tool is None:
            result = ToolResult(
                tool=name,
                outcome=CallOutcome.INVALID_ARGUMENTS,
                content=f"There is no tool named {name!r}; use one of the tools offered.",
            )
            await _record(ctx, result, arguments, started, call_id, known=False)
            return result
        validated = _validate(tool, arguments)
        if isinstance(validated, ToolResult):
            await _record(ctx, validated, arguments, started, call_id)
            return validated
        if _permitted(tool, ctx):
            result = await _run(tool, ctx, validated)
        else:
            result = ToolResult(tool=name, outcome=CallOutcome.DENIED, content=DENIED_TEXT)
        await _record(ctx, result, validated.model_dump(mode="json"), started, call_id)
        return result

    async def execute_approved(
        self, ctx: ToolContext, name: str, arguments: dict[str, Any]
    ) -> ActionResult:
        """Run an approved proposal through its own declaration, with its stored arguments.

        The order is looked up again for the sender in `ctx`, so a proposal can never act on
        anything but the sender's own order, whatever happened since it was made.
        """
        tool = self._tools.get(name)
        if tool is None or not tool.needs_approval:
            raise LookupError(f"{name!r} is not a store-changing tool")
        if not _permitted(tool, ctx):
            raise PermissionError("approved actions run for the verified sender only")
        args = tool.args_model.model_validate(arguments)
        result = await tool.handler(ctx, args)
        if not isinstance(result, ActionResult):
            raise TypeError(f"{name} must return an ActionResult")
        return result


_DROPPED_KEYWORDS = frozenset(
    {
        "title",
        "default",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "pattern",
        "format",
        "multipleOf",
        "uniqueItems",
    }
)


def _without_keywords(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_keywords(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties":
            # Property names are field names: a field may well be called "title" or "format".
            cleaned[key] = {name: _without_keywords(sub) for name, sub in value.items()}
        elif key not in _DROPPED_KEYWORDS:
            cleaned[key] = _without_keywords(value)
    return cleaned


def _compact(parameters: dict[str, Any]) -> dict[str, Any]:
    """Drop what costs tokens and tells the model nothing the tool description does not.

    The arguments model's own docstring and the docstrings of enum types are dropped, and so
    are `$defs` nothing refers to any more (the SDK inlines some references).
    """
    compact = {key: value for key, value in parameters.items() if key != "description"}
    definitions = compact.pop("$defs", None)
    if definitions:
        text = json.dumps(compact)
        kept = {
            name: {k: v for k, v in body.items() if not (k == "description" and "enum" in body)}
            for name, body in definitions.items()
            if f'"#/$defs/{name}"' in text or f'"#/$defs/{name}"' in json.dumps(definitions)
        }
        if kept:
            compact["$defs"] = kept
    return compact


def _permitted(tool: Tool, ctx: ToolContext) -> bool:
    return tool.scope is Scope.PUBLIC or ctx.sender is not None


def _validate(tool: Tool, arguments: str | dict[str, Any]) -> BaseModel | ToolResult:
    """The validated arguments, or the result that tells the model what to fix."""
    try:
        if isinstance(arguments, str):
            return tool.args_model.model_validate_json(arguments or "{}")
        return tool.args_model.model_validate(arguments)
    except ValidationError as exc:
        problem = _first_problem(exc)
        return ToolResult(
            tool=tool.name,
            outcome=CallOutcome.INVALID_ARGUMENTS,
            content=f"Invalid arguments for {tool.name}: {problem}. Fix them and call again.",
        )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "arguments"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _run(tool: Tool, ctx: ToolContext, args: BaseModel) -> ToolResult:
    try:
        if tool.needs_approval:
            return await _propose(tool, ctx, args)
        facts = await tool.handler(ctx, args)
    except ToolMiss as exc:
        return ToolResult(tool=tool.name, outcome=CallOutcome.NOT_FOUND, content=str(exc))
    except ShopUnavailable:
        return ToolResult(tool=tool.name, outcome=CallOutcome.UNAVAILABLE, content=UNAVAILABLE_TEXT)
    except ShopAuthError:
        logger.error("shop credentials refused", extra={"tool": tool.name})
        return ToolResult(tool=tool.name, outcome=CallOutcome.UNAVAILABLE, content=UNAVAILABLE_TEXT)
    except (ShopError, Exception) as exc:
        logger.exception("tool failed", extra={"tool": tool.name, "error": type(exc).__name__})
        return ToolResult(tool=tool.name, outcome=CallOutcome.ERROR, content=ERROR_TEXT)
    return ToolResult(
        tool=tool.name,
        outcome=CallOutcome.OK,
        content=_model_text(facts),
        facts=facts if isinstance(facts, BaseModel) else None,
    )


async def _propose(tool: Tool, ctx: ToolContext, args: BaseModel) -> ToolResult:
    assert isinstance(args, ProposalArgs)
    order = await find_own_order(ctx, args.order_number)
    proposal_id = await ctx.journal.record_proposal(
        ProposalRecord(
            tool=tool.name,
            arguments=args.model_dump(mode="json"),
            order_id=order.id,
            order_name=order.name,
            reason=args.reason[:500],
        )
    )
    content = (
        f"Recorded a proposal to {tool.name.replace('_', ' ')} for order {order.name}. Nothing has "
        "changed yet: a person on the team will review it. Tell the customer their request was "
        "passed to the team; do not promise the outcome."
    )
    return ToolResult(
        tool=tool.name, outcome=CallOutcome.PROPOSED, content=content, proposal_id=proposal_id
    )


def _model_text(facts: Any) -> str:
    if isinstance(facts, BaseModel):
        text = facts.model_dump_json(exclude_none=True)
    else:
        text = json.dumps(facts, default=str, ensure_ascii=False)
    if len(text) <= MAX_RESULT_CHARS:
        return text
    # Tools bound their own output; this is the safety net, and it keeps the result valid JSON.
    return json.dumps({"truncated_result": text[:MAX_RESULT_CHARS]}, ensure_ascii=False)


async def _record(
    ctx: ToolContext,
    result: ToolResult,
    arguments: Any,
    started: float,
    call_id: str | None,
    *,
    known: bool = True,
) -> None:
    summary = result.content if result.outcome is not CallOutcome.OK else _summary(result)
    record = CallRecord(
        tool=result.tool,
        arguments=arguments if isinstance(arguments, dict) else str(arguments)[:2000],
        outcome=result.outcome,
        summary=summary[:300],
        duration_ms=(time.perf_counter() - started) * 1000,
        call_id=call_id,
        facts=(
            result.facts.model_dump(mode="json")
            if result.facts is not None and result.outcome is CallOutcome.OK
            else None
        ),
    )
    # No answer goes out unrecorded: if the journal cannot write, the job fails and retries.
    await ctx.journal.record_call(record)
    # A name the model made up is counted as "unknown": it must not become a series of its own.
    metrics.record_tool_call(result.tool if known else "unknown", result.outcome.value)


def _summary(result: ToolResult) -> str:
    describe = getattr(result.facts, "summary", None)
    if callable(describe):
        return str(describe())
    return result.content[:300]


__all__ = [
    "ProposalArgs",
    "Scope",
    "Tool",
    "ToolArgs",
    "ToolMiss",
    "ToolRegistry",
    "ToolResult",
]
