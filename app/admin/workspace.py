"""What staff do with any email: reply, save a draft, close, reopen, assign, add a note.

Like the decisions on drafts (`app.admin.review`), each action re-checks what it relies on when
it is made, claims its row with a conditional update (two people acting at once cause one
outcome) and writes an audit entry in the same transaction. A reply staff write goes through
the same verifier (`app.admin.composer`) and the same outbox as the service's drafts; when the
email has a draft, replying is approving that draft with the composer's text.
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import composer, review
from app.admin.reasons import CLOSE_WORDS
from app.admin.review import Blocked, Conflict, NotFound, Outcome, ReviewError
from app.admin.staff import Staff, audit
from app.admin.workspace_schemas import Member, NoteView
from app.config import Settings
from app.db.engine import Database
from app.db.models import Message, Reply, StaffUser, utcnow
from app.db.statuses import CloseReason, JobKind, MessageStatus, ReplyStatus
from app.db.stores import StoreMembership
from app.db.workspace import MessageNote
from app.jobs import queue
from app.replies import outbox
from app.replies.render import plain_text_html, reply_subject
from app.store.directory import StoreConfig

logger = logging.getLogger(__name__)

MAX_NOTE_CHARS = 5000
CLOSE_REASONS = (
    CloseReason.HANDLED_ELSEWHERE,
    CloseReason.SPAM,
    CloseReason.DUPLICATE,
    CloseReason.NO_REPLY_NEEDED,
)
"""The reasons staff choose from (a rejected draft closes the email by itself)."""
BUSY = frozenset({MessageStatus.RECEIVED, MessageStatus.READY, MessageStatus.PLANNED})
"""The service is still working on the email: wait for it before acting."""
REOPENABLE = frozenset({MessageStatus.CLOSED, MessageStatus.SKIPPED})
STAFF_TEMPLATE = "staff"


async def _message(session: AsyncSession, message_pk: int) -> Message:
    message = await session.get(Message, message_pk)
    if message is None:
        raise NotFound(f"no message {message_pk}")
    return message


async def pending_draft(session: AsyncSession, message_pk: int) -> Reply | None:
    """The email's draft waiting for staff, if it has one."""
    statement = (
        select(Reply)
        .where(Reply.message_id == message_pk, Reply.status == ReplyStatus.DRAFT)
        .order_by(Reply.id.desc())
        .limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def reply_to(
    db: Database,
    message_pk: int,
    *,
    staff: Staff,
    settings: Settings,
    store: StoreConfig,
    text: str,
    confirm_unverified: bool = False,
    revision: int | None = None,
) -> Outcome[ReplyStatus]:
    """Send what staff wrote to the email's sender, once it passes the verifier.

    With a draft waiting, this approves the draft with the text (`review.approve_draft`).
    """
    async with db.read() as session:
        message = await _message(session, message_pk)
        if message.status in BUSY:
            raise Conflict("the service is still working on this email: wait a moment")
        draft = await pending_draft(session, message_pk)
        evidence = await composer.evidence_of(session, message)
    if draft is not None:
        return await review.approve_draft(
            db,
            draft.id,
            staff=staff,
            settings=settings,
            store=store,
            text=text,
            confirm_unverified=confirm_unverified,
            revision=revision,
        )
    if not message.from_address:
        raise Blocked("there is no sender address to answer", problems=["no From address"])
    review.confirm_sender(evidence, confirm_unverified)
    final = composer.normalise(text)
    if problems := composer.size_problems(final):
        raise Blocked(problems[0], problems=problems)
    language = str((message.reply_plan or {}).get("language") or "en")
    checked = composer.candidate(
        subject=reply_subject(message.subject or "", language=language),
        text=final,
        html=None,
        language=language,
        template=STAFF_TEMPLATE,
        store=store,
    )
    problems = composer.check_reply(
        checked, to_address=message.from_address, evidence=evidence, settings=settings, store=store
    )
    if problems:
        raise Blocked("the reply did not pass the checks", problems=problems)
    async with db.write() as session:
        claimed = await session.execute(
            update(Message)
            .where(Message.id == message_pk, Message.status == message.status)
            .values(
                status=MessageStatus.ANSWERED,
                status_reason=f"answered by {staff.email}",
                closed_reason=None,
                closed_by=None,
                closed_at=None,
            )
        )
        if claimed.rowcount != 1 or await pending_draft(session, message_pk):  # type: ignore[attr-defined]
            raise Conflict("someone else acted on this email first: look at it again")
        in_reply_to, references = outbox.threading_for(message)
        reply = Reply(
            message_id=message_pk,
            conversation_id=message.conversation_id,
            from_address=store.support_email,
            to_address=message.from_address,
            subject=checked.subject,
            text_body=final,
            html_body=checked.html,
            language=language,
            template=STAFF_TEMPLATE,
            rfc_message_id=outbox.new_message_id(store.support_email),
            in_reply_to=in_reply_to,
            references=list(references),
            is_automated=False,
            status=ReplyStatus.QUEUED,
            decision="staff",
            decision_reasons=[],
            verification=[],
            author=staff.email,
            decided_by=staff.email,
            decided_at=utcnow(),
        )
        session.add(reply)
        await session.flush()
        await queue.enqueue(session, JobKind.SEND_REPLY, message_id=message_pk, reply_id=reply.id)
        audit(
            session,
            staff,
            "staff_reply",
            target_type="reply",
            target_id=reply.id,
            message_id=message_pk,
            detail={"confirmed_unverified": not evidence.sender_verified},
        )
    logger.info("staff reply queued", extra={"reply_id": reply.id})
    return Outcome(reply.id, ReplyStatus.QUEUED, {"message_id": message_pk})


async def save_draft(
    db: Database, reply_pk: int, *, staff: Staff, text: str, revision: int | None
) -> Outcome[ReplyStatus]:
    """Keep an edit of a draft without sending it; the draft's revision goes up by one.

    `revision` is the one staff started from (None: whatever it is now); saving over a newer
    revision is refused, so one colleague's edit never silently replaces another's.
    """
    final = composer.normalise(text)
    if problems := composer.size_problems(final):
        raise Blocked(problems[0], problems=problems)
    async with db.write() as session:
        reply = await session.get(Reply, reply_pk)
        if reply is None:
            raise NotFound(f"no reply {reply_pk}")
        if reply.status is not ReplyStatus.DRAFT:
            raise Conflict(f"this reply is {reply.status}, not a draft")
        review.check_revision(reply, reply.revision if revision is None else revision)
        current = reply.revision
        saved = await session.execute(
            update(Reply)
            .where(
                Reply.id == reply_pk,
                Reply.status == ReplyStatus.DRAFT,
                Reply.revision == current,
            )
            .values(
                text_body=final,
                html_body=plain_text_html(final, language=reply.language or "en"),
                revision=current + 1,
                revised_by=staff.email,
                revised_at=utcnow(),
            )
        )
        if saved.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("someone else changed this draft at the same moment: open it again")
        audit(
            session,
            staff,
            "save_draft",
            target_type="reply",
            target_id=reply_pk,
            message_id=reply.message_id,
            detail={"revision": current + 1},
        )
    return Outcome(reply_pk, ReplyStatus.DRAFT, {"revision": current + 1})


async def close(
    db: Database, message_pk: int, *, staff: Staff, reason: CloseReason
) -> Outcome[MessageStatus]:
    """Close the email without a reply; a waiting draft is set aside (nothing is sent)."""
    if reason not in CLOSE_REASONS:
        raise ReviewError(f"choose a reason: {', '.join(CLOSE_REASONS)}")
    async with db.write() as session:
        message = await _message(session, message_pk)
        if message.status is MessageStatus.CLOSED:
            raise Conflict("this email is already closed")
        if message.status in BUSY:
            raise Conflict("the service is still working on this email: wait a moment")
        now = utcnow()
        claimed = await session.execute(
            update(Message)
            .where(Message.id == message_pk, Message.status == message.status)
            .values(
                status=MessageStatus.CLOSED,
                status_reason=f"closed by {staff.email}: {CLOSE_WORDS[reason]}",
                closed_reason=reason,
                closed_by=staff.email,
                closed_at=now,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("someone else acted on this email first: look at it again")
        await session.execute(
            update(Reply)
            .where(Reply.message_id == message_pk, Reply.status == ReplyStatus.DRAFT)
            .values(
                status=ReplyStatus.REJECTED,
                decided_by=staff.email,
                decided_at=now,
                reject_reason=f"email closed: {CLOSE_WORDS[reason]}",
            )
        )
        audit(
            session,
            staff,
            "close",
            target_type="message",
            target_id=message_pk,
            message_id=message_pk,
            detail={"reason": reason.value, "was": message.status},
        )
    return Outcome(message_pk, MessageStatus.CLOSED, {"closed_reason": reason})


async def reopen(db: Database, message_pk: int, *, staff: Staff) -> Outcome[MessageStatus]:
    """Put a closed (or skipped) email back among those that need a person."""
    async with db.write() as session:
        message = await _message(session, message_pk)
        if message.status not in REOPENABLE:
            raise Conflict(f"a {message.status} email is not closed")
        claimed = await session.execute(
            update(Message)
            .where(Message.id == message_pk, Message.status == message.status)
            .values(
                status=MessageStatus.NEEDS_HUMAN,
                status_reason=f"reopened by {staff.email}",
                closed_reason=None,
                closed_by=None,
                closed_at=None,
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("someone else acted on this email first: look at it again")
        audit(
            session,
            staff,
            "reopen",
            target_type="message",
            target_id=message_pk,
            message_id=message_pk,
            detail={"was": message.status},
        )
    return Outcome(message_pk, MessageStatus.NEEDS_HUMAN, {"closed_reason": None})


async def members(session: AsyncSession, store_id: int) -> list[Member]:
    """The store's active staff, by name (whom an email can be assigned to)."""
    statement = (
        select(StaffUser.id, StaffUser.email, StaffUser.name)
        .join(StoreMembership, StoreMembership.staff_id == StaffUser.id)
        .where(StoreMembership.store_id == store_id, StaffUser.is_active.is_(True))
        .order_by(StaffUser.name, StaffUser.email)
    )
    return [Member(id=i, email=e, name=n) for i, e, n in (await session.execute(statement)).all()]


async def member(session: AsyncSession, store_id: int, staff_id: int | None) -> Member | None:
    """One member of the store (None: no such active member, or nobody asked)."""
    if staff_id is None:
        return None
    return next((m for m in await members(session, store_id) if m.id == staff_id), None)


async def assign(
    db: Database, message_pk: int, *, staff: Staff, assignee_id: int | None
) -> Member | None:
    """Assign the email to a member of the store, or to nobody (`assignee_id=None`)."""
    if staff.store_id is None:
        raise ReviewError("no store")
    async with db.write() as session:
        message = await _message(session, message_pk)
        assignee = await member(session, staff.store_id, assignee_id)
        if assignee_id is not None and assignee is None:
            raise ReviewError(f"staff member {assignee_id} does not work in this store")
        message.assigned_to_id = assignee.id if assignee else None
        message.assigned_at = utcnow() if assignee else None
        audit(
            session,
            staff,
            "assign" if assignee else "unassign",
            target_type="message",
            target_id=message_pk,
            message_id=message_pk,
            detail={"to": assignee.email if assignee else None},
        )
    return assignee


async def add_note(db: Database, message_pk: int, *, staff: Staff, text: str) -> NoteView:
    """An internal note on the email, for colleagues: never sent to anyone."""
    body = composer.normalise(text).strip()
    if not body:
        raise ReviewError("the note is empty")
    if len(body) > MAX_NOTE_CHARS:
        raise ReviewError(f"a note is at most {MAX_NOTE_CHARS} characters")
    async with db.write() as session:
        await _message(session, message_pk)
        note = MessageNote(message_id=message_pk, staff_id=staff.id, author=staff.email, body=body)
        session.add(note)
        await session.flush()
        audit(
            session,
            staff,
            "add_note",
            target_type="note",
            target_id=note.id,
            message_id=message_pk,
        )
        return NoteView.model_validate(note)


async def notes(session: AsyncSession, message_pk: int) -> list[NoteView]:
    """The email's notes, oldest first."""
    statement = (
        select(MessageNote).where(MessageNote.message_id == message_pk).order_by(MessageNote.id)
    )
    return [NoteView.model_validate(n) for n in (await session.execute(statement)).scalars()]
