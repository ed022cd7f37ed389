"""The agent's answer for one email: a typed plan the renderer turns into a reply.

The model chooses the intent, the language, which tool results to show and one short
paragraph; code fills in everything else (the template, the proposals, the facts themselves).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_PARAGRAPH_CHARS = 600


class Intent(StrEnum):
    """What the customer wants, from a fixed list (each has a reply template)."""

    ORDER_STATUS = "order_status"
    SHIPPING_PROBLEM = "shipping_problem"
    RETURN_OR_EXCHANGE = "return_or_exchange"
    REFUND = "refund"
    CANCEL_ORDER = "cancel_order"
    CHANGE_ADDRESS = "change_address"
    PRODUCT_QUESTION = "product_question"
    STOCK_OR_PRICE = "stock_or_price"
    BILLING = "billing"
    COMPLAINT = "complaint"
    PRAISE_OR_FEEDBACK = "praise_or_feedback"
    HUMAN_REQUESTED = "human_requested"
    SPAM_OR_IRRELEVANT = "spam_or_irrelevant"
    OTHER = "other"


class HandoverReason(StrEnum):
    """Why a person must look at this email before anything is sent."""

    ANGER = "anger"
    LEGAL_THREAT = "legal_threat"
    PERSON_REQUESTED = "person_requested"
    SENSITIVE_TOPIC = "sensitive_topic"
    LOW_CONFIDENCE = "low_confidence"
    CAP_HIT = "cap_hit"
    PROVIDER_DOWN = "provider_down"
    MODEL_ERROR = "model_error"


class ReplyPlan(BaseModel):
    """What to answer and how; produced by the agent, checked by code before anything is sent."""

    model_config = ConfigDict(frozen=True)

    intent: Intent
    confidence: float = Field(ge=0.0, le=1.0)
    language: str
    """BCP 47 tag of the customer's language, e.g. "en", "fa", "de"."""
    template: str
    """Which reply template to render (derived from the intent by code)."""
    facts: tuple[str, ...] = ()
    """Ids of the tool calls whose results the reply shows."""
    paragraph: str = Field(default="", max_length=MAX_PARAGRAPH_CHARS)
    """One short free-text paragraph; untrusted, escaped and checked before use."""
    needs_human: bool = False
    handover_reason: HandoverReason | None = None
    proposals: tuple[int, ...] = ()
    """Ids of store changes proposed while answering (waiting for staff)."""
    offline: bool = False
    """Made by the offline rule-based model rather than a language model."""

    def with_handover(self, reason: HandoverReason) -> ReplyPlan:
        """The same plan, marked for a person with `reason` (the first reason given stays)."""
        return self.model_copy(
            update={"needs_human": True, "handover_reason": self.handover_reason or reason}
        )


def handover_plan(
    reason: HandoverReason,
    *,
    intent: Intent = Intent.OTHER,
    language: str = "en",
    offline: bool = False,
) -> ReplyPlan:
    """A plan that only says "a person will answer this"."""
    return ReplyPlan(
        intent=intent,
        confidence=0.0,
        language=language,
        template=intent.value,
        needs_human=True,
        handover_reason=reason,
        offline=offline,
    )
