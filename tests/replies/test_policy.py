"""The send policy: a reply goes out on its own only when every condition holds, and each one
that does not is a reason on the draft; spam is closed without a reply only when the model is sure.
"""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, replace
from typing import Any

import pytest

from app.agent.plan import HandoverReason, Intent, ReplyPlan
from app.replies.policy import GROUNDS, Action, Decision, SendRules, decide
from app.store.directory import default_store_config
from tests.conftest import SettingsFactory

RULES = SendRules(
    auto_send_intents=frozenset({Intent.ORDER_STATUS, Intent.STOCK_OR_PRICE}),
    min_confidence=0.8,
    shadow_mode=False,
)
SPAM_CLOSED = "spam_or_irrelevant: closed without a reply"
GROUNDED = {"order": ["#1001"], "order_status": ["shipped"], "products": ["Linen shirt"]}
"""What a reply shows when an order and a product were fetched: every auto-send intent grounded."""


def plan(
    intent: Intent = Intent.ORDER_STATUS,
    *,
    confidence: float = 0.95,
    needs_human: bool = False,
    handover_reason: HandoverReason | None = None,
    proposals: tuple[int, ...] = (),
) -> ReplyPlan:
    return ReplyPlan(
        intent=intent,
        confidence=confidence,
        language="en",
        template=intent.value,
        needs_human=needs_human,
        handover_reason=handover_reason,
        proposals=proposals,
    )


def decide_with(
    reply_plan: ReplyPlan | None = None,
    *,
    rules: SendRules = RULES,
    sender_verified: bool = True,
    verification_problems: list[str] | None = None,
    guard_holds: list[str] | None = None,
    language_fallback: str | None = None,
    shown: dict[str, list[str]] | None = None,
    suppressed: str | None = None,
) -> Decision:
    return decide(
        reply_plan or plan(),
        rules=rules,
        sender_verified=sender_verified,
        verification_problems=verification_problems or [],
        guard_holds=guard_holds or [],
        shown=GROUNDED if shown is None else shown,
        language_fallback=language_fallback,
        suppressed=suppressed,
    )


def shadow() -> SendRules:
    return SendRules(
        auto_send_intents=RULES.auto_send_intents,
        min_confidence=RULES.min_confidence,
        shadow_mode=True,
    )


# --- Send --------------------------------------------------------------------------------


def test_a_sure_clean_reply_to_a_verified_sender_is_sent_with_no_reasons() -> None:
    assert decide_with() == Decision(Action.SEND, ())


@pytest.mark.parametrize("intent", sorted(RULES.auto_send_intents))
def test_every_auto_send_intent_may_be_sent(intent: Intent) -> None:
    assert decide_with(plan(intent)).action is Action.SEND


def test_confidence_exactly_at_the_threshold_is_enough() -> None:
    assert decide_with(plan(confidence=0.8)) == Decision(Action.SEND, ())


# --- Each reason on its own --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"rules": shadow()}, "shadow mode: every reply is a draft"),
        ({"reply_plan": plan(Intent.REFUND)}, "intent refund is not auto-sent"),
        ({"reply_plan": plan(confidence=0.79)}, "confidence 0.79 is below 0.8"),
        ({"reply_plan": plan(confidence=0.0)}, "confidence 0 is below 0.8"),
        ({"sender_verified": False}, "sender is not verified"),
        ({"reply_plan": plan(proposals=(12,))}, "1 store change(s) proposed for approval"),
        ({"reply_plan": plan(proposals=(12, 13))}, "2 store change(s) proposed for approval"),
        (
            {"reply_plan": plan(needs_human=True, handover_reason=HandoverReason.LEGAL_THREAT)},
            "needs a person: legal_threat",
        ),
        ({"reply_plan": plan(needs_human=True)}, "needs a person: yes"),
        (
            {"verification_problems": ["link: evil.example is not an allowed host"]},
            "verifier: link: evil.example is not an allowed host",
        ),
        ({"guard_holds": ["reply_cap_sender"]}, "guard: reply_cap_sender"),
        (
            {"language_fallback": "pt-BR"},
            "language: no reply catalog for 'pt-BR', so the reply is in English",
        ),
        (
            {"suppressed": "sara@example.com bounced hard on 2026-12-06 10:00 UTC"},
            "suppression list: sara@example.com bounced hard on 2026-12-06 10:00 UTC",
        ),
    ],
)
def test_each_unmet_condition_alone_makes_a_draft_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    assert decide_with(**changes) == Decision(Action.DRAFT, (reason,))


