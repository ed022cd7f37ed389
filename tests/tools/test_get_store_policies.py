"""The worked example of "Adding a tool" in the README: one tool, its test."""

from __future__ import annotations

import json

import pytest

from app.store.demo import ANCHOR, DemoShop
from app.store.models import Policy, PolicyKind
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, MemoryJournal, ToolContext
from app.tools.policies import GetStorePoliciesArgs, PolicyTopic, get_store_policies
from tests.tools.calls import assert_facts_are_the_content, context, invoke


async def test_a_returns_question_gets_the_refund_policy_as_text() -> None:
    ctx = ToolContext(shop=DemoShop(now=ANCHOR), sender=None)
    facts = await get_store_policies(ctx, GetStorePoliciesArgs(topic=PolicyTopic.RETURNS))
    [policy] = facts.policies
    assert policy.kind is PolicyKind.REFUND
    assert "30 days of delivery" in policy.text
    assert "<p>" not in policy.text


async def test_through_the_registry_it_is_public_validated_and_audited() -> None:
    journal = MemoryJournal()
    ctx = ToolContext(shop=DemoShop(now=ANCHOR), sender=None, journal=journal)
    result = await tool_registry().invoke(ctx, "get_store_policies", {"topic": "shipping"})
    assert result.outcome is CallOutcome.OK
    assert [call.summary for call in journal.calls] == ["SHIPPING_POLICY"]
    wrong = await tool_registry().invoke(ctx, "get_store_policies", {"topic": "discounts"})
    assert wrong.outcome is CallOutcome.INVALID_ARGUMENTS


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
    assert_facts_are_the_content(result)
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
