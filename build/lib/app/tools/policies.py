"""Store policies: refunds and returns, shipping, contact."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from app.store.models import PolicyKind
from app.tools.kit import Clue, OfflineHint, Scope, ToolArgs, ToolContext, ToolMiss, ToolSet, Topic

MAX_POLICY_CHARS = 1500
NO_POLICY = "The store has not published that policy. Do not invent one; hand over to a person."
tools = ToolSet()


class PolicyTopic(StrEnum):
    """What a policy question is about."""

    REFUNDS = "refunds"
    RETURNS = "returns"
    SHIPPING = "shipping"
    CONTACT = "contact"


_KINDS = {
    PolicyTopic.REFUNDS: {PolicyKind.REFUND},
    PolicyTopic.RETURNS: {PolicyKind.REFUND},
    PolicyTopic.SHIPPING: {PolicyKind.SHIPPING},
    PolicyTopic.CONTACT: {PolicyKind.CONTACT},
}


class PolicyText(BaseModel):
    """One policy, as text."""

    kind: PolicyKind
    title: str
    text: str
    url: str | None


class PolicyFacts(BaseModel):
    """The policies that answer a question."""

    policies: list[PolicyText]

    def summary(self) -> str:
        """One line for the audit log."""
        return ", ".join(p.kind.value for p in self.policies)


class GetStorePoliciesArgs(ToolArgs):
    """Which policy to get."""

    topic: PolicyTopic | None = Field(
        description="Which policy the question is about, or null for all of them."
    )


@tools.tool(
    scope=Scope.PUBLIC,
    offline=OfflineHint(topic=Topic.POLICY, args={"topic": Clue.POLICY_TOPIC}),
)
async def get_store_policies(ctx: ToolContext, args: GetStorePoliciesArgs) -> PolicyFacts:
    """Get the store's published policies as text: refunds and returns, shipping, contact."""
    wanted = _KINDS[args.topic] if args.topic else set().union(*_KINDS.values())
    policies = [p for p in await ctx.shop.get_policies() if p.kind in wanted]
    if not policies:
        raise ToolMiss(NO_POLICY)
    return PolicyFacts(
        policies=[
            PolicyText(kind=p.kind, title=p.title, text=p.text[:MAX_POLICY_CHARS], url=p.url)
            for p in policies
        ]
    )
