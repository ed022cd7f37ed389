"""The worked example of "Adding a tool" in the README: one tool, its test."""

from __future__ import annotations

from app.store.demo import ANCHOR, DemoShop
from app.store.models import PolicyKind
from app.tools import registry
from app.tools.context import CallOutcome, MemoryJournal, ToolContext
from app.tools.policies import GetStorePoliciesArgs, PolicyTopic, get_store_policies


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
    result = await registry.invoke(ctx, "get_store_policies", {"topic": "shipping"})
    assert result.outcome is CallOutcome.OK
    assert [call.summary for call in journal.calls] == ["SHIPPING_POLICY"]
    wrong = await registry.invoke(ctx, "get_store_policies", {"topic": "discounts"})
    assert wrong.outcome is CallOutcome.INVALID_ARGUMENTS
