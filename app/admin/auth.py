"""Who is calling the admin: API tokens for the JSON API, session cookies (with CSRF) for the page.

The dependencies here are attached to whole routers, so a new admin route cannot forget them.
A read-scoped token is refused (403) on every request that is not a read, whatever the route.
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.admin.staff import Staff, staff_for_session, use_api_token
from app.db.statuses import TokenScope
from app.state import AppState, get_state

SESSION_COOKIE = "support_admin_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads `Authorization: Bearer <token>` and declares the scheme in the OpenAPI schema, so the
# interactive docs offer to send a token. Its absence is not an error: a session may do instead.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    description="An admin API token (`python -m app create-api-token --email EMAIL`); a "
    "`read`-scoped token may only read.",
)


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


async def _token_staff(
    bearer: HTTPAuthorizationCredentials | None, state: AppState
) -> Staff | None:
    if bearer is None:
        return None
    return await use_api_token(state.db, bearer.credentials)


def check_csrf(staff: Staff, supplied: str | None) -> None:
    """Refuse a state-changing browser request that does not echo the session's CSRF token."""
    if staff.csrf_token is None:
        return
    if not supplied or not hmac.compare_digest(supplied, staff.csrf_token):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token")


async def require_api_staff(
    request: Request,
    state: AppState = Depends(get_state),
    bearer: HTTPAuthorizationCredentials | None = Depends(BEARER),
) -> Staff:
    """The JSON API and its docs: a bearer token, or the page's session cookie.

    With the cookie, anything but a read must also carry the CSRF header.
    """
    staff = await _token_staff(bearer, state)
    if staff is not None:
        if staff.scope is TokenScope.READ and request.method not in SAFE_METHODS:
            raise HTTPException(status_code=403, detail="this API token may only read")
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
