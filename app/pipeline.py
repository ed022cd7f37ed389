"""The business process for one inbound email, top to bottom, as named steps.

1. Load the stored delivery, in the job claim's own transaction (it was acknowledged only after
   it was durably stored).
2. Parse and normalise it; an authentic email we cannot understand is quarantined for staff.
3. Route it to its store; the guards that need only the email (never answer machines, lists or
   ourselves; hold spam and mail with no clear sender); identity (DKIM/SPF aligned with From).
4. Agent (`app.planning`): for mail a person or the service will answer, one short unit of
   work opens the run and reads the customer's earlier emails in the thread; the tool loop
   then makes a `ReplyPlan` (intent, language, facts, proposals, handover).
5. Render: the plan and the tool results become a templated reply (HTML + text, the customer's
   language).
6. Verify: code checks every fact, link and address in the reply against the tool results.
7. File, in ONE unit of work after the model and tools return: thread the email, apply the
   reply caps, record every decision, the run and its trace, the plan, the policy's decision
   (send now, hold a draft for staff with the reasons, or close spam unanswered) and the reply
   row, `sending` if it goes out now.
8. Send inline (the provider's API or the log transport), then record the outcome and complete
   the job in one more unit of work. A send to retry becomes a `send_reply` job, which is
   claimed before inbound work.

An answered email therefore costs four transactions: claim + load, open the run, file, outcome.
Each is one hop to SQLite's writer thread (`Database.unit`); nothing slow runs inside one. The
`sending` row is committed before the request goes out, so a crash never sends a reply twice.
Each step's own time is stored on the message (`steps`), database time apart.

Everything after routing runs inside the email's store: its rows only, its settings
(`StoreConfig`: name, addresses, signature, send rules) and its own shop.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from app import metrics
from app.config import Settings
from app.db.engine import Database
from app.db.models import utcnow
from app.db.statuses import AutonomyLevel, JobKind, MessageStatus, ReplyStatus
from app.intake import messages
from app.intake.classify import (
    AlreadyFiled,
    Classification,
    Loaded,
    NotAnswered,
    Reading,
    classify_in,
    enter_store,
    file_not_answered,
    load_inbound,
    read_delivery,
)
from app.intake.messages import StepClock
from app.jobs import queue
from app.jobs.queue import Lease
from app.planning import Held, Planned, Units, plan_reply
from app.providers import Providers
from app.replies import autonomy, deliveries, outbox
from app.replies.policy import Action, SendRules, decide
from app.store.directory import StoreDirectory

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Filed:
    """Where filing left an email, and its reply (with the email to send now, if any)."""

    status: MessageStatus
    reply: outbox.FiledReply | None = None


@dataclass(frozen=True, kw_only=True)
class _Answered:
    """The email a reply answers, as threading needs it, from what the pipeline holds."""

    message_id: str
    in_reply_to: list[str] | None
    references: list[str] | None
    has_synthetic_message_id: bool
    replies_to_conversation_id: int | None


async def handle_inbound_email(
    message_pk: int,
    *,
    db: Database,
    settings: Settings,
    providers: Providers,
    stores: StoreDirectory | None = None,
    last_chance: bool = True,
    loaded: Loaded | None = None,
    lease: Lease | None = None,
) -> MessageStatus:
    """Process one stored inbound email to a sent reply, a draft, or a skip.

    Idempotent: only the unit of work that moves the email out of `received` files anything,
    so a retried job starts again or finds the email filed. `loaded` is what the job's claim
    already read (else it is read here); with a `lease`, the send's outcome completes the job
    in the same unit of work. With OUTAGE_MODE=retry, an email planned while a provider was
    down is put back for later (`RetryLater`) unless this is its `last_chance`; then it is
    drafted as "provider down".
    """
    stores = stores or StoreDirectory(db, settings)
    units = Units(db, StepClock())
    if loaded is None:
        loaded = await units.run(lambda s: load_inbound(s, message_pk), everywhere=True)
    if loaded.stored is None:
        return await _resume(units, loaded)
    reading = await read_delivery(
        loaded.stored,
        store_id=loaded.store_id,
        settings=settings,
        stores=stores,
        clock=units.clock,
        http=providers.http_get,
        last_chance=last_chance,
    )
    if isinstance(reading, NotAnswered):
        return await _not_answered(units, loaded, reading)
    units.db = db.for_store(reading.store.id)
    planned: Planned | Held | None = None
    if reading.plannable:
        planned = await plan_reply(
            units,
            loaded,
            reading,
            settings=settings,
            providers=providers,
            stores=stores,
            may_defer=settings.OUTAGE_MODE == "retry" and not last_chance,
        )
    units.db = db
    filed = await file_email(units, loaded, reading, planned, settings=settings)
    if filed.reply is not None and filed.reply.email is not None:
        units.db = db.for_store(reading.store.id)
        await send_inline(units, filed.reply, providers=providers, settings=settings, lease=lease)
    return filed.status


async def _resume(units: Units, loaded: Loaded) -> MessageStatus:
    """An email filed already: end a send an earlier attempt left unrecorded, never resend it."""
    reply_pk, store_id = loaded.sending_reply, loaded.store_id
    if reply_pk is not None and store_id is not None:
        units.db = units.db.for_store(store_id)
        await units.run(lambda s: outbox.resolve_interrupted_in(s, reply_pk))
    return loaded.status


async def _not_answered(units: Units, loaded: Loaded, outcome: NotAnswered) -> MessageStatus:
    try:
        status = await units.run(lambda s: file_not_answered(s, loaded, outcome), everywhere=True)
    except AlreadyFiled:
        return MessageStatus.QUARANTINED
    metrics.record_email(status.value, None)
    logger.warning(
        "inbound email not answered",
        extra={"message_pk": loaded.message_pk, "status": status.value, "reason": outcome.reason},
    )
    return status


async def file_email(
    units: Units,
    loaded: Loaded,
    reading: Reading,
    planned: Planned | Held | None,
    *,
    settings: Settings,
) -> Filed:
    """Step 7: classification, run, plan, decision and reply, in one unit of work.

    The steps' record written here holds the database time up to this unit; the unit itself
    is in the metrics.
    """
    steps = units.clock.record()
    try:
        filed = await units.run(
            lambda s: _file_in(s, loaded, reading, planned, settings=settings, steps=steps),
            everywhere=True,
        )
    except AlreadyFiled:
        logger.warning("email filed by another worker", extra={"message_pk": loaded.message_pk})
        return Filed(status=loaded.status)
    intent = planned.outcome.plan.intent.value if isinstance(planned, Planned) else None
    metrics.record_email(filed.status.value, intent)
    logger.info(
        "inbound email filed",
        extra={
            "message_pk": loaded.message_pk,
            "status": filed.status.value,
            "reply_id": filed.reply.id if filed.reply else None,
        },
    )
    return filed


def _file_in(
    session: Session,
    loaded: Loaded,
    reading: Reading,
    planned: Planned | Held | None,
    *,
    settings: Settings,
    steps: list[dict[str, Any]],
) -> Filed:
    enter_store(session, loaded, reading.store.id)
    if loaded.rerun is not None:
        # Staff asked for a new plan: the email keeps its thread and its guards' decisions.
        classified = Classification.of_rerun(loaded.status, loaded.rerun)
        steps = [*loaded.rerun.steps, *steps]
    else:
        classified = classify_in(session, loaded, reading, settings=settings)
        # The guards' step decided on the email alone; the reply caps, checked here, end it.
        decided = classified.status.value
        steps = [{**s, "outcome": decided} if s["step"] == "guards" else s for s in steps]
    values = classified.values | {"steps": steps}
    filed = Filed(status=classified.status)
    if classified.status in (MessageStatus.READY, MessageStatus.NEEDS_HUMAN):
        if isinstance(planned, Held):
            filed = Filed(status=MessageStatus.NEEDS_HUMAN)
            values["status_reason"] = planned.reason
        elif isinstance(planned, Planned):
            planned.keep_in(session)
            plan = planned.outcome.plan
            values |= {"reply_plan": plan.model_dump(mode="json"), "intent": plan.intent.value}
            started = time.perf_counter()
            filed, values["status_reason"] = _decide_in(
                session, loaded, reading, planned, classified, settings=settings
            )
            # The policy is code, timed on its own; the database entry stays the last one.
            ms = round((time.perf_counter() - started) * 1000, 2)
            policy = {"step": "policy", "ms": ms, "outcome": filed.status.value}
            values["steps"] = [*steps[:-1], policy, steps[-1]]
        values["status"] = filed.status
    if not messages.update_if(session, loaded.message_pk, loaded.status, values):
        raise AlreadyFiled(f"message {loaded.message_pk} was filed by another worker")
    return filed


def _decide_in(
    session: Session,
    loaded: Loaded,
    reading: Reading,
    planned: Planned,
    classified: Classification,
    *,
    settings: Settings,
) -> tuple[Filed, str | None]:
    """The policy's decision and the reply it files: none (spam), a draft, or one to send now.

    The intent's autonomy in the reply's language is read (and, at `auto`, demoted if its
    measures say so) here, in the filing unit of work: `off` files no reply at all.
    """
    store, rendered = reading.store, planned.rendered
    sender = reading.email.from_
    intent = planned.outcome.plan.intent.value
    level = autonomy.level_in(
        session, store.id, intent, rendered.language, autonomy.Rules.from_settings(settings)
    )
    if level is AutonomyLevel.OFF:
        reason = f"autonomy: intent {intent} in {rendered.language!r} is off, a person writes"
        return Filed(status=MessageStatus.NEEDS_HUMAN), reason
    # The gate of the suppression list is here, in code: no model output can reach past it.
    suppression = (
        deliveries.suppression_in(session, store.id, sender.address)
        if sender is not None and sender.address
        else None
    )
    rules = SendRules.from_store(store)
    policy = partial(
        decide,
        planned.outcome.plan,
        sender_verified=reading.identity.verified,
        verification_problems=planned.problems,
        guard_holds=classified.holds,
        shown=rendered.shown,
        language_fallback=rendered.requested_language if rendered.language_fallback else None,
        suppressed=deliveries.describe(suppression) if suppression is not None else None,
    )
    decision = policy(rules=rules, level=level)
    # Shadow mode (the intent's, or the store's): what the policy would have done at `auto`.
    shadow = None
    if decision.action is Action.DRAFT and (level is AutonomyLevel.SHADOW or rules.shadow_mode):
        at_auto = policy(rules=replace(rules, shadow_mode=False), level=AutonomyLevel.AUTO)
        shadow = at_auto.action.value
    reasons = list(decision.reasons)
    if decision.action is Action.SKIP:
        return Filed(status=MessageStatus.SKIPPED), "; ".join(reasons)
    if sender is None or not sender.address:
        reason = "; ".join(["no sender address to answer", *reasons])[:2000]
        return Filed(status=MessageStatus.NEEDS_HUMAN), reason
    send = decision.action is Action.SEND
    if send and not outbox.store_active_in(session, store.id):
        send, reasons = False, [*reasons, f"the store {store.slug!r} stopped sending"]
    delivery = loaded.stored.delivery if loaded.stored is not None else None
    email = reading.email
    reply = outbox.file_reply_in(
        session,
        outbox.NewReply(
            message_pk=loaded.message_pk,
            conversation_id=classified.conversation_id,
            to_address=sender.address,
            answered=_Answered(
                message_id=delivery.message_id if delivery else "",
                in_reply_to=list(email.in_reply_to),
                references=list(email.references),
                has_synthetic_message_id=bool(delivery and delivery.has_synthetic_message_id),
                replies_to_conversation_id=classified.replies_to_conversation_id,
            ),
            rendered=rendered,
            decision=Action.SEND.value if send else Action.DRAFT.value,
            reasons=reasons,
            problems=planned.problems,
            idempotency_key=f"auto:{loaded.message_pk}:{planned.run_pk}",
            sender=outbox.ReplyFrom(address=store.support_email, name=store.name),
            send_now=send,
        ),
    )
    if shadow is not None:
        autonomy.record_shadow_in(session, reply.id, shadow)
    if send:
        return Filed(status=MessageStatus.ANSWERED, reply=reply), None
    return Filed(status=MessageStatus.DRAFTED, reply=reply), "; ".join(reasons)[:2000]


async def send_inline(
    units: Units,
    reply: outbox.FiledReply,
    *,
    providers: Providers,
    settings: Settings,
    lease: Lease | None,
) -> ReplyStatus:
    """Step 8: send an auto-approved reply now; record the outcome and complete the job.

    A send the provider deferred is retried by a `send_reply` job (sends are claimed first);
    the inbound job itself is done.
    """
    if reply.email is None:
        raise ValueError(f"reply {reply.id} is not to be sent now")
    attempt = await outbox.attempt_send(
        providers.mail,
        reply.email,
        attempts=1,
        max_attempts=settings.JOB_MAX_ATTEMPTS,
        last_chance=False,
    )
    try:
        outcome, error, _ = await units.run(lambda s: _outcome_in(s, reply, attempt, lease))
    except BaseException:
        outbox.log_unrecorded(reply.id, attempt)
        raise
    if lease is not None:
        lease.completed = True
    outbox.log_delivery(reply.id, outcome, 1, error)
    return outcome


def _outcome_in(
    session: Session, reply: outbox.FiledReply, attempt: outbox.Attempt, lease: Lease | None
) -> tuple[ReplyStatus, str | None, queue.RetryLater | None]:
    outcome, error, retry = outbox.record_outcome_in(session, reply.id, attempt)
    if retry is not None:
        queue.add_job(
            session,
            JobKind.SEND_REPLY,
            message_id=reply.message_pk,
            reply_id=reply.id,
            run_after=utcnow() + (retry.delay or timedelta(seconds=outbox.RETRY_BASE_SECONDS)),
        )
    if lease is not None and not lease.complete_in(session):
        logger.warning("job lease lost before completion", extra={"job_id": lease.job_id})
    return outcome, error, retry
