"""The staff pages: log in, the queue, one email's thread view, decisions, store actions.

Every page on `router` needs a staff session: `require_page_staff` is a dependency of the router
itself, and it also checks the CSRF field of every form post. Only the login form and its post
live on `login_router`. A state-changing post answers with a 303 redirect back to the page it
came from (so a reload never repeats it); a refused decision re-renders the page with the reason
and the HTTP status of the refusal (409 someone was faster, 422 the checks failed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.admin import reporting, review
from app.admin.auth import CSRF_FIELD, SESSION_COOKIE, require_page_staff
from app.admin.customer_card import load_customer_card
from app.admin.staff import Staff, audit, authenticate, end_session, start_session
from app.admin.templating import render
from app.agent.plan import Intent
from app.db.models import ProposedAction, Reply
from app.mail.models import MessageStatus
from app.replies.outbox import ReplyStatus
from app.state import AppState, get_state

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/admin", dependencies=[Depends(require_page_staff)])
login_router = APIRouter(prefix="/admin")

State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_page_staff)]

HOME = "/admin"
PAGE_SIZE = 50
PROPOSAL_STATUSES = ("pending", "executed", "failed", "rejected", "approved")
# The queue filter that shows exactly the emails in one stored status (for the counts).
FILTER_STATUS = {
    "draft": (MessageStatus.DRAFTED,),
    "sent": (MessageStatus.ANSWERED,),
    "skipped": (MessageStatus.SKIPPED,),
    "quarantined": (MessageStatus.QUARANTINED,),
    "needs_human": (MessageStatus.NEEDS_HUMAN,),
    "closed": (MessageStatus.CLOSED,),
    "pending": (MessageStatus.RECEIVED, MessageStatus.READY, MessageStatus.PLANNED),
}
# What a redirect after a decision tells staff; only these fixed texts, never request text.
NOTICES = {
    "approved": "Approved: the reply is queued and is sent in a moment.",
    "edited": "Your edited reply passed the checks and is queued to be sent.",
    "rejected": "Draft rejected: nothing is sent, and the email is closed.",
    "rerun": "The email is being planned again; the new draft appears here when it is ready.",
    "proposal_executed": "The store change was carried out.",
    "proposal_failed": "The store change failed: see its result.",
    "proposal_rejected": "The store change was declined: nothing changed in the store.",
    "proposal_approved": "The store change was approved.",
}
# While the service is still working on an email, the thread view reloads itself (no script).
IN_FLIGHT = frozenset(
    {
        MessageStatus.RECEIVED.value,
        MessageStatus.READY.value,
        MessageStatus.PLANNED.value,
    }
)
REPLY_IN_FLIGHT = frozenset({ReplyStatus.QUEUED.value, ReplyStatus.SENDING.value})


def base_context(request: Request, staff: Staff | None) -> dict[str, Any]:
    """What every page template needs: who is logged in, the CSRF token, the store's name."""
    state: AppState = request.app.state.services
    return {
        "staff": staff,
        "csrf_field": CSRF_FIELD,
        "csrf_token": (staff.csrf_token or "") if staff else "",
        "store_name": state.settings.STORE_NAME,
        "path": request.url.path,
    }


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _error(exc: review.ReviewError) -> dict[str, Any]:
    return {"message": str(exc), "problems": exc.problems, "status": exc.status}


# --- logging in and out -------------------------------------------------------------------------


def safe_next(value: str | None) -> str:
    """Where to go after logging in: only a page of this admin, never another site."""
    if not value or not value.startswith(HOME) or "\\" in value or value.startswith("//"):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(c in value for c in "\r\n\t"):
        return HOME
    if parts.path.startswith(("/admin/api", "/admin/login", "/admin/logout")):
        return HOME
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return HOME
    return value


