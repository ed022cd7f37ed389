"""Whether a reply goes out now or waits as a draft: a pure function with its reasons.

A reply is sent on its own only when every condition holds; each one that does not becomes a
reason on the draft, so staff see exactly why it waited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.agent.plan import Intent, ReplyPlan
from app.config import Settings


class Action(StrEnum):
    """What happens to a reply."""

    SEND = "send"
    DRAFT = "draft"
    SKIP = "skip"
    """No reply at all (spam): the email is closed without an answer."""


@dataclass(frozen=True, kw_only=True)
class SendRules:
    """The send policy's settings."""

    auto_send_intents: frozenset[Intent]
    min_confidence: float
    shadow_mode: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SendRules:
        """The rules as configured."""
        return cls(
            auto_send_intents=frozenset(settings.AUTO_SEND_INTENTS),
            min_confidence=settings.AUTO_SEND_MIN_CONFIDENCE,
            shadow_mode=settings.SHADOW_MODE,
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The action and every reason behind it (empty reasons only for SEND)."""

    action: Action
    reasons: tuple[str, ...]


def decide(
    plan: ReplyPlan,
    *,
    rules: SendRules,
    sender_verified: bool,
    verification_problems: list[str],
    guard_holds: list[str],
) -> Decision:
    """Send only when the intent may auto-send, the plan is sure and clean, and nothing holds it."""
    # A real customer mistaken for spam would never hear back: skip only when sure, and never
    # when a store change was proposed (closing the email would bury the proposal).
    if (
        plan.intent is Intent.SPAM_OR_IRRELEVANT
        and not plan.needs_human
        and not plan.proposals
        and plan.confidence >= rules.min_confidence
    ):
        return Decision(Action.SKIP, ("spam_or_irrelevant: closed without a reply",))
    reasons: list[str] = []
    if rules.shadow_mode:
        reasons.append("shadow mode: every reply is a draft")
    if plan.intent not in rules.auto_send_intents:
        reasons.append(f"intent {plan.intent.value} is not auto-sent")
    if plan.confidence < rules.min_confidence:
        reasons.append(f"confidence {plan.confidence:g} is below {rules.min_confidence:g}")
    if not sender_verified:
        reasons.append("sender is not verified")
    if plan.proposals:
        reasons.append(f"{len(plan.proposals)} store change(s) proposed for approval")
    if plan.needs_human:
        reasons.append(
            f"needs a person: {plan.handover_reason.value if plan.handover_reason else 'yes'}"
        )
    reasons += [f"verifier: {problem}" for problem in verification_problems]
    reasons += [f"guard: {hold}" for hold in guard_holds]
    if reasons:
        return Decision(Action.DRAFT, tuple(reasons))
    return Decision(Action.SEND, ())
