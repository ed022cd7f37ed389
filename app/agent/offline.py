"""The offline model: keyword rules that drive the same agent loop when no language model is set.

It reads exactly what a language model reads (the instructions, the delimited email, the tool
results) and answers with the same kind of tool calls, so the service runs anywhere with no
keys and keeps working while OpenAI is down. It is honest about being simple: its confidence
stays below what the send policy needs to answer on its own, so its plans become drafts for a
person, with the facts already fetched.

It knows no tool by name. Each tool declares an `OfflineHint` (`app/tools/kit/hints.py`): the
topic it answers and the clue of the email each argument takes. Here the email's reading
(`reading.py`) becomes topics and clues, and every offered tool whose hint matches is called.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from app.agent.llm import (
    AssistantTurn,
    ModelRequest,
    ModelResponse,
    ToolCallRequest,
    ToolOutput,
    UserText,
)
from app.agent.loop import SUBMIT_TOOL
from app.agent.plan import HandoverReason, Intent
from app.agent.reading import Reading, read_email
from app.store.models import OrderStatus
from app.tools import tool_registry
from app.tools.kit.hints import Clue, JsonValue, OfflineHint, Topic
from app.tools.kit.registry import ToolRegistry

MODEL_NAME = "rules-2026-12"
_EMAIL = re.compile(r"<<<EMAIL (\w+)>>>\n(.*)\n<<<END EMAIL \1>>>", re.S)
_SUBJECT = re.compile(r"^Subject: (.*)$", re.M)
_HEADER_LINES = re.compile(r"^(?:From: .*\n)?Subject: .*$", re.M)
"""The From and Subject lines the agent writes above the email text: not the customer's words."""

# The one place the offline model is taught what an email asks about: the topics each intent
# raises. A new tool that answers one of these topics with these clues needs nothing here; a new
# topic or clue (in `app/tools/kit/hints.py`) is taught here and in `clues_of`.
TOPICS: dict[Intent, frozenset[Topic]] = {
    Intent.ORDER_STATUS: frozenset({Topic.ORDER}),
    # A how-to question (the QUESTION clue) is searched in the help articles where it is the
    # point of the email, not in a return, a complaint or praise mentioning sizes in passing.
    Intent.SHIPPING_PROBLEM: frozenset({Topic.ORDER, Topic.HOW_TO}),
    Intent.RETURN_OR_EXCHANGE: frozenset({Topic.ORDER, Topic.RETURN, Topic.POLICY}),
    Intent.REFUND: frozenset({Topic.ORDER, Topic.POLICY}),
    Intent.CANCEL_ORDER: frozenset({Topic.ORDER, Topic.CANCELLATION}),
    Intent.CHANGE_ADDRESS: frozenset({Topic.ORDER}),
    Intent.BILLING: frozenset({Topic.ORDER, Topic.HOW_TO}),
    Intent.STOCK_OR_PRICE: frozenset({Topic.PRODUCT}),
    Intent.PRODUCT_QUESTION: frozenset({Topic.PRODUCT, Topic.HOW_TO}),
    Intent.COMPLAINT: frozenset({Topic.ORDER}),
    Intent.OTHER: frozenset({Topic.HOW_TO}),
}
_IMPLIED_POLICY = {Intent.RETURN_OR_EXCHANGE: "returns", Intent.REFUND: "refunds"}
"""The policy a request implies when the email names neither a policy nor an order (with an
order, the order's own facts answer first)."""
_NAMED_ORDER_ONLY = frozenset({Intent.COMPLAINT})
"""Intents about an order only when the email names one: no fallback lookup without it."""
_PROPOSAL_CALL = "offline_proposal_"
GROUNDED_CONFIDENCE = 0.85
_TROUBLED = frozenset({OrderStatus.DELAYED, OrderStatus.ON_HOLD})
"""Order states that are a problem to look into: only a person can say why or when. (A partly
shipped order's facts say what is still coming; the demo answers it on its own.)"""
_CHANGES = frozenset({Intent.CANCEL_ORDER, Intent.CHANGE_ADDRESS})
"""Intents a proposed store change settles even when the order is in trouble."""


