"""A tool is one file: a module dropped into a tools package is all it takes.

The test writes a throwaway tool module into a temporary package on disk, discovers it together
with the real tools, and shows that without any other change the new tool is offered to the
model with a strict schema, its arguments are validated, its scope is enforced, every call is
logged, the offline model calls it through the agent loop from its declared hint alone, and its
facts appear in the rendered reply, presented by the module itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.agent.loop import SUBMIT_TOOL, AgentEmail, MemoryTrace, offered_tools, run_agent
from app.agent.offline import OfflineModel
from app.replies.render import ReplyInputs, StoreIdentity, render_reply
from app.store.demo import ANCHOR, DemoShop
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.kit.registry import DENIED_TEXT, ToolRegistry
from app.tools.kit.toolset import discover
from tests.tools.calls import SARA, MakePackage

NAME = "get_gift_wrapping"
WRAPPING = "Recycled kraft paper with a red ribbon"
GIFT_WRAPPING_MODULE = f'''
"""Gift wrapping: how one of the sender's orders is wrapped."""

from __future__ import annotations

from pydantic import Field

from app.replies.facts import Block, Facts, Ident, Presenter, Row, Table, Text
from app.tools.kit import (
    Clue,
    OfflineHint,
    Scope,
    ToolArgs,
    ToolContext,
    ToolSet,
    Topic,
    find_own_order,
)

tools = ToolSet()


class GiftWrappingFacts(Facts):
    """How an order is wrapped."""

    order_number: str
    wrapping: str

    def present(self, t: Presenter) -> list[Block]:
        """A two-row table: the order and its wrapping."""
        return [
            Table(
                [
                    Row(t.gettext("Order"), Ident(self.order_number)),
                    Row(t.gettext("Gift wrapping"), Text(self.wrapping)),
                ]
            )
        ]

    def shown(self) -> dict[str, list[str]]:
        """The order number the reply shows, for the verifier and staff."""
        return {{"order": [self.order_number]}}

    def summary(self) -> str:
        """One line for the audit log."""
        return f"order {{self.order_number}}: wrapped"


class GetGiftWrappingArgs(ToolArgs):
    """Which order."""

    order_number: str = Field(max_length=60, description='As the customer wrote it, e.g. "#1001".')


@tools.tool(
    scope=Scope.SENDER,
    offline=OfflineHint(topic=Topic.ORDER, args={{"order_number": Clue.ORDER_NUMBER}}),
)
async def {NAME}(ctx: ToolContext, args: GetGiftWrappingArgs) -> GiftWrappingFacts:
    """Tell how one of this customer's orders is gift-wrapped."""
    order = await find_own_order(ctx, args.order_number)
    return GiftWrappingFacts(order_number=order.name, wrapping="{WRAPPING}")