def test_every_verifier_problem_and_guard_hold_is_its_own_reason() -> None:
    decision = decide_with(
        verification_problems=["amount 9.99 EUR is not in this email's tool results", "b"],
        guard_holds=["auto_response_suppressed", "reply_cap_thread"],
    )

    assert decision == Decision(
        Action.DRAFT,
        (
            "verifier: amount 9.99 EUR is not in this email's tool results",
            "verifier: b",
            "guard: auto_response_suppressed",
            "guard: reply_cap_thread",
        ),
    )


def test_reasons_accumulate_in_a_fixed_order() -> None:
    decision = decide_with(
        plan(
            Intent.CANCEL_ORDER,
            confidence=0.5,
            needs_human=True,
            handover_reason=HandoverReason.ANGER,
            proposals=(4,),
        ),
        rules=shadow(),
        sender_verified=False,
        verification_problems=["recipient: the sender is not verified"],
        guard_holds=["spam_score"],
        language_fallback="ar",
    )

    assert decision.action is Action.DRAFT
    assert decision.reasons == (
        "shadow mode: every reply is a draft",
        "intent cancel_order is not auto-sent",
        "confidence 0.5 is below 0.8",
        "sender is not verified",
        "1 store change(s) proposed for approval",
        "needs a person: anger",
        "language: no reply catalog for 'ar', so the reply is in English",
        "verifier: recipient: the sender is not verified",
        "guard: spam_score",
    )


def test_shadow_mode_drafts_even_a_perfect_reply() -> None:
    assert decide_with(rules=shadow()).action is Action.DRAFT


def test_an_empty_auto_send_list_drafts_everything() -> None:
    rules = SendRules(auto_send_intents=frozenset(), min_confidence=0.0, shadow_mode=False)

    for intent in Intent:
        if intent is Intent.SPAM_OR_IRRELEVANT:
            continue
        assert decide_with(plan(intent), rules=rules) == Decision(
            Action.DRAFT, (f"intent {intent.value} is not auto-sent",)
        )


# --- Grounding: the model's intent alone never sends ---------------------------------------


def test_an_order_status_reply_with_no_order_fetched_is_a_draft() -> None:
    # The model is sure it answered an order question; the tool results show no order.
    decision = decide_with(plan(Intent.ORDER_STATUS, confidence=1.0), shown={})

    assert decision == Decision(
        Action.DRAFT,
        ("intent order_status is not grounded: no order in this email's tool results",),
    )


def test_an_order_list_alone_does_not_ground_an_order_status_answer() -> None:
    shown = {"orders": ["#1001", "#1002"], "policies": ["shipping"]}

    assert decide_with(plan(Intent.ORDER_STATUS), shown=shown).action is Action.DRAFT


def test_a_product_answer_with_no_product_found_is_a_draft() -> None:
    decision = decide_with(plan(Intent.STOCK_OR_PRICE), shown={"products": []})

    assert decision.reasons == (
        "intent stock_or_price is not grounded: no products in this email's tool results",
    )


@pytest.mark.parametrize(
    ("intent", "shown"),
    [
        (Intent.ORDER_STATUS, {"order": ["#1001"]}),
        (Intent.STOCK_OR_PRICE, {"products": ["Linen shirt"]}),
        (Intent.PRODUCT_QUESTION, {"products": ["Linen shirt"]}),
        (Intent.RETURN_OR_EXCHANGE, {"policies": ["refund"]}),
        (Intent.PRAISE_OR_FEEDBACK, {}),
    ],
)
def test_an_intent_grounded_by_what_the_reply_shows_may_be_sent(
    intent: Intent, shown: dict[str, list[str]]
) -> None:
    rules = SendRules(auto_send_intents=frozenset(Intent), min_confidence=0.8, shadow_mode=False)

    assert decide_with(plan(intent), rules=rules, shown=shown) == Decision(Action.SEND, ())


def test_an_intent_that_is_not_auto_sent_gets_no_grounding_reason() -> None:
    decision = decide_with(plan(Intent.REFUND), shown={})

    assert decision.reasons == ("intent refund is not auto-sent",)


def test_every_intent_has_a_grounding_rule() -> None:
    assert set(GROUNDS) == set(Intent)


def test_shown_is_a_required_argument() -> None:
    parameter = inspect.signature(decide).parameters["shown"]

    assert parameter.default is inspect.Parameter.empty
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