def login_page(
    request: Request,
    *,
    status_code: int,
    next_path: str = HOME,
    email: str = "",
    error: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The login form (also the answer to any page request without a valid session: 401)."""
    context = base_context(request, None)
    context.update(next_path=safe_next(next_path), email=email, error=error)
    return render("login.html", context, status_code=status_code, headers=headers)


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


@login_router.post("/login", response_model=None)
async def login(
    request: Request,
    state: State,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Check the password and open a session: an HttpOnly, SameSite=Lax cookie on /admin."""
    if not same_origin(request):
        return login_page(
            request, status_code=403, email=email, error="Log in from this site's own login page."
        )
    throttle_key = f"{email.strip().lower()}|{request.client.host if request.client else ''}"
    wait = state.login_throttle.retry_after(throttle_key)
    if wait > 0:
        logger.warning("admin login throttled")
        return login_page(
            request,
            status_code=429,
            next_path=next,
            email=email,
            error=f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.",
        )
    staff = await authenticate(state.db, email, password)
    if staff is not None:
        state.login_throttle.succeeded(throttle_key)
        async with state.db.write() as session:
            token, _csrf = await start_session(
                session, staff, hours=state.settings.ADMIN_SESSION_HOURS
            )
            audit(session, staff, "login", target_type="staff", target_id=staff.id)
    if staff is None:
        state.login_throttle.failed(throttle_key)
        logger.warning("admin login refused")
        return login_page(
            request,
            status_code=401,
            next_path=next,
            email=email,
            error="Wrong email or password, or the account is disabled.",
        )
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


@router.post("/logout")
async def logout(request: Request, state: State, staff: CurrentStaff) -> RedirectResponse:
    """End the session (server side too: the cookie no longer works anywhere)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    async with state.db.write() as session:
        await end_session(session, token)
        audit(session, staff, "logout", target_type="staff", target_id=staff.id)
    response = _see_other(f"{HOME}/login")
    response.delete_cookie(SESSION_COOKIE, path=HOME, httponly=True, samesite="lax")
    return response


# --- the queue ----------------------------------------------------------------------------------


def _parse_verified(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


@router.get("", response_class=HTMLResponse)
async def queue(
    request: Request,
    state: State,
    staff: CurrentStaff,
    status: Annotated[str, Query(max_length=32)] = "",
    intent: Annotated[str, Query(max_length=32)] = "",
    verified: Annotated[str, Query(max_length=3)] = "",
    q: Annotated[str, Query(max_length=200)] = "",
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    """The queue, newest first, with filters; `before_id` pages to older emails."""
    problems: list[str] = []
    if status and status not in reporting.QUEUE_FILTERS:
        problems.append(f"unknown status {status!r}: choose one from the list")
    if intent and intent not in Intent.__members__.values():
        problems.append(f"unknown intent {intent!r}: choose one from the list")
    if verified and verified not in ("yes", "no"):
        problems.append("verified must be yes or no")
    filters = {"status": status, "intent": intent, "verified": verified, "q": q}
    page: dict[str, Any] = {"items": [], "next_before_id": None}
    async with state.db.read() as session:
        counts = await reporting.count_by_status(session)
        if not problems:
            page = await reporting.list_messages(
                session,
                reporting.QueueFilter(
                    status=status or None,
                    intent=intent or None,
                    verified=_parse_verified(verified),
                    text=q.strip() or None,
                    before_id=before_id,
                    limit=PAGE_SIZE,
                ),
            )
    active = {name: value for name, value in filters.items() if value}
    context = base_context(request, staff)
    context.update(
        items=page["items"],
        filters=filters,
        problems=problems,
        status_filters=reporting.QUEUE_FILTERS,
        intents=[i.value for i in Intent],
        counts={
            name: sum(counts.get(s.value, 0) for s in statuses)
            for name, statuses in FILTER_STATUS.items()
        },
        total=sum(counts.values()),
        paged=before_id is not None,
        first_url=f"{HOME}?{urlencode(active)}" if active else HOME,
        older_url=(
            f"{HOME}?{urlencode({**active, 'before_id': page['next_before_id']})}"
            if page["next_before_id"]
            else None
        ),
    )
    return render("queue.html", context, status_code=422 if problems else 200)


# --- one email ----------------------------------------------------------------------------------


async def thread_page(
    request: Request,
    state: AppState,
    staff: Staff,
    message_pk: int,
    *,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    draft_text: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The thread view: the email, the customer, the draft and its buttons, the whole trace."""
    async with state.db.read() as session:
        trace = await reporting.message_trace(session, message_pk)
    if trace is None:
        context = base_context(request, staff)
        context.update(status=404, title="Not found", detail=f"There is no email {message_pk}.")
        return render("error.html", context, status_code=404)
    message = trace["message"]
    card = await load_customer_card(
        state.providers.shop,
        address=message["from_address"],
        verified=bool(message["sender_verified"]),
    )
    replies = trace["replies"]
    latest = replies[-1] if replies else None
    draft = latest if latest and latest["status"] == ReplyStatus.DRAFT.value else None
    context = base_context(request, staff)
    context.update(
        trace=trace,
        message=message,
        card=card,
        latest=latest,
        draft=draft,
        draft_text=draft_text if draft_text is not None else (draft["text"] if draft else ""),
        earlier_replies=replies[:-1],
        notice=notice,
        error=error,
        rerunnable=message["status"] in review.RERUNNABLE and trace["plan"] is not None,
        auto_refresh=message["status"] in IN_FLIGHT
        or bool(latest and latest["status"] in REPLY_IN_FLIGHT),
        steps_total=sum(float(step.get("ms") or 0) for step in trace["steps"]),
    )
    return render("thread.html", context, status_code=status_code)


@router.get("/messages/{message_pk}", response_class=HTMLResponse)
async def thread(
    request: Request,
    message_pk: int,
    state: State,
    staff: CurrentStaff,
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """One email with everything the service did about it."""
    return await thread_page(request, state, staff, message_pk, notice=NOTICES.get(done))


@router.post("/messages/{message_pk}/rerun", response_model=None)
async def rerun(request: Request, message_pk: int, state: State, staff: CurrentStaff) -> Response:
    """Plan the email again with the current prompt and tools (a pending draft is superseded)."""
    try:
        await review.rerun_agent(state.db, message_pk, staff=staff)
    except review.ReviewError as exc:
        return await thread_page(
            request, state, staff, message_pk, error=_error(exc), status_code=exc.status
        )
    state.notify_worker()
    return _see_other(f"{HOME}/messages/{message_pk}?done=rerun")


def same_text(submitted: str, original: str) -> bool:
    """Whether the editor came back unchanged (browsers send CRLF line breaks)."""

    def canonical(text: str) -> str:
        return text.replace("\r\n", "\n").replace("\r", "\n").strip()

    return canonical(submitted) == canonical(original)


async def _reply(state: AppState, reply_pk: int) -> Reply | None:
    async with state.db.read() as session:
        return await session.get(Reply, reply_pk)


def _not_found(request: Request, staff: Staff, detail: str) -> HTMLResponse:
    context = base_context(request, staff)
    context.update(status=404, title="Not found", detail=detail)
    return render("error.html", context, status_code=404)


@router.post("/replies/{reply_pk}/approve", response_model=None)
async def approve(
    request: Request,
    reply_pk: int,
    state: State,
    staff: CurrentStaff,
    text: Annotated[str | None, Form()] = None,
) -> Response:
    """Send the draft: as it is when the editor is unchanged, otherwise as edited (re-checked)."""
    reply = await _reply(state, reply_pk)
    if reply is None:
        return _not_found(request, staff, f"There is no reply {reply_pk}.")
    edited = None if text is None or same_text(text, reply.text_body or "") else text
    try:
        await review.approve_draft(
            state.db, reply_pk, staff=staff, settings=state.settings, text=edited
        )
    except review.ReviewError as exc:
        return await thread_page(
            request,
            state,
            staff,
            reply.message_id,
            error=_error(exc),
            draft_text=text,
            status_code=exc.status,
        )
    state.notify_worker()
    done = "approved" if edited is None else "edited"
    return _see_other(f"{HOME}/messages/{reply.message_id}?done={done}")


@router.post("/replies/{reply_pk}/reject", response_model=None)
async def reject(
    request: Request,
    reply_pk: int,
    state: State,
    staff: CurrentStaff,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Reject the draft: nothing is sent."""
    reply = await _reply(state, reply_pk)
    if reply is None:
        return _not_found(request, staff, f"There is no reply {reply_pk}.")
    try:
        await review.reject_draft(state.db, reply_pk, staff=staff, reason=reason)
    except review.ReviewError as exc:
        return await thread_page(
            request, state, staff, reply.message_id, error=_error(exc), status_code=exc.status
        )
    return _see_other(f"{HOME}/messages/{reply.message_id}?done=rejected")


# --- proposed store changes ---------------------------------------------------------------------


async def proposals_page(
    request: Request,
    state: AppState,
    staff: Staff,
    *,
    status: str = "pending",
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Store changes the agent proposed, pending ones first by default."""
    problems = []
    if status and status not in PROPOSAL_STATUSES:
        problems.append(f"unknown status {status!r}")
        status = "pending"
        status_code = 422
    async with state.db.read() as session:
        proposals = await reporting.list_proposals(session, status=status or None)
    context = base_context(request, staff)
    context.update(
        proposals=proposals,
        status=status,
        statuses=PROPOSAL_STATUSES,
        notice=notice,
        error=error or ({"message": problems[0], "problems": []} if problems else None),
    )
    return render("proposals.html", context, status_code=status_code)


@router.get("/proposals", response_class=HTMLResponse)
async def proposals(
    request: Request,
    state: State,
    staff: CurrentStaff,
    status: Annotated[str, Query(max_length=32)] = "pending",
    done: Annotated[str, Query(max_length=40)] = "",
) -> HTMLResponse:
    """Pending store actions (or those in another status; `status=` for all)."""
    return await proposals_page(request, state, staff, status=status, notice=NOTICES.get(done))


async def _proposal_message(state: AppState, proposal_pk: int) -> int | None:
    async with state.db.read() as session:
        proposal = await session.get(ProposedAction, proposal_pk)
        return proposal.message_id if proposal is not None else None


async def _decided(
    request: Request,
    state: AppState,
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
            return await thread_page(
                request, state, staff, message_pk, error=_error(exc), status_code=exc.status
            )
        return _see_other(f"{HOME}/messages/{message_pk}?done={done}")
    if exc is not None:
        return await proposals_page(
            request, state, staff, error=_error(exc), status_code=exc.status
        )
    return _see_other(f"{HOME}/proposals?done={done}")


@router.post("/proposals/{proposal_pk}/approve", response_model=None)
async def approve_proposal(
    request: Request,
    proposal_pk: int,
    state: State,
    staff: CurrentStaff,
    back_to: Annotated[str, Form(max_length=16)] = "proposals",
) -> Response:
    """Carry out a proposed store change for the email's verified sender."""
    message_pk = await _proposal_message(state, proposal_pk)
    try:
        outcome = await review.approve_proposal(
            state.db, proposal_pk, staff=staff, providers=state.providers
        )
    except review.ReviewError as exc:
        return await _decided(
            request, state, staff, message_pk=message_pk, back_to=back_to, exc=exc
        )
    return await _decided(
        request,
        state,
        staff,
        message_pk=message_pk,
        back_to=back_to,
        done=f"proposal_{outcome.status}",
    )


@router.post("/proposals/{proposal_pk}/reject", response_model=None)
async def reject_proposal(
    request: Request,
    proposal_pk: int,
    state: State,
    staff: CurrentStaff,
    reason: Annotated[str, Form()] = "",
    back_to: Annotated[str, Form(max_length=16)] = "proposals",
) -> Response:
    """Decline a proposed store change; nothing happens in the store."""
    message_pk = await _proposal_message(state, proposal_pk)
    try:
        if not reason.strip():
            raise review.ReviewError("say why the store change is declined")
        await review.reject_proposal(state.db, proposal_pk, staff=staff, reason=reason)
    except review.ReviewError as exc:
        return await _decided(
            request, state, staff, message_pk=message_pk, back_to=back_to, exc=exc
        )
    return await _decided(
        request, state, staff, message_pk=message_pk, back_to=back_to, done="proposal_rejected"
    )
