"""Who is calling the admin: API tokens for the JSON API, session cookies (with CSRF) for the page.

The dependencies here are attached to whole routers, so a new admin route cannot forget them.
A read-scoped token is refused (403) on every request that is not a read, whatever the route.

They also decide the one store the request acts in (`Staff.store`): a token's bound store, else
an `X-Store: <slug>` header naming one of the caller's stores (API only), else the session's
switcher choice while it is still a membership, else the member's first store. A member of no
store is refused (403) everything. Handlers reach the database only through `StoreDb`, the
database as that store sees it, so the store filter comes from `app.db.scope`, never a handler.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.admin.memberships import choose, memberships_of
from app.admin.staff import Staff, staff_for_session, use_api_token
from app.db.engine import Database
from app.db.statuses import TokenScope
from app.state import AppState, get_state
from app.store.directory import StoreConfig

SESSION_COOKIE = "support_admin_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
STORE_HEADER = "X-Store"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where the auth dependencies leave the resolved staff member for `store_db`.
_STAFF_KEY = "admin_staff"
NO_STORE = "you are a member of no store: ask an owner to grant you one"
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


async def _in_store(state: AppState, staff: Staff, header: str | None = None) -> Staff:
    """The staff member acting in the store their credentials (or `header`) choose."""
    async with state.db.read() as session:
        memberships = await memberships_of(session, staff.id)
    if not memberships:
        raise HTTPException(status_code=403, detail=NO_STORE)
    if staff.token_id is not None and staff.chosen_store_id is not None:
        # A store-bound token works in its store only, whatever the header asks.
        current = choose([m for m in memberships if m.store_id == staff.chosen_store_id], None)
        if current is None:
            raise HTTPException(status_code=403, detail="this token's store is no longer yours")
    elif header:
        current = choose([m for m in memberships if m.slug == header.strip().lower()], None)
        if current is None:
            raise HTTPException(status_code=403, detail=f"{STORE_HEADER} names no store of yours")
    else:
        current = choose(memberships, staff.chosen_store_id)
    return staff.in_store(memberships, current)


def _keep(request: Request, staff: Staff) -> Staff:
    setattr(request.state, _STAFF_KEY, staff)
    return staff


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
    else:
        staff = await _session_staff(request, state)
        if staff is None:
            raise LoginRequired("send an API token as `Authorization: Bearer <token>`")
        if request.method not in SAFE_METHODS:
            check_csrf(staff, request.headers.get(CSRF_HEADER))
    return _keep(request, await _in_store(state, staff, request.headers.get(STORE_HEADER)))


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
    return _keep(request, await _in_store(state, staff))


async def store_db(request: Request, state: AppState = Depends(get_state)) -> Database:
    """Dependency: the database as the request's store sees it (`Database.for_store`).

    The router's auth dependency runs first and leaves the staff member here; without one (a
    route outside those routers) the answer is a refusal, never an unscoped database.
    """
    staff = getattr(request.state, _STAFF_KEY, None)
    if not isinstance(staff, Staff) or staff.store_id is None:
        raise HTTPException(status_code=403, detail=NO_STORE)
    return state.db.for_store(staff.store_id)


async def store_config(request: Request, state: AppState = Depends(get_state)) -> StoreConfig:
    """Dependency: the settings of the store the request acts in (its name, addresses...)."""
    db = await store_db(request, state)
    found = await state.stores.get(db.scope.store_id) if db.scope and db.scope.store_id else None
    if found is None:
        raise HTTPException(status_code=403, detail=NO_STORE)
    return found


StoreDb = Annotated[Database, Depends(store_db)]
CurrentStore = Annotated[StoreConfig, Depends(store_config)]
