"""What each staff page shows: the login form, the queue, one email's thread, the store actions.

These build a page's context from the read models and render its template; the routes that
call them (and decide, redirect and check sessions) are in `app.admin.pages`. A page can be
shown again with an error after a refused decision, so rendering takes the error and status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.admin import reporting, review
from app.admin.action_words import proposal_facts
from app.admin.auth import CSRF_FIELD
from app.admin.customer_card import load_customer_card
from app.admin.filters import PROPOSAL_TABS
from app.admin.flash import Flash
from app.admin.shops import store_shop
from app.admin.staff import Staff
from app.admin.templating import render
from app.admin.thread_extras import load_thread_extras
from app.admin.workspace_screens import thread_context
from app.db.engine import Database
from app.db.statuses import MessageStatus, ProposalStatus, ReplyStatus
from app.db.stores import DEFAULT_STORE_ID
from app.state import AppState

E = TypeVar("E", bound=StrEnum)

HOME = "/admin"
PAGE_SIZE = 50
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
    "lifted": "Lifted: automated replies go to this address again.",
    "sent": "Your reply passed the checks and is queued to be sent.",
    "saved": "The draft is saved; nothing was sent.",
    "closed": "Closed: nothing was sent.",
    "reopened": "Reopened: the email needs action again.",
    "assigned": "The assignment is saved.",
    "noted": "The note is saved (it is never sent).",
}
# While the service is still working on an email, the thread view reloads itself (no script).
IN_FLIGHT = frozenset({MessageStatus.RECEIVED, MessageStatus.READY, MessageStatus.PLANNED})
REPLY_IN_FLIGHT = frozenset({ReplyStatus.QUEUED, ReplyStatus.SENDING})


def base_context(request: Request, staff: Staff | None) -> dict[str, Any]:
    """What every page template needs: who is logged in, the CSRF token, the store's name."""
    state: AppState = request.app.state.services
    stores = [
        (m.slug, state.settings.STORE_NAME if m.store_id == DEFAULT_STORE_ID else m.name)
        for m in (staff.memberships if staff else ())
    ]
    current = staff.store if staff else None
    return {
        "staff": staff,
        "csrf_field": CSRF_FIELD,
        "csrf_token": (staff.csrf_token or "") if staff else "",
        # Before login (and for a member of no store) the deployment's own name.
        "store_name": dict(stores).get(current.slug, "") if current else state.settings.STORE_NAME,
        "store_slug": current.slug if current else "",
        "store_role": current.role.value if current else "",
        "store_choices": stores,
        "path": request.url.path,
    }


def member(enum: type[E], word: str) -> E | None:
    """The member of `enum` whose value is `word`, or None (a query parameter staff can edit)."""
    try:
        return enum(word)
    except ValueError:
        return None


def review_error(exc: review.ReviewError) -> dict[str, Any]:
    """A refused decision as the page shows it."""
    return {"message": str(exc), "problems": exc.problems, "status": exc.status}


def not_found(request: Request, staff: Staff | None, detail: str) -> HTMLResponse:
    """The 404 page."""
    context = base_context(request, staff)
    context.update(status=404, title="Not found", detail=detail)
    return render("error.html", context, status_code=404)


# --- logging in ---------------------------------------------------------------------------------


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


# --- one email ----------------------------------------------------------------------------------


async def thread_page(
    request: Request,
    state: AppState,
    db: Database,
    staff: Staff,
    message_pk: int,
    *,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    draft_text: str | None = None,
    status_code: int = 200,
    view: str = "",
    back: int | None = None,
    flash: Flash | None = None,
    composer_start: str = "",
    macro_id: int | None = None,
) -> HTMLResponse:
    """The thread view: the email, the customer, the composer and its buttons, the whole trace.

    `flash` is a refused action's answer brought across its redirect (`app.admin.flash`);
    `composer_start` is the composer's text when there is no draft; `macro_id` (the macro
    picker's choice) fills it with that macro for this email.
    """
    async with db.read() as session:
        trace = await reporting.message_trace(session, message_pk)
    if trace is None:
        return not_found(request, staff, f"There is no email {message_pk}.")
    message = trace.message
    card = await load_customer_card(
        await store_shop(state, staff.store_id),
        address=message.from_address,
        verified=bool(message.sender_verified),
    )
    replies = trace.replies
    latest = replies[-1] if replies else None
    draft = latest if latest and latest.status is ReplyStatus.DRAFT else None
    context = base_context(request, staff)
    extras = await load_thread_extras(
        db,
        store_id=staff.store_id or DEFAULT_STORE_ID,
        message_pk=message_pk,
        card=card,
        proposals=list(trace.proposals),
        macro_id=macro_id,
        store_name=context["store_name"],
    )
    context.update(extras.context())
    composer_start = extras.composer_start or composer_start
    if extras.macro_problems and error is None:
        error = {
            "message": "Check the macro's text before sending.",
            "problems": extras.macro_problems,
        }
    context.update(
        await thread_context(
            db,
            staff,
            message,
            draft,
            view=view,
            back=back,
            flash=flash,
            draft_text=draft_text,
            composer_start=composer_start,
        )
    )
    if flash is not None and error is None:
        error = {"message": flash.message, "problems": flash.problems, "status": flash.status}
        status_code = 200
    context.update(
        trace=trace,
        message=message,
        card=card,
        latest=latest,
        draft=draft,
        earlier_replies=replies[:-1],
        notice=notice,
        error=error,
        rerunnable=message.status in review.RERUNNABLE and trace.plan is not None,
        auto_refresh=message.status in IN_FLIGHT
        or bool(latest and latest.status in REPLY_IN_FLIGHT),
        steps_total=sum(float(step.get("ms") or 0) for step in trace.steps),
    )
    return render("thread.html", context, status_code=status_code)


# --- proposed store changes ---------------------------------------------------------------------


async def proposals_page(
    request: Request,
    state: AppState,
    db: Database,
    staff: Staff,
    *,
    status: str = ProposalStatus.PENDING,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Store changes the agent proposed, pending ones first by default (`status=""`: all)."""
    problems = []
    wanted = member(ProposalStatus, status)
    if status and wanted is None:
        problems.append(f"unknown status {status!r}")
        status, wanted = ProposalStatus.PENDING, ProposalStatus.PENDING
        status_code = 422
    async with db.read() as session:
        proposals = await reporting.list_proposals(session, status=wanted)
        facts = await proposal_facts(session, proposals)
    context = base_context(request, staff)
    context.update(
        proposal_facts=facts,
        proposals=proposals,
        status=status,
        statuses=PROPOSAL_TABS,
        notice=notice,
        error=error or ({"message": problems[0], "problems": []} if problems else None),
    )
    return render("proposals.html", context, status_code=status_code)
