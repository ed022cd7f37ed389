"""Calling tools as the agent does, against the bundled demo store, for the tool tests.

`invoke` goes through the application's discovered registry with JSON text (as a model sends
it) and checks the call left exactly one audit record. `example_arguments` makes valid
arguments for any tool from its schema, so properties can be checked over every tool, including
one added tomorrow, without a list of names.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from app.store.demo import ANCHOR, DemoShop
from app.store.models import Order, OrderStatus
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.kit.registry import ToolResult
from tests.store.demo_nodes import DemoNodes, every_order
from tests.store.demo_people import (
    EMMA as EMMA,
)
from tests.store.demo_people import (
    JONAS as JONAS,
)
from tests.store.demo_people import (
    LENA as LENA,
)
from tests.store.demo_people import (
    LUCIA as LUCIA,
)
from tests.store.demo_people import (
    MARCO as MARCO,
)
from tests.store.demo_people import (
    OLIVER as OLIVER,
)
from tests.store.demo_people import (
    REZA as REZA,
)
from tests.store.demo_people import (  # the demo store's customers, shared by the tool tests
    SARA as SARA,
)
from tests.store.demo_people import (
    SARA_TAGGED as SARA_TAGGED,
)
from tests.store.demo_people import (
    SOFIA as SOFIA,
)
from tests.store.demo_people import (
    TOM as TOM,
)

MakePackage = Callable[[dict[str, str]], str]
"""The `make_package` fixture: writes {module name: source} as a package, returns its name."""


NEW_ADDRESS = {
    "name": "Oliver Smith",
    "address1": "4 Harbour View",
    "address2": None,
    "city": "Bristol",
    "province_code": None,
    "zip": "BS1 6XN",
    "country_code": "gb",
}


def context(shop: DemoShop, email: str | None) -> ToolContext:
    sender = Sender(email=email) if email is not None else None
    return ToolContext(shop=shop, sender=sender, journal=MemoryJournal(), now=ANCHOR)


def journal_of(ctx: ToolContext) -> MemoryJournal:
    assert isinstance(ctx.journal, MemoryJournal)
    return ctx.journal


async def invoke(ctx: ToolContext, name: str, arguments: dict[str, Any] | str) -> ToolResult:
    """Call a tool as the agent does (JSON text), checking the call left exactly one record."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    journal = journal_of(ctx)
    calls_before = len(journal.calls)
    result = await tool_registry().invoke(ctx, name, raw)
    assert len(journal.calls) == calls_before + 1
    record = journal.calls[-1]
    assert record.tool == name
    assert record.outcome is result.outcome
    assert record.duration_ms >= 0
    assert record.summary
    return result


def assert_facts_are_the_content(result: ToolResult) -> None:
    """The model reads exactly the typed facts the reply is rendered from."""
    assert result.outcome is CallOutcome.OK
    assert result.facts is not None
    assert json.loads(result.content) == json.loads(result.facts.model_dump_json(exclude_none=True))


async def order_of(shop: DemoShop, number: str, email: str) -> Order:
    order = await shop.find_order(number, customer_email=email)
    assert order is not None
    return order


def customer_data(shop: DemoShop) -> list[str]:
    """Strings that would reveal a customer: names, emails, order numbers, streets, postcodes."""
    found: set[str] = set()
    fixtures = DemoNodes(shop.now)
    for node in fixtures.customer_nodes():
        found.add(str(node["displayName"]))
        found.add(str(node["defaultEmailAddress"]["emailAddress"]))
    for node in fixtures.order_nodes():
        address = node["shippingAddress"]
        found.update({str(node["name"]), str(node["email"])})
        found.update({str(address["name"]), str(address["address1"]), str(address["zip"])})
    return sorted(found)


async def assert_proposed_then_applied(
    shop: DemoShop,
    name: str,
    *,
    email: str,
    arguments: dict[str, Any],
    number: str,
    before: OrderStatus,
    after: OrderStatus,
) -> None:
    """A store-changing tool only proposes; after approval the same declaration applies it."""
    ctx = context(shop, email)
    original = await order_of(shop, number, email)
    store_before = await every_order(shop)
    assert original.status is before

    result = await invoke(ctx, name, arguments)

    assert result.outcome is CallOutcome.PROPOSED
    assert f"#{number}" in result.content
    assert await every_order(shop) == store_before
    assert await order_of(shop, number, email) == original
    (proposal,) = journal_of(ctx).proposals
    assert result.proposal_id == 1
    assert proposal.tool == name
    assert proposal.order_id == original.id
    assert proposal.order_name == f"#{number}"
    assert proposal.reason == arguments["reason"]
    assert journal_of(ctx).calls[-1].arguments == proposal.arguments

    outcome = await tool_registry().execute_approved(ctx, name, proposal.arguments)

    assert outcome.ok, outcome
    assert outcome.user_errors == ()
    changed = await order_of(shop, number, email)
    assert changed.status is after
    assert changed != original


async def assert_refused_by_the_store(
    shop: DemoShop, name: str, *, email: str, arguments: dict[str, Any], error: str
) -> None:
    """An approved change the store refuses returns the store's own user error, changing nothing."""
    ctx = context(shop, email)
    assert (await invoke(ctx, name, arguments)).outcome is CallOutcome.PROPOSED
    (proposal,) = journal_of(ctx).proposals
    store_before = await every_order(shop)

    outcome = await tool_registry().execute_approved(ctx, name, proposal.arguments)

    assert not outcome.ok
    assert outcome.user_errors == (error,)
    assert await every_order(shop) == store_before


def example_arguments(model: type[BaseModel]) -> dict[str, Any]:
    """Valid arguments for `model`, made from its JSON schema: null where allowed, else a
    simple value within the bounds ("1001" for text, so order lookups find the demo order)."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.get("$defs", {})

    def value(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return value(definitions[node["$ref"].rsplit("/", 1)[-1]])
        if "anyOf" in node:
            options = node["anyOf"]
            if any(option.get("type") == "null" for option in options):
                return None
            return value(options[0])
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            return {name: value(sub) for name, sub in node.get("properties", {}).items()}
        if kind == "array":
            return [value(node["items"])] * node.get("minItems", 0)
        if kind == "string":
            shortest = node.get("minLength", 1)
            return ("1001" * shortest)[: max(shortest, min(4, node.get("maxLength", 4)))]
        if kind in ("integer", "number"):
            return node.get("minimum", 1)
        if kind == "boolean":
            return False
        raise AssertionError(f"{model.__name__}: no example for schema {node}")

    arguments = value(schema)
    model.model_validate(arguments)  # fails loudly if the example does not fit the model
    assert isinstance(arguments, dict)
    return arguments