class OfflineModel:
    """A deterministic stand-in for a language model, driven by `read_email`."""

    kind = "offline"
    model = MODEL_NAME

    def __init__(self, registry: ToolRegistry | None = None) -> None:
        """Use the hints of `registry`'s tools (the application's tools when omitted)."""
        self._registry = registry

    async def complete(self, request: ModelRequest) -> ModelResponse:
        email = next((i.text for i in request.items if isinstance(i, UserText)), "")
        found = _EMAIL.search(email)
        block = found.group(2) if found else email
        subject_match = _SUBJECT.search(block)
        subject = subject_match.group(1) if subject_match else ""
        # The subject is read on its own; the header lines themselves are not content (the
        # word "Subject" was taken for a product name when the subject had no Latin words).
        reading = read_email(subject, _HEADER_LINES.sub("", block, count=1))
        hints = self._offered_hints(request)
        outputs = [i for i in request.items if isinstance(i, ToolOutput)]
        if not outputs:
            calls = _matching(hints, reading, order_status=None)
            if calls:
                return _response(_requests(calls, "offline_"))
        elif not any(o.call_id.startswith(_PROPOSAL_CALL) for o in outputs):
            order = _order_seen(outputs)
            status = order.get("status") if order else None
            # A store change is proposed once the order is seen and the change is still possible.
            proposals = _matching(hints, reading, order_status=str(status)) if status else []
            if proposals:
                return _response(_requests(proposals, _PROPOSAL_CALL))
        facts = _Facts(
            order_lookups=any(hint.topic is Topic.ORDER for _, hint in hints),
            products_missed=_missed(request, outputs, hints, Topic.PRODUCT),
        )
        return _response([_submit(reading, outputs, facts)])

    def _offered_hints(self, request: ModelRequest) -> list[tuple[str, OfflineHint]]:
        """The offered tools that declare offline hints, in the order they were offered."""
        registry = self._registry or tool_registry()
        hints: list[tuple[str, OfflineHint]] = []
        for schema in request.tools:
            tool = registry.get(str(schema.get("name")))
            if tool is not None and tool.offline is not None:
                hints.append((tool.name, tool.offline))
        return hints


@dataclass(frozen=True, kw_only=True)
class _Facts:
    """What the run, not the email, tells the handover rules."""

    order_lookups: bool
    """Order tools were offered: they are only when the sender is verified."""
    products_missed: bool
    """A product search found nothing."""


def _missed(
    request: ModelRequest,
    outputs: list[ToolOutput],
    hints: list[tuple[str, OfflineHint]],
    topic: Topic,
) -> bool:
    """A call to a tool answering `topic` returned no facts."""
    names = {name for name, hint in hints if hint.topic is topic}
    calls = {
        call.call_id
        for item in request.items
        if isinstance(item, AssistantTurn)
        for call in item.tool_calls
        if call.name in names
    }
    return any(o.call_id in calls and not o.content.startswith("{") for o in outputs)


def _topics(reading: Reading) -> frozenset[Topic]:
    topics = TOPICS.get(reading.intent, frozenset())
    return topics | {Topic.POLICY} if reading.policy_topic else topics


def clues_of(reading: Reading) -> dict[Clue, str]:
    """The clues this email gives, by the kind of argument they fill."""
    found = {
        Clue.ORDER_NUMBER: reading.order_number,
        Clue.PRODUCT_WORDS: reading.product_words,
        Clue.POLICY_TOPIC: reading.policy_topic
        or (None if reading.order_number else _IMPLIED_POLICY.get(reading.intent)),
        Clue.REASON: f"The customer asked for this by email ({reading.intent.value}).",
        Clue.QUESTION: reading.how_to,
    }
    return {clue: value for clue, value in found.items() if value}


