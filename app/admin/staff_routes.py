"""The staff page (`/admin/staff`) and its JSON API (`/admin/api/staff`), for a store's owners.

Both routers carry the auth dependency and the owner check themselves, so every route here is
refused to agents (403) in code, whatever the navigation shows; a read-scoped token is refused
every change by `require_api_staff`. The operations are in `app.admin.staff_admin`.

Page forms post, then redirect to the page with a fixed notice (`?done=`), except the two that
make a password: those answer with the page itself, showing the password once. A password never
goes into a URL (a redirect's address is kept in the browser's history and in access logs), and
the page is never cached (`Cache-Control: no-store`, as every admin page).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.admin import review, staff_admin
from app.admin.answers import answer
from app.admin.auth import StoreDb, require_api_staff, require_page_staff
from app.admin.ids import RowId
from app.admin.schemas import Problem
from app.admin.screens import HOME, base_context, member
from app.admin.staff import Staff
from app.admin.staff_admin import (
    DisabledMember,
    Invited,
    MemberList,
    NewMember,
    PasswordReset,
    Removed,
    RoleChange,
)
from app.admin.templating import render
from app.db.engine import Database
from app.db.statuses import StoreRole

STAFF_PAGE = f"{HOME}/staff"


def _owner(staff: Staff) -> Staff:
    if staff.role is not StoreRole.OWNER:
        raise HTTPException(status_code=403, detail=staff_admin.OWNERS_ONLY)
    return staff


async def require_api_owner(staff: Annotated[Staff, Depends(require_api_staff)]) -> Staff:
    """Dependency: the API caller, if they own the store the request acts in (else 403)."""
    return _owner(staff)


async def require_page_owner(staff: Annotated[Staff, Depends(require_page_staff)]) -> Staff:
    """Dependency: the page's staff member, if they own the store they act in (else 403)."""
    return _owner(staff)


api_router = APIRouter(
    prefix="/admin/api",
    tags=["staff"],
    dependencies=[Depends(require_api_staff), Depends(require_api_owner)],
    responses={
        401: {"model": Problem, "description": "No valid API token or staff session."},
        403: {
            "model": Problem,
            "description": "Not an owner of this store, a read-only token, a session without "
            "the CSRF header, or an account that works in stores the caller does not own.",
        },
    },
)
page_router = APIRouter(
    prefix="/admin",
    dependencies=[Depends(require_page_staff), Depends(require_page_owner)],
    include_in_schema=False,
)

Owner = Annotated[Staff, Depends(require_api_owner)]


async def existing_member(member_id: RowId, db: StoreDb, staff: Owner) -> int:
    """The id of a member of the store the request acts in; 404 first, whatever the body holds."""
    if not await staff_admin.is_member(db, staff, member_id):
        raise HTTPException(status_code=404, detail=f"no member {member_id} in this store")
    return member_id


MemberId = Annotated[int, Depends(existing_member)]
PageOwner = Annotated[Staff, Depends(require_page_owner)]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such member of this store."},
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": Problem, "description": "The store's last active owner, or no change."},
}
# What a redirect after an action tells the owner; only these fixed texts, never request text.
NOTICES = {
    "added": "The account joined this store; it keeps its own password.",
    "role": "The role is changed.",
    "removed": "Removed from this store; the account and its other stores are unchanged.",
    "disabled": "The account is disabled: its sessions ended and its API tokens are revoked.",
}


# --- the JSON API -------------------------------------------------------------------------------


@api_router.get("/staff")
async def list_staff(db: StoreDb, staff: Owner) -> MemberList:
    """The members of the store the request acts in, with role, state and last login."""
    return await staff_admin.list_members(db, staff)


@api_router.post(
    "/staff",
    response_model=Invited,
    responses={
        409: {"model": Problem, "description": "Already a member."},
        422: {"model": Problem, "description": "Not an email address."},
    },
)
async def invite_staff(new: NewMember, db: StoreDb, staff: Owner) -> Invited | JSONResponse:
    """Bring someone into this store.

    A new account gets a one-time password, in this answer only; an existing account joins with
    its own password.
    """
    return await answer(staff_admin.invite(db, staff, new))


@api_router.post(
    "/staff/{member_id}/role", response_model=staff_admin.MemberView, responses=REFUSALS
)
async def change_role(
    member_id: MemberId, change: RoleChange, db: StoreDb, staff: Owner
) -> staff_admin.MemberView | JSONResponse:
    """Change a member's role here (the store's last active owner stays one)."""
    return await answer(staff_admin.change_role(db, staff, member_id, change.role))


@api_router.post("/staff/{member_id}/disable", response_model=DisabledMember, responses=REFUSALS)
async def disable_staff(
    member_id: RowId, db: StoreDb, staff: Owner
) -> DisabledMember | JSONResponse:
    """Disable a member's account: no login, sessions end, API tokens are revoked for good."""
    return await answer(staff_admin.disable(db, staff, member_id))