'''


@pytest.fixture
def registry(make_package: MakePackage) -> ToolRegistry:
    """The real tools and the throwaway one, discovered together."""
    package = make_package({"gift_wrapping": GIFT_WRAPPING_MODULE})
    return discover("app.tools", package)


def context(sender: str | None) -> tuple[ToolContext, MemoryJournal]:
    journal = MemoryJournal()
    ctx = ToolContext(
        shop=DemoShop(now=ANCHOR),
        sender=Sender(email=sender) if sender else None,
        journal=journal,
        now=ANCHOR,
    )
    return ctx, journal


def schema_named(schemas: tuple[dict[str, Any], ...], name: str) -> dict[str, Any] | None:
    return next((schema for schema in schemas if schema["name"] == name), None)


def test_it_is_offered_to_a_verified_sender_with_a_strict_schema(registry: ToolRegistry) -> None:
    schema = schema_named(offered_tools(registry, verified_sender=True), NAME)
    assert schema is not None
    assert schema["strict"] is True
    assert schema["description"] == "Tell how one of this customer's orders is gift-wrapped."
    parameters = schema["parameters"]
    assert parameters["additionalProperties"] is False
    assert parameters["required"] == ["order_number"] == list(parameters["properties"])
    assert schema_named(offered_tools(registry, verified_sender=False), NAME) is None


async def test_its_arguments_are_validated(registry: ToolRegistry) -> None:
    ctx, journal = context(SARA)
    unknown = json.dumps({"order_number": "#1001", "colour": "red"})
    result = await registry.invoke(ctx, NAME, unknown)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith(f"Invalid arguments for {NAME}: colour: ")
    missing = await registry.invoke(ctx, NAME, "{}")
    assert missing.outcome is CallOutcome.INVALID_ARGUMENTS
    assert [call.outcome for call in journal.calls] == [CallOutcome.INVALID_ARGUMENTS] * 2


async def test_it_is_scoped_to_the_verified_sender(registry: ToolRegistry) -> None:
    ctx, journal = context(None)
    assert NAME not in {tool.name for tool in registry.available(ctx)}
    result = await registry.invoke(ctx, NAME, {"order_number": "#1001"})
    assert (result.outcome, result.content, result.facts) == (
        CallOutcome.DENIED,
        DENIED_TEXT,
        None,
    )
    someone_else, _ = context("lena@example.de")
    theirs = await registry.invoke(someone_else, NAME, {"order_number": "#1001"})
    assert theirs.outcome is CallOutcome.NOT_FOUND  # Sara's order, not Lena's
    assert WRAPPING not in theirs.content
    assert [call.outcome for call in journal.calls] == [CallOutcome.DENIED]


async def test_every_call_is_logged(registry: ToolRegistry) -> None:
    ctx, journal = context(SARA)
    result = await registry.invoke(ctx, NAME, {"order_number": "1001"}, call_id="call_1")
    assert result.outcome is CallOutcome.OK
    [record] = journal.calls
    assert (record.tool, record.call_id, record.outcome) == (NAME, "call_1", CallOutcome.OK)
    assert record.arguments == {"order_number": "1001"}
    assert record.summary == "order #1001: wrapped"
    assert record.facts == {"order_number": "#1001", "wrapping": WRAPPING}
    assert record.duration_ms >= 0


async def test_the_offline_model_calls_it_through_the_agent_loop(registry: ToolRegistry) -> None:
    ctx, journal = context(SARA)
    email = AgentEmail(subject="Where is my order #1001?", text="Hi, where is order #1001?")
    run = await run_agent(
        email,
        ctx=ctx,
        llm=OfflineModel(registry),
        trace=MemoryTrace(),
        store_name="Demo Store",
        registry=registry,
    )
    called = {record.tool: record for record in journal.calls}
    assert called[NAME].outcome is CallOutcome.OK
    assert called[NAME].arguments == {"order_number": "1001"}
    assert "get_order" in called  # the real tools still answer as before
    [call_id] = [i for i, result in run.results.items() if result.tool == NAME]
    assert call_id in run.plan.facts  # the plan shows its result
    gift_facts = run.results[call_id].facts
    assert gift_facts is not None
    assert gift_facts.model_dump() == {"order_number": "#1001", "wrapping": WRAPPING}
    shown = tuple(r.facts for i, r in run.results.items() if i in run.plan.facts and r.facts)
    assert gift_facts in shown

    # Its facts appear in the rendered reply, presented by the tool's own module, in the
    # customer's language ("Order" is an existing message; the new label falls back to English
    # until a catalog translates it).
    for language, order_label in (("en", "Order"), ("es", "Pedido")):
        reply = render_reply(
            ReplyInputs(
                plan=run.plan.model_copy(update={"language": language}),
                facts=shown,
                sender_name="Sara",
                sender_verified=True,
                original_subject=email.subject,
            ),
            store=StoreIdentity(name="Demo Store", support_email="support@demo-store.example"),
        )
        assert f"Gift wrapping: {WRAPPING}" in reply.text
        assert f"{order_label}: #1001" in reply.text
        assert WRAPPING in reply.html
        assert "#1001" in reply.shown["order"]
        assert reply.language == language


async def test_the_offline_model_never_offers_it_to_an_unverified_sender(
    registry: ToolRegistry,
) -> None:
    ctx, journal = context(None)
    email = AgentEmail(subject="Where is my order #1001?", text="Hi, where is order #1001?")
    trace = MemoryTrace()
    await run_agent(
        email,
        ctx=ctx,
        llm=OfflineModel(registry),
        trace=trace,
        store_name="Demo Store",
        registry=registry,
    )
    offered = {tool["name"] for tool in trace.turns[0].request.tools}
    assert NAME not in offered
    assert SUBMIT_TOOL in offered
    assert NAME not in {record.tool for record in journal.calls}