def _matching(
    hints: list[tuple[str, OfflineHint]], reading: Reading, *, order_status: str | None
) -> list[tuple[str, dict[str, JsonValue]]]:
    """The calls whose hints match the reading.

    Without `order_status`, the first lookups; with it, the store changes still possible for an
    order in that status.
    """
    topics, clues = _topics(reading), clues_of(reading)
    calls: list[tuple[str, dict[str, JsonValue]]] = []
    for name, hint in hints:
        allowed = {status.value for status in hint.order_status}
        if order_status is None and allowed:
            continue
        if order_status is not None and order_status not in allowed:
            continue
        if hint.topic not in topics or not hint.clues() <= clues.keys() or hint.unless in clues:
            continue
        if hint.unless is not None and reading.intent in _NAMED_ORDER_ONLY:
            continue
        arguments = {
            field: clues[value] if isinstance(value, Clue) else value
            for field, value in hint.args.items()
        }
        calls.append((name, arguments))
    return calls


def _requests(calls: list[tuple[str, dict[str, JsonValue]]], prefix: str) -> list[ToolCallRequest]:
    return [
        ToolCallRequest(call_id=f"{prefix}{n}", name=name, arguments=json.dumps(arguments))
        for n, (name, arguments) in enumerate(calls, start=1)
    ]


def _order_seen(outputs: list[ToolOutput]) -> dict[str, Any] | None:
    """The order a lookup in this run returned, if any."""
    for output in outputs:
        if not output.content.startswith("{"):
            continue
        try:
            data = json.loads(output.content)
        except ValueError:
            continue
        if isinstance(data, dict) and "order_number" in data and "status" in data:
            return data
    return None


def _submit(reading: Reading, outputs: list[ToolOutput], facts: _Facts) -> ToolCallRequest:
    shown = [o.call_id for o in outputs if o.content.startswith("{")]
    order = _order_seen(outputs)
    reason = _handover(reading, order, facts)
    # Honest confidence: keyword rules alone never reach the send policy's threshold. Only an
    # unambiguous order-status question about an order the lookup found for this sender does:
    # its reply is then nothing but that order's own facts.
    answerable = reading.intent is not Intent.OTHER or reading.policy_topic is not None
    confidence = min(0.7, 0.5 + 0.1 * reading.hits) if answerable else 0.2
    if (
        reading.intent is Intent.ORDER_STATUS
        and reading.rivals == 0
        and reason is None
        and order is not None
        # A delayed or held order is a problem to look into, not a status to report.
        and order.get("status") not in _TROUBLED
    ):
        confidence = GROUNDED_CONFIDENCE
    arguments = {
        "intent": reading.intent.value,
        "confidence": confidence,
        "language": reading.language,
        "show_results_of": shown,
        "paragraph": "",
        "needs_human": reason is not None,
        "handover_reason": reason.value if reason else None,
    }
    return ToolCallRequest(
        call_id="offline_submit", name=SUBMIT_TOOL, arguments=json.dumps(arguments)
    )


def _handover(
    reading: Reading, order: dict[str, Any] | None, facts: _Facts
) -> HandoverReason | None:
    """Why a person must see this email, if one must; the first rule that applies wins."""
    if reading.intent is Intent.SPAM_OR_IRRELEVANT:
        return None  # Filed, never answered: no one needs to read it, injection or not.
    if reading.legal:
        return HandoverReason.LEGAL_THREAT
    if reading.manipulative:
        return HandoverReason.SENSITIVE_TOPIC
    if reading.intent is Intent.HUMAN_REQUESTED:
        return HandoverReason.PERSON_REQUESTED
    if reading.angry or reading.intent is Intent.COMPLAINT:
        return HandoverReason.ANGER
    policy_question = reading.policy_topic is not None and reading.order_number is None
    if (
        Topic.ORDER in TOPICS.get(reading.intent, frozenset())
        and not facts.order_lookups
        and not policy_question
    ):
        # About an order, from a sender who could not be verified: a person checks who it is.
        # A question about the published policy is answered for anyone.
        return HandoverReason.SENSITIVE_TOPIC
    troubled = order is not None and order.get("status") in _TROUBLED
    if reading.staff_only or facts.products_missed or (troubled and reading.intent not in _CHANGES):
        return HandoverReason.LOW_CONFIDENCE
    return None


def _response(calls: list[ToolCallRequest]) -> ModelResponse:
    return ModelResponse(
        text=None, tool_calls=tuple(calls), finish_reason="completed", model=MODEL_NAME
    )
