"""The staff pages' routes: log in, the queue, one email's thread view, decisions, store actions.

Every page on `router` needs a staff session: `require_page_staff` is a dependency of the router
itself, and it also checks the CSRF field of every form post. Only the login form and its post
live on `login_router`. A state-changing post answers with a 303 redirect back to the page it
came from (so a reload never repeats it). A refused decision on an email redirects back to it
too, the reason (and the text as typed) carried across by `app.admin.flash`; the store-actions
page re-renders with the reason and the refusal's status (409 someone was faster). What each
page shows is built in `app.admin.screens`. The pages are for browsers, not in the API schema.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.admin import review
from app.admin.auth import SESSION_COOKIE, CurrentStore, StoreDb, require_page_staff
from app.admin.flash import clear, take
from app.admin.ids import CursorId, RowId
from app.admin.screens import (
    HOME,
    NOTICES,
    base_context,
    login_page,
    member,
    not_found,
    proposals_page,
    review_error,
    safe_next,
    thread_page,
)
from app.admin.shops import store_shop
from app.admin.staff import AccountChanged, Staff, audit, authenticate, end_session, start_session
from app.admin.throttle import LoginThrottle
from app.admin.workspace_routes import refused
from app.admin.workspace_screens import inbox_page
from app.db.engine import Database
from app.db.models import ProposedAction, Reply
from app.db.statuses import ProposalStatus, RejectCategory
from app.state import AppState, get_state

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)
login_router = APIRouter(prefix="/admin", include_in_schema=False)

State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_page_staff)]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- logging in and out -------------------------------------------------------------------------


def same_origin(request: Request) -> bool:
    """Whether a form post comes from this site (login CSRF: a site logging you in as someone else).

    Browsers send `Origin` on every form post; without it, `Sec-Fetch-Site` must not name another
    site. Clients that send neither (scripts, tests) are not browsers a site could drive. Behind a
    proxy that rewrites `Host`, the proxy's `X-Forwarded-Host` counts too: a page on another site
    cannot make a browser send either header.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    origin_host = urlsplit(origin).netloc.lower()
    hosts = {
        request.headers.get("host", "").lower(),
        request.headers.get("x-forwarded-host", "").split(",")[0].strip().lower(),
    }
    return bool(origin_host) and origin_host in hosts


@login_router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = HOME) -> HTMLResponse:
    """The login form."""
    return login_page(request, status_code=200, next_path=next)


