"""The registry's contract, checked over every registered tool, and its safety mechanics.

A new tool gets all of these checks for free: adding its module to `app/tools/` is enough.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, Field

from app.store.models import (
    ActionResult,
    Address,
    Customer,
    Money,
    Order,
    OrderStatus,
    Policy,
    Product,
)
from app.store.protocol import ShopUnavailable
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext, ToolMiss
from app.tools.kit.hints import Clue, OfflineHint, Topic
from app.tools.kit.lookup import ORDER_NOT_FOUND
from app.tools.kit.registry import UNAVAILABLE_TEXT, ProposalArgs, Scope, ToolArgs, ToolRegistry
from app.tools.kit.toolset import ToolSet

registry = tool_registry()
TOOLS = registry.all()
VERBS = {"get", "list", "search", "cancel", "request", "change", "refund", "check", "find"}
IDENTITY = re.compile(r"email|customer|phone|user_?id|account|sender|recipient|address_to", re.I)
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
class TestContract:
    def test_has_a_short_docstring(self, tool: Any) -> None:
        assert tool.description, "the docstring is the description the model reads"
        assert len(tool.description) <= 300

    def test_name_is_snake_case_verb_noun(self, tool: Any) -> None:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", tool.name)
        assert tool.name.split("_", 1)[0] in VERBS

    def test_has_a_scope_and_store_changes_are_sender_scoped_proposals(self, tool: Any) -> None:
        assert isinstance(tool.scope, Scope)
        if tool.needs_approval:
            assert tool.scope is Scope.SENDER
            assert issubclass(tool.args_model, ProposalArgs)

    def test_schema_builds_in_strict_mode(self, tool: Any) -> None:
        schema = tool.function_schema()
        assert schema["strict"] is True
        assert schema["name"] == tool.name
        for node in _objects(schema["parameters"]):
            assert node.get("additionalProperties") is False
            assert sorted(node.get("required", [])) == sorted(node.get("properties", {}))
        text = json.dumps(schema)
        for keyword in ('"default"', '"maxLength"', '"minimum"', '"title"'):
            assert keyword not in text

    def test_no_argument_is_named_like_an_identity(self, tool: Any) -> None:
        for name in _field_names(tool.args_model):
            assert not IDENTITY.search(name), f"{tool.name}.{name} looks like an identity"

    def test_unknown_arguments_are_refused(self, tool: Any) -> None:
        assert issubclass(tool.args_model, ToolArgs)
        assert tool.args_model.model_config.get("extra") == "forbid"


def _objects(schema: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object":
            found.append(schema)
        for value in schema.values():
            found += _objects(value)
    elif isinstance(schema, list):
        for item in schema:
            found += _objects(item)
    return found


def _field_names(model: type[BaseModel]) -> list[str]:
    names: list[str] = []
    for name, field in model.model_fields.items():
        names.append(name)
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                names += _field_names(candidate)
    return names


# --- A recording fake shop: it shows what identity the tools pass on. -------------------------


def _order(name: str, email: str) -> Order:
    return Order(
        id=f"gid://shopify/Order/{name.strip('#')}",
        name=name,
        email=email,
        customer_email=email,
        customer_name=None,
        created_at=NOW,
        cancelled_at=None,
        financial_status="PAID",
        fulfillment_status="UNFULFILLED",
        return_status=None,
        status=OrderStatus.PROCESSING,
        status_page_url=None,
        total=Money(amount=Decimal("10.00"), currency="EUR"),
        shipping_address=None,
        items=(),
        shipments=(),
        refunds=(),
        returns=(),
    )


class RecordingShop:
    def __init__(self) -> None:
        self.orders = {
            "1001": _order("#1001", "alice@example.com"),
            "2002": _order("#2002", "bob@example.com"),
        }
        self.calls: list[tuple[str, Any]] = []
        self.unavailable = False
        self.changes: list[str] = []

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        self.calls.append(("find_order", customer_email))
        if self.unavailable:
            raise ShopUnavailable("throttled")
        order = self.orders.get(number)
        return order if order and order.belongs_to(customer_email) else None

    async def list_orders(self, *, customer_email: str, limit: int) -> list[Order]:
        self.calls.append(("list_orders", customer_email))
        return [o for o in self.orders.values() if o.belongs_to(customer_email)][:limit]

    async def get_customer(self, *, customer_email: str) -> Customer | None:
        self.calls.append(("get_customer", customer_email))
        return None

    async def search_products(self, text: str, *, limit: int) -> list[Product]:
        self.calls.append(("search_products", text))
        return []

    async def get_policies(self) -> list[Policy]:
        return []

    async def cancel_order(self, order: Order, *, reason: str, staff_note: str) -> ActionResult:
        self.changes.append(f"cancel {order.name}")
        return ActionResult(ok=True, summary="cancelled")

    async def request_return(
        self, order: Order, *, item_titles: list[str] | None, note: str
    ) -> ActionResult:
        self.changes.append(f"return {order.name}")
        return ActionResult(ok=True, summary="return requested")

    async def update_shipping_address(self, order: Order, *, address: Address) -> ActionResult:
        self.changes.append(f"address {order.name}")
        return ActionResult(ok=True, summary="updated")

    async def refund_order(self, order: Order, *, note: str) -> ActionResult:
        self.changes.append(f"refund {order.name}")
        return ActionResult(ok=True, summary="refunded")


def context(
    shop: RecordingShop, sender: str | None = "alice@example.com"
) -> tuple[ToolContext, MemoryJournal]:
    journal = MemoryJournal()
    ctx = ToolContext(
        shop=shop, sender=Sender(email=sender) if sender else None, journal=journal, now=NOW
    )
    return ctx, journal


async def test_identity_comes_from_the_context_not_the_arguments() -> None:
    shop = RecordingShop()
    ctx, _ = context(shop)
    result = await registry.invoke(
        ctx, "get_order", '{"order_number": "#2002", "email": "bob@example.com"}'
    )
    # An extra "email" argument is refused outright, and never reaches the shop.
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert shop.calls == []
    await registry.invoke(ctx, "list_my_orders", {"limit": None})
    assert shop.calls == [("list_orders", "alice@example.com")]


async def test_someone_elses_order_and_a_missing_order_read_the_same() -> None:
    shop = RecordingShop()
    ctx, _ = context(shop)
    theirs = await registry.invoke(ctx, "get_order", {"order_number": "2002"})
    missing = await registry.invoke(ctx, "get_order", {"order_number": "9999"})
    assert theirs.outcome is missing.outcome is CallOutcome.NOT_FOUND
    assert theirs.content == missing.content == ORDER_NOT_FOUND
    mine = await registry.invoke(ctx, "get_order", {"order_number": "#1001"})
    assert mine.outcome is CallOutcome.OK
    assert "#1001" in mine.content


async def test_an_unverified_sender_gets_public_tools_only() -> None:
    shop = RecordingShop()
    ctx, journal = context(shop, sender=None)
    offered = {t.name for t in registry.available(ctx)}
    assert offered == {t.name for t in TOOLS if t.scope is Scope.PUBLIC}
    for tool in TOOLS:
        if tool.scope is Scope.SENDER:
            arguments = _valid_arguments(tool.name)
            result = await registry.invoke(ctx, tool.name, arguments)
            assert result.outcome is CallOutcome.DENIED
            assert "#1001" not in result.content
    assert shop.calls == []
    assert shop.changes == []
    assert all(call.outcome is CallOutcome.DENIED for call in journal.calls)


async def test_an_outage_is_never_reported_as_not_found() -> None:
    shop = RecordingShop()
    shop.unavailable = True
    ctx, _ = context(shop)
    result = await registry.invoke(ctx, "get_order", {"order_number": "1001"})
    assert result.outcome is CallOutcome.UNAVAILABLE
    assert result.content == UNAVAILABLE_TEXT != ORDER_NOT_FOUND


async def test_invalid_arguments_get_one_actionable_sentence_and_no_traceback() -> None:
    ctx, journal = context(RecordingShop())
    result = await registry.invoke(ctx, "get_order", '{"order_number": 1001')
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith("Invalid arguments for get_order:")
    assert "Traceback" not in result.content
    assert "\n" not in result.content
    [record] = journal.calls
    assert record.outcome is CallOutcome.INVALID_ARGUMENTS
    assert isinstance(record.arguments, str)


async def test_an_unknown_tool_is_an_invalid_call() -> None:
    ctx, journal = context(RecordingShop())
    result = await registry.invoke(ctx, "delete_everything", "{}")
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert len(journal.calls) == 1


async def test_a_write_tool_only_proposes_and_execution_uses_the_same_declaration() -> None:
    shop = RecordingShop()
    ctx, journal = context(shop)
    arguments = {"order_number": "#1001", "reason": "Ordered the wrong size."}
    result = await registry.invoke(ctx, "cancel_order", arguments)
    assert result.outcome is CallOutcome.PROPOSED
    assert shop.changes == []  # nothing changed on the model's say-so
    [proposal] = journal.proposals
    assert (proposal.tool, proposal.order_name, proposal.reason) == (
        "cancel_order",
        "#1001",
        "Ordered the wrong size.",
    )
    assert result.proposal_id == 1
    outcome = await registry.execute_approved(ctx, "cancel_order", proposal.arguments)
    assert outcome.ok
    assert shop.changes == ["cancel #1001"]


async def test_a_proposal_for_someone_elses_order_is_not_recorded() -> None:
    shop = RecordingShop()
    ctx, journal = context(shop)
    result = await registry.invoke(ctx, "refund_order", {"order_number": "2002", "reason": "x"})
    assert (result.outcome, result.content) == (CallOutcome.NOT_FOUND, ORDER_NOT_FOUND)
    assert journal.proposals == []


async def test_approved_execution_rechecks_ownership() -> None:
    shop = RecordingShop()
    ctx, _ = context(shop, sender="alice@example.com")
    with pytest.raises(ToolMiss):
        await registry.execute_approved(
            ctx, "refund_order", {"order_number": "2002", "reason": "x"}
        )
    assert shop.changes == []
    unverified, _ = context(shop, sender=None)
    with pytest.raises(PermissionError):
        await registry.execute_approved(
            unverified, "refund_order", {"order_number": "1001", "reason": "x"}
        )
    with pytest.raises(LookupError):
        await registry.execute_approved(ctx, "get_order", {"order_number": "1001"})


async def test_every_call_is_recorded_once_with_duration_and_outcome() -> None:
    ctx, journal = context(RecordingShop())
    await registry.invoke(ctx, "get_order", {"order_number": "1001"}, call_id="call_1")
    await registry.invoke(ctx, "get_order", {"order_number": "9999"}, call_id="call_2")
    assert [(c.call_id, c.outcome) for c in journal.calls] == [
        ("call_1", CallOutcome.OK),
        ("call_2", CallOutcome.NOT_FOUND),
    ]
    assert journal.calls[0].summary == "order #1001: processing"
    assert all(c.duration_ms >= 0 for c in journal.calls)


class WordArgs(ToolArgs):
    word: str = Field(description="A word.")


class LooseArgs(BaseModel):
    order_number: str


class NotAProposalArgs(ToolArgs):
    order_number: str


async def test_an_unexpected_error_becomes_a_neutral_sentence() -> None:
    local = ToolSet()

    @local.tool(scope=Scope.PUBLIC)
    async def check_word(ctx: ToolContext, args: WordArgs) -> BaseModel:
        """Check a word."""
        raise ZeroDivisionError("secret internals /srv/app.py line 3")

    ctx, journal = context(RecordingShop())
    result = await ToolRegistry(local.all()).invoke(ctx, "check_word", {"word": "x"})
    assert result.outcome is CallOutcome.ERROR
    assert "secret" not in result.content
    assert "ZeroDivision" not in result.content
    assert journal.calls[0].outcome is CallOutcome.ERROR


def test_declarations_that_break_the_rules_are_refused() -> None:
    local = ToolSet()

    with pytest.raises(TypeError, match="ToolArgs"):

        @local.tool(scope=Scope.SENDER)
        async def get_thing(ctx: ToolContext, args: LooseArgs) -> None:
            """Get a thing."""

    with pytest.raises(TypeError, match="ProposalArgs"):

        @local.tool(scope=Scope.SENDER, needs_approval=True)
        async def cancel_thing(ctx: ToolContext, args: NotAProposalArgs) -> None:
            """Cancel a thing."""

    with pytest.raises(TypeError, match="ActionResult"):

        @local.tool(scope=Scope.SENDER)
        async def cancel_quietly(ctx: ToolContext, args: ProposalArgs) -> ActionResult:
            """Cancel without asking anyone."""
            raise NotImplementedError

    with pytest.raises(TypeError, match="ActionResult"):

        @local.tool(scope=Scope.SENDER, needs_approval=True)
        async def cancel_nothing(ctx: ToolContext, args: ProposalArgs) -> None:
            """Propose a change that changes nothing."""

    with pytest.raises(TypeError, match="offline hint"):

        @local.tool(
            scope=Scope.PUBLIC,
            offline=OfflineHint(topic=Topic.PRODUCT, args={"query": Clue.PRODUCT_WORDS}),
        )
        async def check_spelling(ctx: ToolContext, args: WordArgs) -> None:
            """Check a word's spelling."""

    assert local.all() == []


