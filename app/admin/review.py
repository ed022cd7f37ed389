"""What support staff do with the service's work: approve, edit, reject, re-run, act on proposals.

Every decision re-checks what it relies on at the moment it is made (the draft is still a
draft, the edited text passes the verifier, the proposal is still pending, the order still
belongs to the sender), claims the row with a conditional update so two people clicking at once
cause one outcome, and writes an audit entry in the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import composer
from app.admin.composer import word_edit_distance
from app.admin.shops import NO_SHOP
from app.admin.staff import Staff, audit
from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message, ProposedAction, Reply, utcnow
from app.db.statuses import (
    CloseReason,
    JobKind,
    JobStatus,
    MessageStatus,
    ProposalStatus,
    RejectCategory,
    ReplyStatus,
)
from app.intake import messages
from app.jobs import queue
from app.mail.guards import Verdict
from app.store.directory import StoreConfig, default_store_config
from app.store.protocol import Shop, ShopError
from app.tools import tool_registry
from app.tools.kit.context import MemoryJournal, Sender, ToolContext, ToolMiss

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = composer.MAX_REPLY_CHARS
MAX_REASON_CHARS = 1000


class ReviewError(Exception):
    """A staff action that cannot be done as asked; `status` is the HTTP status to answer."""

    status = 400

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class NotFound(ReviewError):
    """No such record."""

    status = 404


class Conflict(ReviewError):
    """The record is no longer in a state that allows the action (someone was faster)."""

    status = 409


class Blocked(ReviewError):
    """The action would send something the checks refuse."""

    status = 422


class NeedsConfirmation(Conflict):
    """Sending to a sender who could not be verified: staff must say they are sure first."""


class Revised(Conflict):
    """Someone saved an edit of the draft since it was opened: show the new text, ask again."""

    def __init__(self, message: str, *, revision: int, text: str, by: str | None) -> None:
        super().__init__(message, problems=[f"the draft is now at revision {revision}"])
        self.revision, self.text, self.by = revision, text, by


def confirm_sender(evidence: composer.Evidence, confirmed: bool) -> None:
    """Refuse to send to an unverified sender until staff confirmed they know who it is."""
    if not evidence.sender_verified and not confirmed:
        raise NeedsConfirmation(
            composer.UNVERIFIED_QUESTION, problems=["confirm_unverified is not set"]
        )


def check_revision(reply: Reply, revision: int | None) -> None:
    """Refuse to approve a draft whose text changed since staff opened it (revision `revision`).

    Without a revision, only a draft nobody has edited may be approved.
    """
    if revision == reply.revision or (revision is None and reply.revision == 0):
        return
    who = reply.revised_by or "someone"
    raise Revised(
        f"{who} changed this draft since you opened it: read the new text and approve again",
        revision=reply.revision,
        text=reply.text_body or "",
        by=reply.revised_by,
    )


S = TypeVar("S", MessageStatus, ReplyStatus, ProposalStatus, JobStatus)


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S]):
    """The state a record is in after a staff action."""

    id: int
    status: S
    detail: dict[str, Any]


async def approve_draft(
    db: Database,
    reply_pk: int,
    *,
    staff: Staff,
    settings: Settings,
    store: StoreConfig | None = None,
    text: str | None = None,
    confirm_unverified: bool = False,
    revision: int | None = None,
) -> Outcome[ReplyStatus]:
    """Send a draft as it is, or with `text` as staff edited it, after checking it again.

    `store` is the draft's store: its name and signature are words the reply may use, and its
    addresses are never a recipient. A draft to an unverified sender needs `confirm_unverified`;
    a draft someone saved an edit of needs the `revision` staff saw (`check_revision`).
    """
    async with db.read() as session:
        reply, message = await _draft_and_message(session, reply_pk)
        evidence = await composer.evidence_of(session, message)
    check_revision(reply, revision)
    confirm_sender(evidence, confirm_unverified)
    original = reply.text_body or ""
    final = original if text is None else composer.normalise(text)
    if problems := composer.size_problems(final):
        raise Blocked(
            f"the reply is {'empty' if not final.strip() else 'too long'}", problems=problems
        )
    edited = final != original
    store = store or default_store_config(settings)
    language = reply.language or "en"
    checked = composer.candidate(
        subject=reply.subject or "",
        text=final,
        html=None if edited else reply.html_body or "",
        language=language,
        template=reply.template or "",
        store=store,
    )
    html_body = checked.html
    problems = composer.check_reply(
        checked, to_address=reply.to_address, evidence=evidence, settings=settings, store=store
    )
    if problems:
        raise Blocked("the reply did not pass the checks", problems=problems)
    distance = word_edit_distance(reply.generated_text or original, final)
    async with db.write() as session:
        claimed = await session.execute(
            update(Reply)
            .where(
                Reply.id == reply_pk,
                Reply.status == ReplyStatus.DRAFT,
                Reply.revision == reply.revision,
            )
            .values(
                status=ReplyStatus.QUEUED,
                text_body=final,
                html_body=html_body,
                is_automated=False,
                decided_by=staff.email,
                decided_at=utcnow(),
                edit_distance=distance,
                verification=[],
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this draft was already decided, or changed, by someone else")
        await queue.enqueue(session, JobKind.SEND_REPLY, message_id=message.id, reply_id=reply_pk)
        row = await messages.get_message(session, message.id)
        if row is not None:
            row.status = MessageStatus.ANSWERED
            row.status_reason = f"approved by {staff.email}"
        audit(
            session,
            staff,
            "edit_and_send" if edited else "approve_draft",
            target_type="reply",
            target_id=reply_pk,
            message_id=message.id,
            detail={"edit_distance": distance, "before": original, "after": final}
            if edited
            else {"edit_distance": distance},
        )
    logger.info("draft approved", extra={"reply_id": reply_pk, "edited": edited})
    return Outcome(reply_pk, ReplyStatus.QUEUED, {"edit_distance": distance})


async def reject_draft(
    db: Database,
    reply_pk: int,
    *,
    staff: Staff,
    reason: str,
    category: RejectCategory | None = None,
) -> Outcome[ReplyStatus]:
    """Reject a draft: nothing is sent, and the email is closed as handled by staff.

    `category` (a wrong fact, tone...) is what the autonomy rules count (`app.replies.autonomy`).
    """
    reason = composer.normalise(reason).strip()[:MAX_REASON_CHARS]
    if not reason:
        raise ReviewError("say why the draft is rejected")
    async with db.write() as session:
        reply, message = await _draft_and_message(session, reply_pk)
        claimed = await session.execute(
            update(Reply)
            .where(Reply.id == reply_pk, Reply.status == ReplyStatus.DRAFT)
            .values(
                status=ReplyStatus.REJECTED,
                decided_by=staff.email,
                decided_at=utcnow(),
                reject_reason=reason,
                reject_category=category.value if category else None,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this draft was already decided by someone else")
        message.status = MessageStatus.CLOSED
        message.status_reason = f"draft rejected by {staff.email}: {reason}"
        message.closed_reason = CloseReason.DRAFT_REJECTED
        message.closed_by = staff.email
        message.closed_at = utcnow()
        audit(
            session,
            staff,
            "reject_draft",
            target_type="reply",
            target_id=reply.id,
            message_id=message.id,
            detail={"reason": reason},
        )
    return Outcome(reply_pk, ReplyStatus.REJECTED, {"reason": reason})


RERUNNABLE = frozenset({MessageStatus.DRAFTED, MessageStatus.NEEDS_HUMAN, MessageStatus.CLOSED})


async def rerun_agent(db: Database, message_pk: int, *, staff: Staff) -> Outcome[MessageStatus]:
    """Plan the email again with the current prompt and tools; a pending draft is superseded."""
    async with db.write() as session:
        message = await messages.get_message(session, message_pk)
        if message is None:
            raise NotFound(f"no message {message_pk}")
        if message.status not in RERUNNABLE or message.reply_plan is None:
            raise Conflict(f"a {message.status} email cannot be re-run")
        await session.execute(
            update(Reply)
            .where(Reply.message_id == message_pk, Reply.status == ReplyStatus.DRAFT)
            .values(
                status=ReplyStatus.REJECTED,
                decided_by=staff.email,
                decided_at=utcnow(),
                reject_reason="superseded by a re-run of the agent",
            )
        )
        held = any(d.get("verdict") == Verdict.HOLD.value for d in message.guard_decisions or [])
        message.status = MessageStatus.NEEDS_HUMAN if held else MessageStatus.READY
        message.status_reason = f"re-run requested by {staff.email}"
        message.reply_plan = None
        message.intent = None
        await queue.enqueue(session, JobKind.PROCESS_INBOUND, message_id=message_pk)
        audit(
            session,
            staff,
            "rerun_agent",
            target_type="message",
            target_id=message_pk,
            message_id=message_pk,
        )
    return Outcome(message_pk, message.status, {})


async def approve_proposal(
    db: Database, proposal_pk: int, *, staff: Staff, shop: Shop | None
) -> Outcome[ProposalStatus]:
    """Carry out a proposed store change through its own tool, for the email's sender only.

    `shop` is the proposal's store's Shopify connection; without one nothing is claimed.
    """
    async with db.write() as session:
        proposal = await session.get(ProposedAction, proposal_pk)
        if proposal is None:
            raise NotFound(f"no proposal {proposal_pk}")
        if shop is None:
            raise Conflict(NO_SHOP)
        message = (
            await messages.get_message(session, proposal.message_id)
            if proposal.message_id
            else None
        )
        if message is None or not message.sender_verified or not message.from_address:
            raise Conflict("store changes run only for a verified sender's own order")
        claimed = await session.execute(
            update(ProposedAction)
            .where(
                ProposedAction.id == proposal_pk, ProposedAction.status == ProposalStatus.PENDING
            )
            .values(status=ProposalStatus.APPROVED, decided_by=staff.email, decided_at=utcnow())
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this proposal was already decided")
        tool, arguments, sender = proposal.tool, dict(proposal.arguments), message.from_address
        audit(
            session,
            staff,
            "approve_proposal",
            target_type="proposal",
            target_id=proposal_pk,
            message_id=message.id,
            detail={"tool": tool, "arguments": arguments},
        )
    ctx = ToolContext(shop=shop, sender=Sender(email=sender), journal=MemoryJournal())
    result: dict[str, Any]
    try:
        action = await tool_registry().execute_approved(ctx, tool, arguments)
        result = action.model_dump(mode="json")
        status = ProposalStatus.EXECUTED if action.ok else ProposalStatus.FAILED
    except ToolMiss as exc:
        result, status = (
            {"ok": False, "summary": str(exc), "user_errors": []},
            ProposalStatus.FAILED,
        )
    except ShopError as exc:
        summary = f"the store did not answer: {type(exc).__name__}"
        result = {"ok": False, "summary": summary, "user_errors": []}
        status = ProposalStatus.FAILED
    except Exception as exc:
        # The proposal is already claimed: record the failure rather than leave it "approved".
        logger.exception("approved store change failed", extra={"proposal_id": proposal_pk})
        summary = f"the change failed: {type(exc).__name__}"
        result = {"ok": False, "summary": summary, "user_errors": []}
        status = ProposalStatus.FAILED
    async with db.write() as session:
        row = await session.get(ProposedAction, proposal_pk)
        if row is not None:
            row.status = status
            row.result = result
        audit(
            session,
            staff,
            f"proposal_{status}",
            target_type="proposal",
            target_id=proposal_pk,
            message_id=message.id,
            detail=result,
        )
    logger.info("proposal carried out", extra={"proposal_id": proposal_pk, "status": status})
    return Outcome(proposal_pk, status, result)


async def reject_proposal(
    db: Database, proposal_pk: int, *, staff: Staff, reason: str
) -> Outcome[ProposalStatus]:
    """Decline a proposed store change; nothing happens in the store."""
    reason = composer.normalise(reason).strip()[:MAX_REASON_CHARS]
    if not reason:
        raise ReviewError("say why the store change is declined")
    async with db.write() as session:
        proposal = await session.get(ProposedAction, proposal_pk)
        if proposal is None:
            raise NotFound(f"no proposal {proposal_pk}")
        claimed = await session.execute(
            update(ProposedAction)
            .where(
                ProposedAction.id == proposal_pk, ProposedAction.status == ProposalStatus.PENDING
            )
            .values(
                status=ProposalStatus.REJECTED,
                decided_by=staff.email,
                decided_at=utcnow(),
                result={"reason": reason},
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("this proposal was already decided")
        audit(
            session,
            staff,
            "reject_proposal",
            target_type="proposal",
            target_id=proposal_pk,
            message_id=proposal.message_id,
            detail={"reason": reason},
        )
    return Outcome(proposal_pk, ProposalStatus.REJECTED, {"reason": reason})


async def _draft_and_message(session: AsyncSession, reply_pk: int) -> tuple[Reply, Message]:
    reply = await session.get(Reply, reply_pk)
    if reply is None:
        raise NotFound(f"no reply {reply_pk}")
    if reply.status != ReplyStatus.DRAFT:
        raise Conflict(f"this reply is {reply.status}, not a draft")
    message = await messages.get_message(session, reply.message_id)
    if message is None:
        raise NotFound(f"reply {reply_pk} has no message")
    return reply, message


async def retry_dead_job(db: Database, job_pk: int, *, staff: Staff) -> Outcome[JobStatus]:
    """Put a dead-lettered job back in the queue (after the cause was fixed).

    A dead send job's reply gets a fresh set of attempts. A reply whose outcome is unknown is
    not touched here: `resend_reply` is the deliberate way to send that again.
    """
    async with db.write() as session:
        job = await session.get(Job, job_pk)
        if job is None:
            raise NotFound(f"no job {job_pk}")
        revived = await session.execute(
            update(Job)
            .where(Job.id == job_pk, Job.status == JobStatus.DEAD)
            .values(
                status=JobStatus.QUEUED,
                attempts=0,
                run_after=utcnow(),
                finished_at=None,
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        if revived.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"job {job_pk} is {job.status}, not dead")
        if job.reply_id is not None:
            await session.execute(
                update(Reply)
                .where(Reply.id == job.reply_id, Reply.status.in_(RETRYABLE_REPLIES))
                .values(status=ReplyStatus.QUEUED, attempts=0, last_error=None)
            )
        audit(
            session,
            staff,
            "retry_job",
            target_type="job",
            target_id=job_pk,
            message_id=job.message_id,
            detail={"kind": job.kind, "last_error": job.last_error},
        )
    return Outcome(job_pk, JobStatus.QUEUED, {})


RETRYABLE_REPLIES = (ReplyStatus.DEAD, ReplyStatus.FAILED)


async def resend_reply(db: Database, reply_pk: int, *, staff: Staff) -> Outcome[ReplyStatus]:
    """Send a reply whose delivery is unknown or dead again, after staff checked it did not arrive.

    This is the one way a reply can go out twice, so it is never automatic and always audited.
    """
    async with db.write() as session:
        reply = await session.get(Reply, reply_pk)
        if reply is None:
            raise NotFound(f"no reply {reply_pk}")
        claimed = await session.execute(
            update(Reply)
            .where(
                Reply.id == reply_pk,
                Reply.status.in_((ReplyStatus.UNKNOWN, ReplyStatus.DEAD)),
            )
            .values(status=ReplyStatus.QUEUED, attempts=0)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"this reply is {reply.status}; only unknown or dead replies are resent")
        await queue.enqueue(
            session, JobKind.SEND_REPLY, message_id=reply.message_id, reply_id=reply_pk
        )
        audit(
            session,
            staff,
            "resend_reply",
            target_type="reply",
            target_id=reply_pk,
            message_id=reply.message_id,
            detail={"was": reply.status, "last_error": reply.last_error},
        )
    return Outcome(reply_pk, ReplyStatus.QUEUED, {})