# --- Commitments -------------------------------------------------------------------------


def test_a_commitment_in_the_paragraph_is_its_own_draft_reason() -> None:
    problems = [
        "commitment in free text: refund (refund, approved)",
        "amount 5000 EUR in the model's paragraph is not in this email's tool results",
    ]

    decision = decide_with(verification_problems=problems)

    assert decision == Decision(
        Action.DRAFT,
        (
            "commitment in free text: refund (refund, approved)",
            "verifier: amount 5000 EUR in the model's paragraph is not in this email's tool "
            "results",
        ),
    )


# --- Spam ----------------------------------------------------------------------------------


def test_spam_the_model_is_sure_of_is_closed_without_a_reply() -> None:
    assert decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.9)) == Decision(
        Action.SKIP, (SPAM_CLOSED,)
    )


def test_spam_at_exactly_the_threshold_is_closed() -> None:
    assert decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.8)).action is Action.SKIP


def test_sure_spam_is_closed_whatever_else_would_hold_a_reply() -> None:
    decision = decide_with(
        plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.99),
        rules=shadow(),
        sender_verified=False,
        verification_problems=["link: evil.example is not an allowed host"],
        guard_holds=["reply_cap_sender"],
    )

    assert decision == Decision(Action.SKIP, (SPAM_CLOSED,))


def test_spam_with_low_confidence_waits_for_a_person() -> None:
    decision = decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.6))

    assert decision == Decision(
        Action.DRAFT,
        ("intent spam_or_irrelevant is not auto-sent", "confidence 0.6 is below 0.8"),
    )


def test_spam_the_model_handed_over_waits_for_a_person() -> None:
    decision = decide_with(
        plan(
            Intent.SPAM_OR_IRRELEVANT,
            confidence=0.99,
            needs_human=True,
            handover_reason=HandoverReason.SENSITIVE_TOPIC,
        )
    )

    assert decision.action is Action.DRAFT
    assert "needs a person: sensitive_topic" in decision.reasons


def test_spam_with_a_proposed_store_change_waits_for_a_person() -> None:
    decision = decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.99, proposals=(5,)))

    assert decision.action is Action.DRAFT
    assert "1 store change(s) proposed for approval" in decision.reasons


def test_spam_is_never_sent_even_if_listed_for_auto_send() -> None:
    rules = SendRules(
        auto_send_intents=frozenset({Intent.SPAM_OR_IRRELEVANT}),
        min_confidence=0.8,
        shadow_mode=False,
    )

    assert decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.9), rules=rules).action is (
        Action.SKIP
    )
    assert decide_with(plan(Intent.SPAM_OR_IRRELEVANT, confidence=0.5), rules=rules).action is (
        Action.DRAFT
    )


# --- Rules from settings -------------------------------------------------------------------


def test_rules_come_from_settings(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        AUTO_SEND_INTENTS="order_status, refund",
        AUTO_SEND_MIN_CONFIDENCE=0.65,
        SHADOW_MODE=True,
    )

    rules = SendRules.from_store(default_store_config(settings))

    assert rules == SendRules(
        auto_send_intents=frozenset({Intent.ORDER_STATUS, Intent.REFUND}),
        min_confidence=0.65,
        shadow_mode=True,
    )


def test_a_store_intent_this_version_does_not_know_never_auto_sends(
    make_settings: SettingsFactory,
) -> None:
    store = replace(
        default_store_config(make_settings()),
        auto_send_intents=frozenset({"refund", "teleport_parcel"}),
        auto_send_min_confidence=0.9,
        shadow_mode=False,
    )

    rules = SendRules.from_store(store)

    assert rules == SendRules(
        auto_send_intents=frozenset({Intent.REFUND}), min_confidence=0.9, shadow_mode=False
    )


def test_default_rules_auto_send_only_answers_from_facts(make_settings: SettingsFactory) -> None:
    rules = SendRules.from_store(default_store_config(make_settings()))

    assert rules.auto_send_intents == {
        Intent.ORDER_STATUS,
        Intent.STOCK_OR_PRICE,
        Intent.PRODUCT_QUESTION,
    }
    assert rules.min_confidence == 0.8
    assert rules.shadow_mode is False


def test_rules_and_decisions_cannot_be_changed_after_the_fact() -> None:
    decision = decide_with()

    with pytest.raises(FrozenInstanceError):
        RULES.shadow_mode = True  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        decision.action = Action.DRAFT  # type: ignore[misc]
