"""The email page's workspace forms: reply (or save the draft), close, reopen, assign, note.

Every post answers with a 303 (post/redirect/get): after sending or closing, to the next email
of the view staff came from, with a link back to the one just handled; after a refusal, back to
the email, the answer and what staff typed carried by `app.admin.flash`. The routes need a
staff session and the CSRF field (`require_page_staff` on the router). The workspace script is
served here too, as a file of this service (the page's CSP allows scripts from itself only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.admin import review, views, workspace
from app.admin.auth import CurrentStore, StoreDb, require_page_staff
from app.admin.flash import Flash, keep
from app.admin.ids import RowId
from app.admin.screens import not_found
from app.admin.staff import Staff
from app.admin.templating import SECURITY_HEADERS, TEMPLATES
from app.admin.workspace_screens import inbox_view
from app.db.engine import Database
from app.db.models import Message
from app.db.statuses import CloseReason
from app.state import AppState, get_state

HOME = "/admin"
SCRIPT = TEMPLATES / "workspace.js"

router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)
State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_page_staff)]
View = Annotated[str, Form(max_length=32)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def email_url(message_pk: int, view: str, **more: str | int) -> str:
    """An email's page, in the view staff came from."""
    query = urlencode({"view": inbox_view(view).value, **more})
    return f"{HOME}/messages/{message_pk}?{query}"


async def onwards(db: StoreDb, staff: Staff, message_pk: int, view: str, done: str) -> str:
    """Where approve-and-next goes: the view's next email (with a way back), else the view."""
    chosen = inbox_view(view)
    async with db.read() as session:
        following = await views.neighbour(session, chosen, staff.id, message_pk)
    if following is None:
        return f"{HOME}?{urlencode({'view': chosen.value, 'done': done})}"
    return email_url(following, view, done=done, back=message_pk)


async def missing(request: Request, db: Database, staff: Staff, message_pk: int) -> Response | None:
    """The 404 page when there is no such email in this store (before anything else is said)."""
    async with db.read() as session:
        if await session.get(Message, message_pk) is not None:
            return None
    return not_found(request, staff, f"There is no email {message_pk}.")


def refused(
    message_pk: int, view: str, exc: review.ReviewError, *, text: str | None = None
) -> RedirectResponse:
    """Back to the email, with the refusal (and what staff typed) across the redirect."""
    ask = ""
    if isinstance(exc, review.NeedsConfirmation):
        ask = "unverified"
    elif isinstance(exc, review.Revised):
        ask = "revised"
    response = _see_other(email_url(message_pk, view))
    keep(
        response,
        Flash(
            message_pk=message_pk,
            message=str(exc),
            problems=exc.problems,
            status=exc.status,
            text=text,
            ask=ask,
        ),
    )
    return response


@router.post("/messages/{message_pk}/reply", response_model=None)
async def reply(
    request: Request,
    message_pk: RowId,
    state: State,
    db: StoreDb,
    store: CurrentStore,
    staff: CurrentStaff,
    text: Annotated[str, Form(max_length=review.MAX_REPLY_CHARS)] = "",
    action: Annotated[str, Form(max_length=8)] = "send",
    confirm_unverified: Annotated[str, Form(max_length=8)] = "",
    revision: Annotated[int | None, Form(ge=0)] = None,
    draft_id: Annotated[int | None, Form(ge=1)] = None,
    view: View = "",
) -> Response:
    """Send the composer's text (a draft's final text, or a new reply), or save the draft."""
    if (absent := await missing(request, db, staff, message_pk)) is not None:
        return absent
    try:
        if action == "save":
            if draft_id is None:
                raise review.ReviewError("there is no draft to save: send the reply instead")
            await workspace.save_draft(db, draft_id, staff=staff, text=text, revision=revision)
            return _see_other(email_url(message_pk, view, done="saved"))
        await workspace.reply_to(
            db,
            message_pk,
            staff=staff,
            settings=state.settings,
            store=store,
            text=text,
            confirm_unverified=bool(confirm_unverified),
            revision=revision,
        )
    except review.ReviewError as exc:
        return refused(message_pk, view, exc, text=text)
    state.notify_worker()
    return _see_other(await onwards(db, staff, message_pk, view, "sent"))


@router.post("/messages/{message_pk}/close", response_model=None)
async def close(
    request: Request,
    message_pk: RowId,
    db: StoreDb,
    staff: CurrentStaff,
    reason: Annotated[str, Form(max_length=32)] = "",
    view: View = "",
) -> Response:
    """Close the email without a reply, then on to the next one."""
    if (absent := await missing(request, db, staff, message_pk)) is not None:
        return absent
    try:
        try:
            chosen = CloseReason(reason)
        except ValueError:
            raise review.ReviewError("choose why the email is closed") from None
        await workspace.close(db, message_pk, staff=staff, reason=chosen)
    except review.ReviewError as exc:
        return refused(message_pk, view, exc)
    return _see_other(await onwards(db, staff, message_pk, view, "closed"))


@router.post("/messages/{message_pk}/reopen", response_model=None)
async def reopen(
    request: Request, message_pk: RowId, db: StoreDb, staff: CurrentStaff, view: View = ""
) -> Response:
    """Put the email back among those that need action."""
    if (absent := await missing(request, db, staff, message_pk)) is not None:
        return absent
    try:
        await workspace.reopen(db, message_pk, staff=staff)
    except review.ReviewError as exc:
        return refused(message_pk, view, exc)
    return _see_other(email_url(message_pk, view, done="reopened"))


@router.post("/messages/{message_pk}/assign", response_model=None)
async def assign(
    request: Request,
    message_pk: RowId,
    db: StoreDb,
    staff: CurrentStaff,
    staff_id: Annotated[str, Form(max_length=20)] = "",
    view: View = "",
) -> Response:
    """Assign the email to me, a colleague, or nobody (an empty choice)."""
    if (absent := await missing(request, db, staff, message_pk)) is not None:
        return absent
    try:
        wanted = staff.id if staff_id == "me" else int(staff_id) if staff_id.isdigit() else None
        if staff_id and wanted is None:
            raise review.ReviewError("choose a member of the store")
        await workspace.assign(db, message_pk, staff=staff, assignee_id=wanted)
    except review.ReviewError as exc:
        return refused(message_pk, view, exc)
    return _see_other(email_url(message_pk, view, done="assigned"))


@router.post("/messages/{message_pk}/notes", response_model=None)
async def add_note(
    request: Request,
    message_pk: RowId,
    db: StoreDb,
    staff: CurrentStaff,
    text: Annotated[str, Form(max_length=workspace.MAX_NOTE_CHARS)] = "",
    view: View = "",
) -> Response:
    """Add an internal note to the email (never sent)."""
    if (absent := await missing(request, db, staff, message_pk)) is not None:
        return absent
    try:
        await workspace.add_note(db, message_pk, staff=staff, text=text)
    except review.ReviewError as exc:
        return refused(message_pk, view, exc)
    return _see_other(email_url(message_pk, view, done="noted") + "#notes-h")


@router.get("/assets/workspace.js")
async def script() -> FileResponse:
    """The workspace's script: keyboard, local times, presence heartbeats, composer size."""
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=3600"}
    return FileResponse(Path(SCRIPT), media_type="text/javascript", headers=headers)