def login_throttle(request: Request) -> LoginThrottle:
    """The shared failed-login counters, kept beside the app's shared state by `create_app`."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


@login_router.post("/login", response_model=None)
async def login(
    request: Request,
    state: State,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Check the password and open a session: an HttpOnly, SameSite=Lax cookie on /admin.

    A client address with too many recent failures waits (429 with `Retry-After`); an account
    with recent failures only makes the check pause a little (see `app.admin.throttle`).
    """
    if not same_origin(request):
        return login_page(
            request, status_code=403, email=email, error="Log in from this site's own login page."
        )
    host = request.client.host if request.client else None
    throttle = login_throttle(request)
    wait = await throttle.retry_after(host)
    if wait > 0:
        logger.warning("admin login throttled")
        seconds = math.ceil(wait)
        return login_page(
            request,
            status_code=429,
            next_path=next,
            email=email,
            error=f"Too many failed attempts from here. Try again in {seconds} seconds.",
            headers={"Retry-After": str(seconds)},
        )
    await throttle.pause_for_account(email)
    staff = await authenticate(state.db, email, password)
    if staff is None:
        await throttle.failed(host, email)
        logger.warning("admin login refused")
        return _login_refused(request, next_path=next, email=email)
    try:
        async with state.db.write() as session:
            opened = await start_session(session, staff, hours=state.settings.ADMIN_SESSION_HOURS)
            audit(session, staff, "login", target_type="staff", target_id=staff.id)
    except AccountChanged:
        logger.warning("admin login refused: the account changed during the login")
        return _login_refused(request, next_path=next, email=email)
    await throttle.succeeded(email)
    token, _csrf = opened
    response = _see_other(safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=state.settings.ADMIN_SESSION_HOURS * 3600,
        path=HOME,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


def _login_refused(request: Request, *, next_path: str, email: str) -> Response:
    """The login page again, saying no more than that the credentials did not open a session."""
    return login_page(
        request,
        status_code=401,
        next_path=next_path,
        email=email,
        error="Wrong email or password, or the account is disabled.",
    )


@router.post("/logout")
async def logout(
    request: Request, state: State, db: StoreDb, staff: CurrentStaff
) -> RedirectResponse:
    """End the session (server side too: the cookie no longer works anywhere)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    async with state.db.write() as session:
        await end_session(session, token)
        audit(session, staff, "logout", target_type="staff", target_id=staff.id)
    response = _see_other(f"{HOME}/login")
    response.delete_cookie(SESSION_COOKIE, path=HOME, httponly=True, samesite="lax")
    return response


# --- the queue and one email --------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def queue(
    request: Request,
    db: StoreDb,
    staff: CurrentStaff,
    view: Annotated[str, Query(max_length=32)] = "",
    status: Annotated[str, Query(max_length=32)] = "",
    intent: Annotated[str, Query(max_length=32)] = "",
    verified: Annotated[str, Query(max_length=3)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    customer: Annotated[str, Query(max_length=320)] = "",
    before_id: CursorId = None,
    after_id: CursorId = None,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """The inbox: needs action (oldest first) unless another view is asked for, with filters.

    The filters stay plain text here (unlike the API): a page answers a bad one by showing the
    inbox again with what was wrong, not with a bare validation error.
    """
    return await inbox_page(
        request,
        base_context(request, staff),
        db,
        staff,
        view=view,
        status=status,
        intent=intent,
        verified=verified,
        q=q,
        customer=customer,
        before_id=before_id,
        after_id=after_id,
        notice=NOTICES.get(done),
    )


@router.get("/messages/{message_pk}", response_class=HTMLResponse)
async def thread(
    request: Request,
    message_pk: RowId,
    state: State,
    db: StoreDb,
    staff: CurrentStaff,
    done: Annotated[str, Query(max_length=40)] = "",
    view: Annotated[str, Query(max_length=32)] = "",
    back: CursorId = None,
    macro: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    """One email with everything the service did about it (and a refused action's answer)."""
    flash = take(request, message_pk)
    response = await thread_page(
        request,
        state,
        db,
        staff,
        message_pk,
        notice=NOTICES.get(done),
        view=view,
        back=back,
        flash=flash,
        macro_id=macro,
    )
    if flash is not None:
        clear(response)
    return response


# --- decisions on drafts ------------------------------------------------------------------------


@router.post("/messages/{message_pk}/rerun", response_model=None)
async def rerun(
    request: Request, message_pk: RowId, state: State, db: StoreDb, staff: CurrentStaff
) -> Response:
    """Plan the email again with the current prompt and tools (a pending draft is superseded)."""
    try:
        await review.rerun_agent(db, message_pk, staff=staff)
    except review.NotFound as exc:
        return await thread_page(
            request, state, db, staff, message_pk, error=review_error(exc), status_code=exc.status
        )
    except review.ReviewError as exc:
        return refused(message_pk, "", exc)
    state.notify_worker()
    return _see_other(f"{HOME}/messages/{message_pk}?done=rerun")


def same_text(submitted: str, original: str) -> bool:
    """Whether the editor came back unchanged (browsers send CRLF line breaks)."""

    def canonical(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()

    return canonical(submitted) == canonical(original)


async def _reply(db: Database, reply_pk: int) -> Reply | None:
    async with db.read() as session:
        return await session.get(Reply, reply_pk)


@router.post("/replies/{reply_pk}/approve", response_model=None)
async def approve(
    request: Request,
    reply_pk: RowId,
    state: State,
    db: StoreDb,
    store: CurrentStore,
    staff: CurrentStaff,
    text: Annotated[str | None, Form()] = None,
    confirm_unverified: Annotated[str, Form(max_length=8)] = "",
    revision: Annotated[int | None, Form(ge=0)] = None,
) -> Response:
    """Send the draft: as it is when the editor is unchanged, otherwise as edited (re-checked)."""
    reply = await _reply(db, reply_pk)
    if reply is None:
        return not_found(request, staff, f"There is no reply {reply_pk}.")
    edited = None if text is None or same_text(text, reply.text_body or "") else text
    try:
        await review.approve_draft(
            db,
            reply_pk,
            staff=staff,
            settings=state.settings,
            store=store,
            text=edited,
            confirm_unverified=bool(confirm_unverified),
            revision=revision,
        )
    except review.ReviewError as exc:
        # Back to the email with the refusal and the text as typed (post/redirect/get).
        return refused(reply.message_id, "", exc, text=text)
    state.notify_worker()
    done = "approved" if edited is None else "edited"
    return _see_other(f"{HOME}/messages/{reply.message_id}?done={done}")


@router.post("/replies/{reply_pk}/reject", response_model=None)
async def reject(
    request: Request,
    reply_pk: RowId,
    state: State,
    db: StoreDb,
    staff: CurrentStaff,
    reason: Annotated[str, Form()] = "",
    category: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Reject the draft: nothing is sent."""
    reply = await _reply(db, reply_pk)
    if reply is None:
        return not_found(request, staff, f"There is no reply {reply_pk}.")
    try:
        await review.reject_draft(
            db, reply_pk, staff=staff, reason=reason, category=member(RejectCategory, category)
        )
    except review.ReviewError as exc:
        return refused(reply.message_id, "", exc)
    return _see_other(f"{HOME}/messages/{reply.message_id}?done=rejected")


# --- proposed store changes ---------------------------------------------------------------------


@router.get("/proposals", response_class=HTMLResponse)
async def proposals(
    request: Request,
    state: State,
    db: StoreDb,
    staff: CurrentStaff,
    status: Annotated[str, Query(max_length=32)] = ProposalStatus.PENDING,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Pending store actions (or those in another status; `status=` for all)."""
    return await proposals_page(request, state, db, staff, status=status, notice=NOTICES.get(done))


async def _proposal_message(db: Database, proposal_pk: int) -> int | None:
    async with db.read() as session:
        proposal = await session.get(ProposedAction, proposal_pk)
        return proposal.message_id if proposal is not None else None


async def _decided(
    request: Request,
    state: AppState,
    db: Database,
    staff: Staff,
    *,
    message_pk: int | None,
    back_to: str,
    done: str | None = None,
    exc: review.ReviewError | None = None,
) -> Response:
    """Where a proposal decision lands: the store-actions list or the email it came from."""
    if back_to == "thread" and message_pk is not None:
        if exc is not None:
            return refused(message_pk, "", exc)
        return _see_other(f"{HOME}/messages/{message_pk}?done={done}")
    if exc is not None:
        return await proposals_page(
            request, state, db, staff, error=review_error(exc), status_code=exc.status
        )
    return _see_other(f"{HOME}/proposals?done={done}")


@router.post("/proposals/{proposal_pk}/approve", response_model=None)
async def approve_proposal(
    request: Request,
    proposal_pk: RowId,
    state: State,
    db: StoreDb,
    staff: CurrentStaff,
    back_to: Annotated[str, Form(max_length=16)] = "proposals",
) -> Response:
    """Carry out a proposed store change for the email's verified sender."""
    message_pk = await _proposal_message(db, proposal_pk)
    try:
        outcome = await review.approve_proposal(
            db, proposal_pk, staff=staff, shop=await store_shop(state, staff.store_id)
        )
    except review.ReviewError as exc:
        return await _decided(
            request, state, db, staff, message_pk=message_pk, back_to=back_to, exc=exc
        )
    return await _decided(
        request,
        state,
        db,
        staff,
        message_pk=message_pk,
        back_to=back_to,
        done=f"proposal_{outcome.status}",
    )


@router.post("/proposals/{proposal_pk}/reject", response_model=None)
async def reject_proposal(
    request: Request,
    proposal_pk: RowId,
    state: State,
    db: StoreDb,
    staff: CurrentStaff,
    reason: Annotated[str, Form()] = "",
    back_to: Annotated[str, Form(max_length=16)] = "proposals",
) -> Response:
    """Decline a proposed store change; nothing happens in the store."""
    message_pk = await _proposal_message(db, proposal_pk)
    try:
        if not reason.strip():
            raise review.ReviewError("say why the store change is declined")
        await review.reject_proposal(db, proposal_pk, staff=staff, reason=reason)
    except review.ReviewError as exc:
        return await _decided(
            request, state, db, staff, message_pk=message_pk, back_to=back_to, exc=exc
        )
    return await _decided(
        request, state, db, staff, message_pk=message_pk, back_to=back_to, done="proposal_rejected"
    )
