"""Every registered tool, end to end through the registry, against the bundled demo store."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app.store.demo import ANCHOR, DemoShop
from app.store.models import Order, OrderStatus, Policy
from app.tools import registry
from app.tools.context import CallOutcome, MemoryJournal, Sender, ToolContext, ToolMiss
from app.tools.customers import NO_PROFILE
from app.tools.lookup import ORDER_NOT_FOUND
from app.tools.products import NO_PRODUCTS
from app.tools.registry import DENIED_TEXT, Scope, ToolResult
from tests.store.demo_nodes import DemoNodes, every_order

SARA = "sara.ahmadi@example.com"
SARA_TAGGED = "sara.ahmadi+sale@example.com"
REZA = "reza@example.ir"
LUCIA = "lucia@example.es"
LENA = "lena@example.de"
TOM = "tom@example.co.uk"
JONAS = "jonas.weber@example.net"
OLIVER = "oliver.smith@example.org"
EMMA = "emma.dubois@example.fr"
MARCO = "marco.rossi@example.it"
SOFIA = "sofia.jansen@example.nl"

NEW_ADDRESS = {
    "name": "Oliver Smith",
    "address1": "4 Harbour View",
    "address2": None,
    "city": "Bristol",
    "province_code": None,
    "zip": "BS1 6XN",
    "country_code": "gb",
}

SAMPLE_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "get_order": (SARA, {"order_number": "#1001"}),
    "list_my_orders": (SARA, {"limit": 3}),
    "get_customer_profile": (SARA, {}),
    "search_products": (SARA, {"query": "linen shirt"}),
    "get_store_policies": (SARA, {"topic": "returns"}),
    "cancel_order": (OLIVER, {"order_number": "#1002", "reason": "Ordered the wrong size."}),
    "request_return": (
        LUCIA,
        {
            "order_number": "pedido 1003",
            "reason": "The bag is not what she expected.",
            "items": ["Leather Crossbody Bag - Tan"],
        },
    ),
    "change_shipping_address": (
        OLIVER,
        {"order_number": "1002", "reason": "Moved house.", "new_address": NEW_ADDRESS},
    ),
    "refund_order": (LENA, {"order_number": "#1007", "reason": "The shoes are too small."}),
}
"""One valid call per registered tool: (verified sender, arguments)."""


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


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
    result = await registry.invoke(ctx, name, raw)
    assert len(journal.calls) == calls_before + 1
    record = journal.calls[-1]
    assert record.tool == name
    assert record.outcome is result.outcome
    assert record.duration_ms >= 0
    assert record.summary
    return result


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


def test_every_registered_tool_has_a_sample_call() -> None:
    assert {t.name for t in registry.all()} == set(SAMPLE_CALLS)


@pytest.mark.parametrize("name", [t.name for t in registry.all()])
async def test_every_tool_works_against_the_demo_store(shop: DemoShop, name: str) -> None:
    tool = registry.get(name)
    assert tool is not None
    email, arguments = SAMPLE_CALLS[name]
    ctx = context(shop, email)
    result = await invoke(ctx, name, arguments)
    assert result.outcome is (CallOutcome.PROPOSED if tool.needs_approval else CallOutcome.OK)
    assert result.content
    if not tool.needs_approval:
        assert result.facts is not None
        assert json.loads(result.content) == json.loads(
            result.facts.model_dump_json(exclude_none=True)
        )


# --- get_order -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written", ["#1001", "1001", "order no. 1001", "۱۰۰۱", "١٠٠١", "１００１", "Bestellung 1001"]
)
async def test_get_order_understands_the_number_as_customers_write_it(
    shop: DemoShop, written: str
) -> None:
    ctx = context(shop, SARA)
    result = await invoke(ctx, "get_order", {"order_number": written})
    reference = await invoke(ctx, "get_order", {"order_number": "#1001"})
    assert result.outcome is CallOutcome.OK
    assert result.content == reference.content
    facts = json.loads(result.content)
    assert facts["order_number"] == "#1001"
    assert facts["status"] == OrderStatus.IN_TRANSIT.value
    assert facts["placed_on"] == "2026-11-17"
    assert facts["estimated_delivery"] == "2026-11-21"
    (tracking,) = facts["tracking"]
    assert tracking["company"] == "DHL"
    assert tracking["url"].startswith("https://www.dhl.de/")


async def test_get_order_reports_the_delayed_parcel_to_its_owner(shop: DemoShop) -> None:
    result = await invoke(context(shop, REZA), "get_order", {"order_number": "۱۰۰۵"})
    facts = json.loads(result.content)
    assert facts["status"] == OrderStatus.DELAYED.value
    assert facts["estimated_delivery"] == "2026-11-13"


async def test_someone_elses_order_reads_exactly_like_a_missing_one(shop: DemoShop) -> None:
    ctx = context(shop, LENA)
    others = await invoke(ctx, "get_order", {"order_number": "#1002"})  # Oliver's
    missing = await invoke(ctx, "get_order", {"order_number": "#9999"})
    assert others.outcome is missing.outcome is CallOutcome.NOT_FOUND
    assert others.content == missing.content == ORDER_NOT_FOUND
    assert others.facts is missing.facts is None
    assert "Oliver" not in others.content
    assert "Bristol" not in others.content


async def test_ownership_ignores_case_but_not_plus_tags(shop: DemoShop) -> None:
    shouting = await invoke(
        context(shop, "Sara.Ahmadi@EXAMPLE.com"), "get_order", {"order_number": "1006"}
    )
    assert json.loads(shouting.content)["order_number"] == "#1006"
    plain = await invoke(context(shop, SARA), "get_order", {"order_number": "1022"})
    assert plain.content == ORDER_NOT_FOUND
    tagged = await invoke(context(shop, SARA_TAGGED), "get_order", {"order_number": "1022"})
    assert json.loads(tagged.content)["order_number"] == "#1022"


# --- list_my_orders ------------------------------------------------------------------------------


async def test_list_my_orders_newest_first_and_only_the_senders(shop: DemoShop) -> None:
    result = await invoke(context(shop, SARA), "list_my_orders", {"limit": 3})
    orders = json.loads(result.content)["orders"]
    assert [o["order_number"] for o in orders] == ["#1001", "#1010", "#1006"]
    assert [o["status"] for o in orders] == ["in_transit", "cancelled", "delivered"]
    default = await invoke(context(shop, SARA), "list_my_orders", {"limit": None})
    names = [o["order_number"] for o in json.loads(default.content)["orders"]]
    assert len(names) == 5
    assert "#1022" not in names
    jonas = await invoke(context(shop, JONAS), "list_my_orders", {"limit": 10})
    assert [o["order_number"] for o in json.loads(jonas.content)["orders"]] == [
        "#1004",
        "#1011",
        "#1018",
        "#1024",
        "#1029",
    ]


async def test_list_my_orders_for_a_customer_without_orders(shop: DemoShop) -> None:
    result = await invoke(context(shop, TOM), "list_my_orders", {"limit": 5})
    assert result.outcome is CallOutcome.OK
    assert json.loads(result.content) == {"orders": []}


# --- get_customer_profile ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "segment", "orders"),
    [
        (SARA, "champion", 6),
        (JONAS, "loyal", 5),
        (REZA, "loyal", 2),
        (EMMA, "at_risk", 3),
        (MARCO, "hibernating", 2),
        (SOFIA, "hibernating", 1),
        (LUCIA, "new", 1),
        (TOM, "new", 0),
    ],
)
async def test_customer_profile_segments(
    shop: DemoShop, email: str, segment: str, orders: int
) -> None:
    result = await invoke(context(shop, email), "get_customer_profile", {})
    facts = json.loads(result.content)
    assert facts["segment"] == segment
    assert facts["orders_count"] == orders


async def test_customer_profile_dates(shop: DemoShop) -> None:
    facts = json.loads((await invoke(context(shop, SARA), "get_customer_profile", {})).content)
    assert facts["name"] == "Sara Ahmadi"
    assert facts["last_order_on"] == "2026-11-17"
    assert facts["first_order_on"] == "2026-01-24"
    assert facts["days_since_last_order"] == 2
    assert facts["amount_spent"] == {"amount": "782.90", "currency": "EUR"}


async def test_customer_profile_of_a_stranger(shop: DemoShop) -> None:
    result = await invoke(context(shop, "stranger@example.com"), "get_customer_profile", {})
    assert result.outcome is CallOutcome.NOT_FOUND
    assert result.content == NO_PROFILE


# --- search_products -----------------------------------------------------------------------------


async def test_search_products_finds_the_linen_shirt_with_sizes_and_stock(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "linen shirt"})
    (shirt,) = json.loads(result.content)["products"]
    assert shirt["title"] == "Linen Shirt"
    assert shirt["available"] is True
    variants = {v["title"]: v for v in shirt["variants"]}
    assert variants["M / White"]["price"] == {"amount": "69.00", "currency": "EUR"}
    assert variants["L / Sand"]["available"] is False
    assert variants["L / Sand"]["in_stock"] == 0


async def test_search_products_shows_the_green_tote_out_of_stock(shop: DemoShop) -> None:
    # "green" is a variant, not in the title: the search falls back to "canvas tote".
    result = await invoke(context(shop, None), "search_products", {"query": "canvas tote green"})
    (tote,) = json.loads(result.content)["products"]
    green = next(v for v in tote["variants"] if v["title"] == "Green")
    assert green["available"] is False
    assert green["in_stock"] == 0
    assert tote["available"] is True


async def test_search_products_marks_a_sold_out_product_unavailable(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "cashmere scarf"})
    (scarf,) = json.loads(result.content)["products"]
    assert scarf["available"] is False


async def test_search_products_never_shows_a_draft(shop: DemoShop) -> None:
    result = await invoke(context(shop, None), "search_products", {"query": "linen blazer"})
    assert result.outcome is CallOutcome.NOT_FOUND
    assert result.content == NO_PRODUCTS
    linen = await invoke(context(shop, None), "search_products", {"query": "linen"})
    assert "Blazer" not in linen.content


# --- get_store_policies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "kinds", "phrase"),
    [
        ("refunds", ["REFUND_POLICY"], "original payment method"),
        ("returns", ["REFUND_POLICY"], "30 days of delivery"),
        ("shipping", ["SHIPPING_POLICY"], "Royal Mail"),
        ("contact", ["CONTACT_INFORMATION"], "support@demo-store.example"),
        (None, ["REFUND_POLICY", "SHIPPING_POLICY", "CONTACT_INFORMATION"], "Leipzig"),
    ],
)
async def test_store_policies_per_topic(
    shop: DemoShop, topic: str | None, kinds: list[str], phrase: str
) -> None:
    result = await invoke(context(shop, None), "get_store_policies", {"topic": topic})
    policies = json.loads(result.content)["policies"]
    assert [p["kind"] for p in policies] == kinds
    assert phrase in result.content
    assert all("<" not in p["text"] for p in policies)


class LongPoliciesShop(DemoShop):
    """The demo store with policies as long as real shops write them."""

    async def get_policies(self) -> list[Policy]:
        filler = " Further detail for an unusual case." * 80
        return [
            p.model_copy(update={"text": p.text + filler}) for p in await super().get_policies()
        ]


async def test_all_policies_arrive_as_valid_json_even_when_long() -> None:
    shop = LongPoliciesShop(now=ANCHOR)
    result = await invoke(context(shop, None), "get_store_policies", {"topic": None})
    policies = json.loads(result.content)["policies"]
    assert [p["kind"] for p in policies] == [
        "REFUND_POLICY",
        "SHIPPING_POLICY",
        "CONTACT_INFORMATION",
    ]
    assert "support@demo-store.example" in policies[2]["text"]


# --- Store changes: proposed, then executed after approval ---------------------------------------

WRITE_CASES = [
    ("cancel_order", OLIVER, "1002", OrderStatus.PROCESSING, OrderStatus.CANCELLED),
    ("request_return", LUCIA, "1003", OrderStatus.DELIVERED, OrderStatus.RETURN_IN_PROGRESS),
    ("change_shipping_address", OLIVER, "1002", OrderStatus.PROCESSING, OrderStatus.PROCESSING),
    ("refund_order", LENA, "1007", OrderStatus.DELIVERED, OrderStatus.REFUNDED),
]


@pytest.mark.parametrize(("name", "email", "number", "before", "after"), WRITE_CASES)
async def test_a_write_tool_proposes_and_changes_nothing_until_approved(
    shop: DemoShop,
    name: str,
    email: str,
    number: str,
    before: OrderStatus,
    after: OrderStatus,
) -> None:
    _, arguments = SAMPLE_CALLS[name]
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

    outcome = await registry.execute_approved(ctx, name, proposal.arguments)

    assert outcome.ok, outcome
    assert outcome.user_errors == ()
    changed = await order_of(shop, number, email)
    assert changed.status is after
    assert changed != original


async def test_an_approved_address_change_lands_on_the_order(shop: DemoShop) -> None:
    _, arguments = SAMPLE_CALLS["change_shipping_address"]
    ctx = context(shop, OLIVER)
    await invoke(ctx, "change_shipping_address", arguments)
    (proposal,) = journal_of(ctx).proposals
    await registry.execute_approved(ctx, "change_shipping_address", proposal.arguments)
    address = (await order_of(shop, "1002", OLIVER)).shipping_address
    assert address is not None
    assert (address.address1, address.zip, address.country_code) == (
        "4 Harbour View",
        "BS1 6XN",
        "GB",
    )


@pytest.mark.parametrize(
    ("name", "email", "arguments", "error"),
    [
        (
            "cancel_order",
            SARA,
            {"order_number": "#1001", "reason": "Too slow."},
            "orderId: Cannot cancel an order that has been fulfilled",
        ),
        (
            "request_return",
            SARA,
            {"order_number": "#1001", "reason": "Changed my mind.", "items": None},
            "no returnable items matched",
        ),
        (
            "change_shipping_address",
            SARA,
            {"order_number": "#1001", "reason": "Moved.", "new_address": NEW_ADDRESS},
            "shippingAddress: The shipping address cannot be changed after the order has shipped",
        ),
        (
            "refund_order",
            LENA,
            {"order_number": "#1013", "reason": "Refund again."},
            "no refundable transaction",
        ),
    ],
)
async def test_an_approved_change_the_store_refuses_returns_its_user_error(
    shop: DemoShop, name: str, email: str, arguments: dict[str, Any], error: str
) -> None:
    ctx = context(shop, email)
    assert (await invoke(ctx, name, arguments)).outcome is CallOutcome.PROPOSED
    (proposal,) = journal_of(ctx).proposals
    store_before = await every_order(shop)

    outcome = await registry.execute_approved(ctx, name, proposal.arguments)

    assert not outcome.ok
    assert outcome.user_errors == (error,)
    assert await every_order(shop) == store_before


async def test_no_proposal_for_someone_elses_order(shop: DemoShop) -> None:
    ctx = context(shop, LENA)
    others = await invoke(ctx, "refund_order", {"order_number": "#1002", "reason": "Refund me."})
    missing = await invoke(ctx, "refund_order", {"order_number": "#9999", "reason": "Refund me."})
    assert others.outcome is missing.outcome is CallOutcome.NOT_FOUND
    assert others.content == missing.content == ORDER_NOT_FOUND
    assert journal_of(ctx).proposals == []


async def test_approval_rechecks_the_order_belongs_to_the_sender(shop: DemoShop) -> None:
    _, arguments = SAMPLE_CALLS["cancel_order"]
    oliver = context(shop, OLIVER)
    await invoke(oliver, "cancel_order", arguments)
    (proposal,) = journal_of(oliver).proposals
    store_before = await every_order(shop)
    with pytest.raises(ToolMiss):
        await registry.execute_approved(context(shop, LENA), "cancel_order", proposal.arguments)
    with pytest.raises(PermissionError):
        await registry.execute_approved(context(shop, None), "cancel_order", proposal.arguments)
    with pytest.raises(LookupError):
        await registry.execute_approved(oliver, "get_order", {"order_number": "1002"})
    assert await every_order(shop) == store_before


# --- Unverified senders ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", [t.name for t in registry.all() if t.scope is Scope.SENDER])
async def test_an_unverified_sender_is_denied_every_sender_tool(shop: DemoShop, name: str) -> None:
    ctx = context(shop, None)
    store_before = await every_order(shop)
    result = await invoke(ctx, name, SAMPLE_CALLS[name][1])
    assert result.outcome is CallOutcome.DENIED
    assert result.content == DENIED_TEXT
    assert result.facts is None
    assert journal_of(ctx).proposals == []
    assert await every_order(shop) == store_before


@pytest.mark.parametrize("name", [t.name for t in registry.all()])
async def test_an_unverified_sender_sees_no_customer_data(shop: DemoShop, name: str) -> None:
    result = await invoke(context(shop, None), name, SAMPLE_CALLS[name][1])
    leaked = [value for value in customer_data(shop) if value in result.content]
    assert leaked == []
    emails = re.findall(r"[\w.+-]+@[\w.-]+", result.content)
    assert all(e.endswith("@demo-store.example") for e in emails), emails  # the store's own


async def test_an_unverified_sender_may_use_the_public_tools(shop: DemoShop) -> None:
    ctx = context(shop, None)
    offered = {t.name for t in registry.available(ctx)}
    assert offered == {"search_products", "get_store_policies"}
    for name in sorted(offered):
        assert (await invoke(ctx, name, SAMPLE_CALLS[name][1])).outcome is CallOutcome.OK


# --- Invalid arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments", "where"),
    [
        ("get_order", "{}", "order_number"),
        ("get_order", "not json at all", "arguments"),
        ("get_order", json.dumps({"order_number": "1" * 61}), "order_number"),
        ("get_order", json.dumps({"order_number": "1001", "email": LENA}), "email"),
        ("list_my_orders", json.dumps({"limit": 0}), "limit"),
        ("list_my_orders", json.dumps({"limit": 50}), "limit"),
        ("search_products", json.dumps({"query": ""}), "query"),
        ("get_store_policies", json.dumps({"topic": "warranty"}), "topic"),
        ("request_return", json.dumps({"order_number": "1003", "reason": "x"}), "items"),
        (
            "change_shipping_address",
            json.dumps(
                {
                    "order_number": "1002",
                    "reason": "Moved.",
                    "new_address": {**NEW_ADDRESS, "country_code": "Germany"},
                }
            ),
            "new_address.country_code",
        ),
    ],
)
async def test_invalid_arguments_get_one_line_and_no_traceback(
    shop: DemoShop, name: str, arguments: str, where: str
) -> None:
    ctx = context(shop, SARA)
    store_before = await every_order(shop)
    result = await invoke(ctx, name, arguments)
    assert result.outcome is CallOutcome.INVALID_ARGUMENTS
    assert result.content.startswith(f"Invalid arguments for {name}: {where}: ")
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


# --- The audit trail -----------------------------------------------------------------------------


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
