"""Who is calling the admin: API tokens for the JSON API, session cookies (with CSRF) for the page.

The dependencies here are attached to whole routers, so a new admin route cannot forget them.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request

from app.admin.staff import Staff, staff_for_session, staff_for_token
from app.state import AppState, get_state

SESSION_COOKIE = "support_admin_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(HTTPException):
    """No valid credentials: 401 (the page answers it with the login form)."""

    def __init__(self, detail: str = "log in first") -> None:
        super().__init__(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def _session_staff(request: Request, state: AppState) -> Staff | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with state.db.read() as session:
        return await staff_for_session(session, token)


async def _token_staff(request: Request, state: AppState) -> Staff | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    async with state.db.read() as session:
        return await staff_for_token(session, token.strip())


def check_csrf(staff: Staff, supplied: str | None) -> None:
    """Refuse a state-changing browser request that does not echo the session's CSRF token."""
    if staff.csrf_token is None:
        return
    if not supplied or not hmac.compare_digest(supplied, staff.csrf_token):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")


async def require_api_staff(request: Request, state: AppState = Depends(get_state)) -> Staff:
    """The JSON API: a bearer token, or the page's session cookie plus the CSRF header."""
    staff = await _token_staff(request, state)
    if staff is not None:
        return staff
    staff = await _session_staff(request, state)
    if staff is None:
        raise LoginRequired("send an API token as `Authorization: Bearer <token>`")
    if request.method not in SAFE_METHODS:
        check_csrf(staff, request.headers.get(CSRF_HEADER))
    return staff


async def require_page_staff(request: Request, state: AppState = Depends(get_state)) -> Staff:
    """The web page: a session cookie; every form post must carry the CSRF field (or header)."""
    staff = await _session_staff(request, state)
    if staff is None:
        raise LoginRequired()
    if request.method not in SAFE_METHODS:
        supplied = request.headers.get(CSRF_HEADER)
        if supplied is None:
            # Starlette caches the parsed form, so the handler's own Form() fields still work.
            form = await request.form()
            field = form.get(CSRF_FIELD)
            supplied = field if isinstance(field, str) else None
        check_csrf(staff, supplied)
    return staff