def test_tool_names_are_unique_within_a_module_and_across_modules() -> None:
    first, second = ToolSet(), ToolSet()

    async def check_word(ctx: ToolContext, args: WordArgs) -> None:
        """Check a word."""

    first.tool(scope=Scope.PUBLIC)(check_word)
    with pytest.raises(ValueError, match="declared twice"):
        first.tool(scope=Scope.PUBLIC)(check_word)
    second.tool(scope=Scope.PUBLIC)(check_word)
    with pytest.raises(ValueError, match="unique"):
        ToolRegistry([*first.all(), *second.all()])


def test_declaring_a_tool_registers_it_nowhere_else() -> None:
    local = ToolSet()

    @local.tool(scope=Scope.PUBLIC)
    async def check_word(ctx: ToolContext, args: WordArgs) -> None:
        """Check a word."""

    assert [t.name for t in local.all()] == ["check_word"]
    assert registry.get("check_word") is None
    assert ToolRegistry().all() == []


def _valid_arguments(name: str) -> dict[str, Any]:
    samples: dict[str, dict[str, Any]] = {
        "get_order": {"order_number": "1001"},
        "list_my_orders": {"limit": None},
        "get_customer_profile": {},
        "cancel_order": {"order_number": "1001", "reason": "x"},
        "request_return": {"order_number": "1001", "reason": "x", "items": None},
        "refund_order": {"order_number": "1001", "reason": "x"},
        "change_shipping_address": {
            "order_number": "1001",
            "reason": "x",
            "new_address": {
                "name": "Alice A",
                "address1": "1 Main St",
                "address2": None,
                "city": "Berlin",
                "province_code": None,
                "zip": "10115",
                "country_code": "DE",
            },
        },
    }
    return samples[name]
