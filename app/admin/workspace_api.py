"""The workspace's JSON API: reply to, close, reopen, assign and annotate any email; presence.

Each route is the API twin of a button on the email page, under the same rules: a reply goes
through the verifier and the outbox; a reply to an unverified sender is refused (409) until the
request says `"confirm_unverified": true`; approving a draft someone else edited is refused
(409) until the request carries the draft's current `revision`. Writes need the `review` scope
(a read-only token is refused by the router's auth dependency).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.admin import presence, review, workspace
from app.admin.api import REFUSALS, decide
from app.admin.auth import CurrentStore, StoreDb, require_api_staff
from app.admin.ids import RowId
from app.admin.schemas import Problem
from app.admin.staff import Staff
from app.admin.workspace_schemas import (
    AssignmentOutcome,
    ClosedOutcome,
    DraftSaved,
    NoteView,
    PresenceList,
    SentOutcome,
)
from app.db.models import Message
from app.db.statuses import CloseReason, PresenceKind
from app.state import AppState, get_state

router = APIRouter(
    prefix="/admin/api",
    tags=["admin"],
    dependencies=[Depends(require_api_staff)],
    responses={401: {"model": Problem, "description": "No valid API token or staff session."}},
)
State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_api_staff)]


class ReplyBody(BaseModel):
    """What staff write; with a draft waiting, this is the draft's final text."""

    text: str = Field(min_length=1, max_length=review.MAX_REPLY_CHARS)
    confirm_unverified: bool = False
    """Send even though the sender could not be verified (staff know who this is)."""
    revision: int | None = Field(default=None, ge=0)
    """The draft's revision the text was written from (needed once someone saved an edit)."""


class SaveBody(BaseModel):
    """A draft edit to keep without sending."""

    text: str = Field(min_length=1, max_length=review.MAX_REPLY_CHARS)
    revision: int | None = Field(default=None, ge=0)


class CloseBody(BaseModel):
    """Why the email is closed without a reply."""

    reason: CloseReason


class AssignBody(BaseModel):
    """Whom to assign the email to (null: nobody)."""

    staff_id: int | None


class NoteBody(BaseModel):
    """An internal note: never sent to the customer."""

    text: str = Field(min_length=1, max_length=workspace.MAX_NOTE_CHARS)


class PresenceBody(BaseModel):
    """What the caller is doing with the email (sent every ~20 s while it is open)."""

    kind: PresenceKind = PresenceKind.VIEWING


@router.post("/messages/{message_pk}/reply", response_model=SentOutcome, responses=REFUSALS)
async def reply(
    message_pk: RowId,
    body: ReplyBody,
    state: State,
    db: StoreDb,
    store: CurrentStore,
    staff: CurrentStaff,
) -> SentOutcome | JSONResponse:
    """Send staff's text to the email's sender (checked by the verifier first)."""
    outcome = await decide(
        workspace.reply_to(
            db,
            message_pk,
            staff=staff,
            settings=state.settings,
            store=store,
            text=body.text,
            confirm_unverified=body.confirm_unverified,
            revision=body.revision,
        )
    )
    if isinstance(outcome, JSONResponse):
        return outcome
    state.notify_worker()
    return SentOutcome(id=outcome.id, status=outcome.status, message_id=message_pk)


@router.post("/replies/{reply_pk}/save", response_model=DraftSaved, responses=REFUSALS)
async def save_draft(
    reply_pk: RowId, body: SaveBody, db: StoreDb, staff: CurrentStaff
) -> DraftSaved | JSONResponse:
    """Keep an edit of a draft without sending it (its revision goes up)."""
    outcome = await decide(
        workspace.save_draft(db, reply_pk, staff=staff, text=body.text, revision=body.revision)
    )
    if isinstance(outcome, JSONResponse):
        return outcome
    return DraftSaved(id=outcome.id, status=outcome.status, revision=outcome.detail["revision"])


@router.post("/messages/{message_pk}/close", response_model=ClosedOutcome, responses=REFUSALS)
async def close(
    message_pk: RowId, body: CloseBody, db: StoreDb, staff: CurrentStaff
) -> ClosedOutcome | JSONResponse:
    """Close the email without a reply (a waiting draft is set aside)."""
    outcome = await decide(workspace.close(db, message_pk, staff=staff, reason=body.reason))
    if isinstance(outcome, JSONResponse):
        return outcome
    return ClosedOutcome(id=outcome.id, status=outcome.status, closed_reason=body.reason)


@router.post("/messages/{message_pk}/reopen", response_model=ClosedOutcome, responses=REFUSALS)
async def reopen(
    message_pk: RowId, db: StoreDb, staff: CurrentStaff
) -> ClosedOutcome | JSONResponse:
    """Put a closed or skipped email back among those that need action."""
    outcome = await decide(workspace.reopen(db, message_pk, staff=staff))
    if isinstance(outcome, JSONResponse):
        return outcome
    return ClosedOutcome(id=outcome.id, status=outcome.status, closed_reason=None)


@router.post("/messages/{message_pk}/assign", response_model=AssignmentOutcome, responses=REFUSALS)
async def assign(
    message_pk: RowId, body: AssignBody, db: StoreDb, staff: CurrentStaff
) -> AssignmentOutcome | JSONResponse:
    """Assign the email to a member of the store, or to nobody."""
    try:
        assignee = await workspace.assign(db, message_pk, staff=staff, assignee_id=body.staff_id)
    except review.ReviewError as exc:
        return refusal(exc)
    return AssignmentOutcome(id=message_pk, assigned_to=assignee)


@router.post("/messages/{message_pk}/notes", response_model=NoteView, responses=REFUSALS)
async def add_note(
    message_pk: RowId, body: NoteBody, db: StoreDb, staff: CurrentStaff
) -> NoteView | JSONResponse:
    """Add an internal note (shown on the email and in its trace; never sent)."""
    try:
        return await workspace.add_note(db, message_pk, staff=staff, text=body.text)
    except review.ReviewError as exc:
        return refusal(exc)


@router.post("/messages/{message_pk}/presence", responses={404: REFUSALS[404]})
async def heartbeat(
    message_pk: RowId, body: PresenceBody, db: StoreDb, staff: CurrentStaff
) -> PresenceList:
    """Say the caller is viewing or editing the email; answers who else is on it."""
    async with db.read() as session:
        if await session.get(Message, message_pk) is None:
            raise HTTPException(status_code=404, detail=f"no message {message_pk}")
    await presence.heartbeat(db, message_pk, staff=staff, kind=body.kind)
    async with db.read() as session:
        others = await presence.present(session, [message_pk], besides=staff.id)
    return PresenceList(others.get(message_pk, []))


def refusal(exc: review.ReviewError) -> JSONResponse:
    """A refused action as its JSON answer."""
    content = Problem(detail=str(exc), problems=exc.problems)
    return JSONResponse(status_code=exc.status, content=content.model_dump())
