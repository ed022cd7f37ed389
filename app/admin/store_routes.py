"""The stores a staff member works in: the switcher, the stores page and its JSON API.

`POST /admin/store` switches a browser session to another of the member's stores (a store that
is not theirs is refused, never switched to). `GET /admin/stores` and `GET /admin/api/stores`
list the member's stores; owners change a store's settings with the page's form
(`POST /admin/stores/{slug}`) or `PATCH /admin/api/stores/{slug}`. Both routers carry their
auth dependency themselves, like the rest of the admin, so no route here can be unprotected.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.admin import review
from app.admin.auth import SESSION_COOKIE, require_api_staff, require_page_staff
from app.admin.schemas import Problem
from app.admin.screens import HOME, base_context
from app.admin.staff import Staff, switch_store
from app.admin.store_settings import StoreList, StoreUpdate, StoreView, list_stores, update_store
from app.admin.templating import render
from app.agent.plan import Intent
from app.state import AppState, get_state

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

State = Annotated[AppState, Depends(get_state)]
Slug = Annotated[str, Path(max_length=64)]
NOTICES = {"saved": "The store's settings are saved."}
REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"model": Problem, "description": "Only the store's owners may change it."},
    404: {"model": Problem, "description": "No such store of yours."},
    409: {"model": Problem, "description": "The default store, or an address of another store."},
}


# --- the JSON API -------------------------------------------------------------------------------


@api_router.get("/stores")
async def stores(state: State, staff: Annotated[Staff, Depends(require_api_staff)]) -> StoreList:
    """The stores the caller works in, with their role and settings (never credentials)."""
    return await list_stores(state.stores, staff)


@api_router.patch("/stores/{slug}", response_model=StoreView, responses=REFUSALS)
async def change_store(
    slug: Slug,
    change: StoreUpdate,
    state: State,
    staff: Annotated[Staff, Depends(require_api_staff)],
) -> StoreView | JSONResponse:
    """Change a store's settings (its owners only; the default store's are the environment's)."""
    try:
        # The store table is not store-scoped: the audit entry names the changed store itself.
        return await update_store(state.db, state.stores, staff, slug.lower(), change)
    except review.ReviewError as exc:
        content = Problem(detail=str(exc), problems=exc.problems)
        return JSONResponse(status_code=exc.status, content=content.model_dump())


# --- the pages ----------------------------------------------------------------------------------


@page_router.post("/store")
async def switch(
    request: Request,
    state: State,
    staff: Annotated[Staff, Depends(require_page_staff)],
    store: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Act in another of the member's stores from now on (the queue of that store follows)."""
    wanted = next((m for m in staff.memberships if m.slug == store.strip().lower()), None)
    if wanted is None:
        raise HTTPException(status_code=403, detail="that is not one of your stores")
    async with state.db.write() as session:
        await switch_store(session, request.cookies.get(SESSION_COOKIE, ""), wanted.store_id)
    # Ids of the page it came from belong to the other store: start again at the queue.
    return RedirectResponse(HOME, status_code=303)


async def _stores_page(
    request: Request,
    state: AppState,
    staff: Staff,
    *,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = base_context(request, staff)
    listed = await list_stores(state.stores, staff)
    context.update(stores=listed.stores, intents=list(Intent), notice=notice, error=error)
    return render("stores.html", context, status_code=status_code)


@page_router.get("/stores", response_class=HTMLResponse)
async def stores_page(
    request: Request,
    state: State,
    staff: Annotated[Staff, Depends(require_page_staff)],
    done: str = "",
) -> HTMLResponse:
    """The stores the member works in; owners' forms to change them."""
    return await _stores_page(request, state, staff, notice=NOTICES.get(done))


@page_router.post("/stores/{slug}", response_model=None)
async def save_store(
    request: Request,
    slug: Slug,
    state: State,
    staff: Annotated[Staff, Depends(require_page_staff)],
    name: Annotated[str, Form(max_length=200)] = "",
    support_addresses: Annotated[str, Form(max_length=10_000)] = "",
    auto_send_intents: Annotated[list[str] | None, Form()] = None,
    auto_send_min_confidence: Annotated[str, Form(max_length=16)] = "",
    shadow_mode: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Save an owner's changes to a store's settings (the whole form: unticked means off)."""
    if not any(m.slug == slug.lower() for m in staff.memberships):
        raise HTTPException(status_code=404, detail=f"There is no store {slug} of yours.")
    try:
        change = StoreUpdate.model_validate(
            {
                "name": name,
                "support_addresses": [
                    line for line in support_addresses.replace(",", "\n").split() if line
                ],
                "auto_send_intents": auto_send_intents or [],
                "auto_send_min_confidence": auto_send_min_confidence.strip() or None,
                "shadow_mode": shadow_mode == "on",
            }
        )
        await update_store(state.db, state.stores, staff, slug.lower(), change)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        error = {"message": "the settings were not saved", "problems": problems}
        return await _stores_page(request, state, staff, error=error, status_code=422)
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _stores_page(request, state, staff, error=error, status_code=exc.status)
    return RedirectResponse(f"{HOME}/stores?done=saved", status_code=303)
