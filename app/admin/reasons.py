"""Why an email waits for a person, in plain words, and what the customer wrote first.

The service records its reasons as codes and policy phrases (`guard: no_single_sender`,
`verifier: recipient: ...`, `needs a person: sensitive_topic`): exact, and kept as they are in
the trace. Staff deciding what to do next need a sentence instead, so the queue and the email
page say it here. Only fixed sentences and the email's own From header are used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.agent.plan import HandoverReason
from app.agent.reading import read_email
from app.db.models import Message, Reply
from app.db.statuses import CloseReason, MessageStatus, ReplyStatus

FIRST_LINE_CHARS = 160
UNVERIFIED = "sender could not be verified — reply only if you are sure who this is"
INJECTION = "the email tries to instruct the assistant"

_GUARDS = {
    "spam_score": "the mail provider scored it as likely spam",
    "sender_reply_cap": "this customer already got as many automatic replies as allowed",
    "thread_reply_cap": "this conversation already got as many automatic replies as allowed",
    "auto_response_suppressed": "the sender asked not to get automatic replies",
    "auto_submitted": "an automatic message (no person wrote it)",
    "autoreply_header": "an automatic reply from the customer's mail program",
    "vacation": "an out-of-office reply",
    "precedence": "bulk or list mail",
    "list_mail": "a newsletter or mailing-list message",
    "null_sender": "a delivery notice (no return address)",
    "report": "a delivery or read report",
    "bounce": "a bounce: one of our emails could not be delivered",
    "robot_sender": "sent by a robot address (no-reply, postmaster...)",
    "own_address": "sent from one of our own addresses",
    "own_domain": "sent from our own domain",
    "too_many_hops": "a mail loop (too many relays)",
}
_HANDOVERS = {
    HandoverReason.ANGER: "the customer sounds upset",
    HandoverReason.LEGAL_THREAT: "the email mentions legal action",
    HandoverReason.PERSON_REQUESTED: "the customer asked for a person",
    HandoverReason.SENSITIVE_TOPIC: "a sensitive topic the assistant does not answer alone",
    HandoverReason.LOW_CONFIDENCE: "the assistant was not sure what is asked",
    HandoverReason.CAP_HIT: "the automatic reply limit was reached",
    HandoverReason.PROVIDER_DOWN: "the AI provider did not answer",
    HandoverReason.MODEL_ERROR: "the AI model failed on this email",
}
_FAILED_SENDS = {
    ReplyStatus.DEAD: "the reply could not be delivered: the provider refused it for good",
    ReplyStatus.UNKNOWN: "the reply may not have gone out: check before sending it again",
    ReplyStatus.FAILED: "sending the reply failed; it is being retried",
}
CLOSE_WORDS = {
    CloseReason.HANDLED_ELSEWHERE: "handled elsewhere",
    CloseReason.SPAM: "spam",
    CloseReason.DUPLICATE: "a duplicate",
    CloseReason.NO_REPLY_NEEDED: "no reply needed",
    CloseReason.DRAFT_REJECTED: "the draft was rejected",
}


def first_line(text: str | None) -> str:
    """The customer's first real line: a bare greeting ("Hi,") is skipped when more follows."""
    lines = [" ".join(line.split()) for line in (text or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith(">")]
    for line in lines:
        if not (len(line.split()) <= 3 and line.endswith((",", "!"))):
            return _cut(line)
    return _cut(lines[0]) if lines else ""


def _cut(line: str) -> str:
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 1] + "…"


def plain_reasons(message: Message, reply: Reply | None) -> list[str]:
    """Why the email is where it is, most important first (empty: nothing to explain)."""
    reasons: list[str] = []
    if reply is not None and reply.status in _FAILED_SENDS:
        reasons.append(_FAILED_SENDS[reply.status])
    if message.status is MessageStatus.CLOSED and message.closed_reason:
        by = f" (closed by {message.closed_by})" if message.closed_by else ""
        reasons.append(f"closed: {CLOSE_WORDS.get(message.closed_reason, 'closed')}{by}")
    if message.status is MessageStatus.QUARANTINED:
        why = f": {message.status_reason}" if message.status_reason else ""
        reasons.append(f"quarantined — the service could not read or place this email{why}")
    reasons += _guard_reasons(message)
    if message.status in (MessageStatus.DRAFTED, MessageStatus.NEEDS_HUMAN):
        reasons += _plan_reasons(message)
        if not message.sender_verified:
            reasons.append(UNVERIFIED)
        if reply is not None and reply.status is ReplyStatus.DRAFT:
            reasons += _draft_reasons(reply.decision_reasons or [])
    return list(dict.fromkeys(reasons))


def _guard_reasons(message: Message) -> list[str]:
    found: list[str] = []
    for decision in _objects(message.guard_decisions):
        code = str(decision.get("code", ""))
        if code == "no_single_sender":
            shown = message.from_header or "no From address at all"
            found.append(f"the From address looks forged (shows as {shown})")
        elif code in _GUARDS:
            found.append(_GUARDS[code])
    return found


def _plan_reasons(message: Message) -> list[str]:
    plan = message.reply_plan or {}
    handover = plan.get("handover_reason")
    if not handover:
        return []
    if handover == HandoverReason.SENSITIVE_TOPIC and _manipulative(message):
        return [INJECTION]
    try:
        return [_HANDOVERS[HandoverReason(handover)]]
    except ValueError:
        return [f"needs a person: {handover}"]


def _manipulative(message: Message) -> bool:
    return read_email(message.subject or "", message.clean_text or message.text or "").manipulative


def _draft_reasons(decision_reasons: Iterable[Any]) -> list[str]:
    found: list[str] = []
    for reason in map(str, decision_reasons):
        if reason.startswith("verifier:"):
            found.append("the draft says something the store's data does not back: see the checks")
        elif "store change" in reason:
            found.append("a store change waits for approval")
        elif reason.startswith("intent ") and reason.endswith("is not auto-sent"):
            found.append("this kind of question is always checked by a person")
        elif reason.startswith("confidence"):
            found.append("the assistant was not sure of its answer")
        elif reason.startswith("shadow mode"):
            found.append("shadow mode: every reply waits for a person")
        elif reason.startswith("language:"):
            found.append("no reply templates in the customer's language: the draft is in English")
    return found


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value or [] if isinstance(item, dict)]
