"""Properties every discovered tool has, checked against the demo store with no list of names.

A new tool gets these checks for free; its own behaviour goes in `test_<its name>.py`.
"""

from __future__ import annotations

import json
import re

import pytest

from app.store.demo import DemoShop
from app.store.models import ActionResult
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome
from app.tools.kit.registry import DENIED_TEXT, Scope, Tool
from tests.store.demo_nodes import every_order
from tests.tools.calls import SARA, context, customer_data, example_arguments, invoke, journal_of

TOOLS = tool_registry().all()
SENDER_TOOLS = [t for t in TOOLS if t.scope is Scope.SENDER]
READ_TOOLS = [t for t in TOOLS if not t.needs_approval]
WRITE_TOOLS = [t for t in TOOLS if t.needs_approval]


def by_name(tool: Tool) -> str:
    return tool.name


def test_there_are_public_and_sender_tools_and_store_changes() -> None:
    # Without these the properties below would pass vacuously.
    assert SENDER_TOOLS
    assert len(SENDER_TOOLS) < len(TOOLS)
    assert WRITE_TOOLS


async def test_unverified_senders_are_offered_only_public_tools(shop: DemoShop) -> None:
    unverified = {t.name for t in tool_registry().available(context(shop, None))}
    assert unverified == {t.name for t in TOOLS if t.scope is Scope.PUBLIC}
    verified = {t.name for t in tool_registry().available(context(shop, SARA))}
    assert verified == {t.name for t in TOOLS}


@pytest.mark.parametrize("tool", SENDER_TOOLS, ids=by_name)
async def test_every_sender_tool_refuses_a_context_without_a_verified_sender(
    shop: DemoShop, tool: Tool
) -> None:
    ctx = context(shop, None)
    store_before = await every_order(shop)
    result = await invoke(ctx, tool.name, example_arguments(tool.args_model))
    assert result.outcome is CallOutcome.DENIED
    assert result.content == DENIED_TEXT
    assert result.facts is None
    assert journal_of(ctx).proposals == []
    assert await every_order(shop) == store_before


@pytest.mark.parametrize("tool", TOOLS, ids=by_name)
async def test_an_unverified_sender_sees_no_customer_data(shop: DemoShop, tool: Tool) -> None:
    result = await invoke(context(shop, None), tool.name, example_arguments(tool.args_model))
    leaked = [value for value in customer_data(shop) if value in result.content]
    assert leaked == []
    emails = re.findall(r"[\w.+-]+@[\w.-]+", result.content)
    assert all(e.endswith("@demo-store.example") for e in emails), emails  # the store's own


@pytest.mark.parametrize("tool", TOOLS, ids=by_name)
def test_a_tool_changes_the_store_exactly_when_it_needs_approval(tool: Tool) -> None:
    # Every store change answers with an ActionResult; the declaration refuses any other mix.
    changes_store = tool.returns is not None and issubclass(tool.returns, ActionResult)
    assert tool.needs_approval is changes_store
    if tool.needs_approval:
        assert tool.scope is Scope.SENDER


@pytest.mark.parametrize("tool", READ_TOOLS, ids=by_name)
async def test_a_read_tool_never_changes_the_store(shop: DemoShop, tool: Tool) -> None:
    store_before = await every_order(shop)
    ctx = context(shop, SARA)
    result = await invoke(ctx, tool.name, example_arguments(tool.args_model))
    assert result.outcome in (CallOutcome.OK, CallOutcome.NOT_FOUND)
    assert await every_order(shop) == store_before
    assert journal_of(ctx).proposals == []


@pytest.mark.parametrize("tool", WRITE_TOOLS, ids=by_name)
async def test_every_write_tool_only_proposes(shop: DemoShop, tool: Tool) -> None:
    store_before = await every_order(shop)
    ctx = context(shop, SARA)
    result = await invoke(ctx, tool.name, example_arguments(tool.args_model))
    assert result.outcome is CallOutcome.PROPOSED  # Sara's order #1001, untouched
    assert [p.tool for p in journal_of(ctx).proposals] == [tool.name]
    assert await every_order(shop) == store_before


@pytest.mark.parametrize("tool", TOOLS, ids=by_name)
@pytest.mark.parametrize("arguments", ["not json at all", '{"unknown_field": 1}'])
async def test_invalid_arguments_get_one_line_and_no_traceback(
    shop: DemoShop, tool: Tool, arguments: str
) -> None:
    ctx = context(shop, SARA)
    store_before = await every_order(shop)
    result = await invoke(ctx, tool.name, arguments)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith(f"Invalid arguments for {tool.name}: ")
    assert result.content.endswith("Fix them and call again.")
    assert "\n" not in result.content
    assert "Traceback" not in result.content
    assert 'File "' not in result.content
    assert journal_of(ctx).calls[-1].arguments == arguments
    assert journal_of(ctx).proposals == []
    assert await every_order(shop) == store_before


async def test_an_unknown_tool_is_an_invalid_call(shop: DemoShop) -> None:
    result = await invoke(context(shop, SARA), "delete_all_orders", "{}")
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert "no tool named" in result.content


async def test_each_call_is_recorded_once_with_its_outcome(shop: DemoShop) -> None:
    ctx = context(shop, SARA)
    outcomes = [
        (await invoke(ctx, "get_order", {"order_number": "1001"})).outcome,
        (await invoke(ctx, "get_order", {"order_number": "1002"})).outcome,
        (await invoke(ctx, "list_my_orders", "{}")).outcome,
        (
            await invoke(ctx, "refund_order", {"order_number": "1014", "reason": "Goodwill."})
        ).outcome,
    ]
    assert outcomes == [
        CallOutcome.OK,
        CallOutcome.NOT_FOUND,
        CallOutcome.INVALID_ARGUMENTS,
        CallOutcome.PROPOSED,
    ]
    calls = journal_of(ctx).calls
    assert [c.outcome for c in calls] == outcomes
    assert calls[0].summary == "order #1001: in_transit"
    assert calls[0].arguments == {"order_number": "1001"}
    assert all(c.duration_ms >= 0 for c in calls)


def test_example_arguments_fit_every_tool() -> None:
    for tool in TOOLS:
        arguments = example_arguments(tool.args_model)
        assert json.loads(json.dumps(arguments)) == arguments