@api_router.post("/staff/{member_id}/password", response_model=PasswordReset, responses=NOT_FOUND)
async def reset_password(
    member_id: RowId, db: StoreDb, staff: Owner
) -> PasswordReset | JSONResponse:
    """Give a member a new random password, in this answer only; their sessions end."""
    return await answer(staff_admin.reset_password(db, staff, member_id))


@api_router.delete("/staff/{member_id}/membership", response_model=Removed, responses=REFUSALS)
async def remove_staff(member_id: RowId, db: StoreDb, staff: Owner) -> Removed | JSONResponse:
    """Take a member out of this store (their account and other stores are unchanged)."""
    return await answer(staff_admin.remove(db, staff, member_id))


# --- the page -----------------------------------------------------------------------------------


async def _page(
    request: Request,
    db: Database,
    staff: Staff,
    *,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    once: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listed = await staff_admin.list_members(db, staff)
    context = base_context(request, staff)
    context.update(
        members=listed.members,
        roles=list(StoreRole),
        notice=notice,
        error=error,
        once=once,
    )
    return render("staff.html", context, status_code=status_code)


async def _refused(
    request: Request, db: Database, staff: Staff, exc: review.ReviewError
) -> HTMLResponse:
    error = {"message": str(exc), "problems": exc.problems}
    return await _page(request, db, staff, error=error, status_code=exc.status)


def _done(word: str) -> RedirectResponse:
    return RedirectResponse(f"{STAFF_PAGE}?done={word}", status_code=303)


@page_router.get("/staff", response_class=HTMLResponse)
async def staff_page(request: Request, db: StoreDb, staff: PageOwner, done: str = "") -> Response:
    """The store's members, the form to bring someone in, and each member's actions."""
    return await _page(request, db, staff, notice=NOTICES.get(done))


@page_router.post("/staff", response_model=None)
async def invite_from_page(
    request: Request,
    db: StoreDb,
    staff: PageOwner,
    email: Annotated[str, Form(max_length=320)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Create or add a member; a new account's password is shown on the answer, once."""
    try:
        new = NewMember.model_validate({"email": email, "name": name, "role": role or "agent"})
        invited = await staff_admin.invite(db, staff, new)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        error = {"message": "nobody was added", "problems": problems}
        return await _page(request, db, staff, error=error, status_code=422)
    except review.ReviewError as exc:
        return await _refused(request, db, staff, exc)
    if invited.password is None:
        return _done("added")
    once = {
        "email": invited.member.email,
        "password": invited.password,
        "what": "The account is created",
    }
    return await _page(request, db, staff, once=once)


@page_router.post("/staff/{member_id}/role", response_model=None)
async def role_from_page(
    request: Request,
    member_id: RowId,
    db: StoreDb,
    staff: PageOwner,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Change a member's role."""
    if not await staff_admin.is_member(db, staff, member_id):
        raise HTTPException(status_code=404, detail=f"no member {member_id} in this store")
    wanted = member(StoreRole, role)
    if wanted is None:
        error = {"message": f"unknown role {role!r}: choose owner or agent", "problems": []}
        return await _page(request, db, staff, error=error, status_code=422)
    try:
        await staff_admin.change_role(db, staff, member_id, wanted)
    except review.ReviewError as exc:
        return await _refused(request, db, staff, exc)
    return _done("role") if member_id != staff.id or wanted is StoreRole.OWNER else _home()


def _home() -> RedirectResponse:
    # After acting on themselves (no longer an owner here, or logged out) the staff page would
    # refuse them: the queue shows where they are now.
    return RedirectResponse(HOME, status_code=303)


@page_router.post("/staff/{member_id}/remove", response_model=None)
async def remove_from_page(
    request: Request, member_id: RowId, db: StoreDb, staff: PageOwner
) -> Response:
    """Take a member out of this store."""
    try:
        await staff_admin.remove(db, staff, member_id)
    except review.ReviewError as exc:
        return await _refused(request, db, staff, exc)
    return _done("removed") if member_id != staff.id else _home()


@page_router.post("/staff/{member_id}/disable", response_model=None)
async def disable_from_page(
    request: Request, member_id: RowId, db: StoreDb, staff: PageOwner
) -> Response:
    """Disable a member's account."""
    try:
        await staff_admin.disable(db, staff, member_id)
    except review.ReviewError as exc:
        return await _refused(request, db, staff, exc)
    return _done("disabled") if member_id != staff.id else _home()


@page_router.post("/staff/{member_id}/password", response_model=None)
async def password_from_page(
    request: Request, member_id: RowId, db: StoreDb, staff: PageOwner
) -> Response:
    """Reset a member's password; the new one is shown on the answer, once."""
    try:
        reset = await staff_admin.reset_password(db, staff, member_id)
    except review.ReviewError as exc:
        return await _refused(request, db, staff, exc)
    once = {
        "email": reset.member.email,
        "password": reset.password,
        "what": f"The password is reset and {reset.sessions_ended} session(s) ended",
    }
    return await _page(request, db, staff, once=once)
