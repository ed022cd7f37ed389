"""Whether a reply goes out now or waits as a draft: a pure function with its reasons.

A reply is sent on its own only when every condition holds; each one that does not becomes a
reason on the draft, so staff see exactly why it waited. The model's own intent and confidence
never suffice: an intent that may auto-send must also be grounded by what the reply shows from
this email's tool results (`GROUNDS`), so an "order_status" answer with no order fetched for the
verified sender waits for a person.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from app.agent.plan import Intent, ReplyPlan
from app.db.statuses import AutonomyLevel
from app.replies.commitments import REASON as COMMITMENT

if TYPE_CHECKING:
    from app.store.directory import StoreConfig

GROUNDS: Mapping[Intent, frozenset[str]] = {
    Intent.ORDER_STATUS: frozenset({"order"}),
    Intent.SHIPPING_PROBLEM: frozenset({"order"}),
    Intent.RETURN_OR_EXCHANGE: frozenset({"order", "policies"}),
    Intent.REFUND: frozenset({"order"}),
    Intent.CANCEL_ORDER: frozenset({"order"}),
    Intent.CHANGE_ADDRESS: frozenset({"order"}),
    Intent.BILLING: frozenset({"order"}),
    Intent.PRODUCT_QUESTION: frozenset({"products"}),
    Intent.STOCK_OR_PRICE: frozenset({"products"}),
    Intent.COMPLAINT: frozenset(),
    Intent.PRAISE_OR_FEEDBACK: frozenset(),
    Intent.HUMAN_REQUESTED: frozenset(),
    Intent.SPAM_OR_IRRELEVANT: frozenset(),
    Intent.OTHER: frozenset(),
}
"""For each intent, the kinds of facts (`Facts.kind`, as `RenderedReply.shown` names them) of
which the reply must show at least one before it may go out on its own; an empty set needs none.

Customer facts ("order") reach a reply only for a verified sender, from sender-scoped tools, so
"order" here means an order fetched for the verified sender. Every intent is listed (a test
checks it), so a new intent cannot auto-send without someone deciding what grounds it.
"""


SUPPRESSED = "suppression list"
"""How a draft's reason starts when its recipient gets no automated mail."""


class Action(StrEnum):
    """What happens to a reply."""

    SEND = "send"
    DRAFT = "draft"
    SKIP = "skip"
    """No reply at all (spam): the email is closed without an answer."""


@dataclass(frozen=True, kw_only=True)
class SendRules:
    """The send policy's settings (each store has its own)."""

    auto_send_intents: frozenset[Intent]
    min_confidence: float
    shadow_mode: bool

    @classmethod
    def from_store(cls, store: StoreConfig) -> SendRules:
        """A store's rules as configured (the default store's come from the environment).

        An intent name this version does not know never auto-sends; it is left out.
        """
        known = {intent.value: intent for intent in Intent}
        return cls(
            auto_send_intents=frozenset(
                known[name] for name in store.auto_send_intents if name in known
            ),
            min_confidence=store.auto_send_min_confidence,
            shadow_mode=store.shadow_mode,
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
    shown: Mapping[str, Sequence[str]],
    language_fallback: str | None = None,
    suppressed: str | None = None,
    level: AutonomyLevel = AutonomyLevel.AUTO,
) -> Decision:
    """Send only when the intent may auto-send, the plan is sure and clean, and nothing holds it.

    `shown` is what the rendered reply shows from this email's tool results, by kind
    (`RenderedReply.shown`); it is required so no caller can forget the grounding check.
    A verifier problem about a commitment in the model's paragraph becomes its own reason,
    starting "commitment in free text".

    `language_fallback` is the customer's language when the reply fell back to English because
    no catalog exists for it: a person decides whether an English answer will do.

    `suppressed` says why the recipient is on the store's suppression list (a hard bounce or a
    spam report): automated mail never goes to them, so the reply waits for a person.

    `level` is the intent's autonomy in the reply's language (`app.replies.autonomy`): below
    `auto` the reply waits, with the level as a reason. `auto_send_intents` stays the upper
    bound: an intent not in it is never sent, whatever its level.
    """
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
    else:
        if level is not AutonomyLevel.AUTO:
            reasons.append(f"autonomy: intent {plan.intent.value} is at {level.value}")
        reasons += _ungrounded(plan.intent, shown)
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
    if language_fallback is not None:
        reasons.append(
            f"language: no reply catalog for {language_fallback!r}, so the reply is in English"
        )
    reasons += [
        problem if problem.startswith(COMMITMENT) else f"verifier: {problem}"
        for problem in verification_problems
    ]
    reasons += [f"guard: {hold}" for hold in guard_holds]
    if suppressed is not None:
        reasons.append(f"{SUPPRESSED}: {suppressed}")
    if reasons:
        return Decision(Action.DRAFT, tuple(reasons))
    return Decision(Action.SEND, ())


def _ungrounded(intent: Intent, shown: Mapping[str, Sequence[str]]) -> list[str]:
    """The reason an intent is not grounded by the reply's tool results (none when it is)."""
    needed = GROUNDS.get(intent)
    if needed is None:
        return [f"intent {intent.value} has no grounding rule"]
    if not needed or any(shown.get(kind) for kind in needed):
        return []
    kinds = " or ".join(sorted(needed))
    return [f"intent {intent.value} is not grounded: no {kinds} in this email's tool results"]
