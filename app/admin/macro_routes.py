"""Macros in the admin: the page `/admin/macros` and the JSON API `/admin/api/macros`.

The page lists the store's macros with a form to create one and, for `?edit=<id>`, a form to
change one; every post carries the CSRF field and answers with a 303 back to the page (a
refused one shows the page again with the reason and the staff's text kept). The API creates
(`POST`), replaces (`PUT`), changes (`PATCH`) and deactivates (`DELETE`) macros, and fills one
for an email (`GET /admin/api/macros/{id}/fill?message=<id>`). Both routers carry their auth
dependency themselves, so a read-only token can only read here too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.admin import review
from app.admin.answers import answer, refusal
from app.admin.auth import StoreDb, require_api_staff, require_page_staff
from app.admin.ids import MAX_ROW_ID, RowId
from app.admin.macro_book import (
    FilledMacroView,
    MacroInput,
    MacroList,
    MacroPatch,
    MacroView,
    VariableList,
    change_macro,
    create_macro,
    get_macro,
    list_macros,
    variables,
)
from app.admin.macro_fill import fill_macro
from app.admin.schemas import Problem
from app.admin.screens import HOME, base_context, not_found
from app.admin.staff import Staff
from app.admin.templating import render
from app.db.engine import Database
from app.db.workspace import Macro
from app.replies.catalogs import languages

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

ApiStaff = Annotated[Staff, Depends(require_api_staff)]
PageStaff = Annotated[Staff, Depends(require_page_staff)]
PAGE = f"{HOME}/macros"
NOTICES = {
    "created": "The macro is saved.",
    "saved": "Your changes to the macro are saved.",
    "deactivated": "The macro is deactivated: the composer no longer offers it.",
    "activated": "The macro is active again.",
}
EMPTY_FORM = {"name": "", "language": "", "body": ""}
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such macro (or email) in this store."},
    409: {"model": Problem, "description": "A macro of that name and language exists."},
}


async def _found(db: Database, macro_pk: int) -> bool:
    async with db.read() as session:
        return await session.get(Macro, macro_pk) is not None


async def existing_macro(macro_pk: RowId, db: StoreDb) -> int:
    """The id of a macro of the request's store; 404 first, whatever else the request holds."""
    if not await _found(db, macro_pk):
        raise HTTPException(status_code=404, detail=f"no macro {macro_pk}")
    return macro_pk


MacroId = Annotated[int, Depends(existing_macro)]


# --- the JSON API -------------------------------------------------------------------------------


@api_router.get("/macros")
async def macros(
    db: StoreDb,
    active: Annotated[bool, Query(description="Only active macros.")] = False,
) -> MacroList:
    """The store's macros by name and language (deactivated ones too, unless `active`)."""
    return MacroList(await list_macros(db, active_only=active))


@api_router.get("/macros/variables")
async def macro_variables() -> VariableList:
    """The `{{ variables }}` a macro may use, and what each is filled with."""
    return variables()


@api_router.post("/macros", response_model=MacroView, responses=REFUSALS)
async def new_macro(new: MacroInput, db: StoreDb, staff: ApiStaff) -> MacroView | JSONResponse:
    """Save a new macro in the store."""
    return await answer(create_macro(db, staff, new))


@api_router.get("/macros/{macro_pk}", response_model=MacroView, responses=REFUSALS)
async def macro(macro_pk: RowId, db: StoreDb) -> MacroView | JSONResponse:
    """One macro of the store."""
    return await answer(get_macro(db, macro_pk))


@api_router.put("/macros/{macro_pk}", response_model=MacroView, responses=REFUSALS)
async def replace_macro(
    macro_pk: MacroId, new: MacroInput, db: StoreDb, staff: ApiStaff
) -> MacroView | JSONResponse:
    """Replace a macro's name, language and text."""
    return await answer(change_macro(db, staff, macro_pk, new))


@api_router.patch("/macros/{macro_pk}", response_model=MacroView, responses=REFUSALS)
async def patch_macro(
    macro_pk: MacroId, change: MacroPatch, db: StoreDb, staff: ApiStaff
) -> MacroView | JSONResponse:
    """Change some of a macro's fields (`is_active` deactivates or reactivates it)."""
    return await answer(change_macro(db, staff, macro_pk, change))


@api_router.delete("/macros/{macro_pk}", response_model=MacroView, responses=REFUSALS)
async def deactivate_macro(
    macro_pk: RowId, db: StoreDb, staff: ApiStaff
) -> MacroView | JSONResponse:
    """Deactivate a macro: the row stays (it can be reactivated), the composer stops offering it."""
    return await answer(change_macro(db, staff, macro_pk, MacroPatch(is_active=False)))


@api_router.get("/macros/{macro_pk}/fill", response_model=FilledMacroView, responses=REFUSALS)
async def filled_macro(
    macro_pk: MacroId,
    db: StoreDb,
    staff: ApiStaff,
    message: Annotated[int, Query(ge=1, le=MAX_ROW_ID, description="The email to fill it for.")],
) -> FilledMacroView | JSONResponse:
    """The macro filled with the email's own facts; placeholders without a fact are listed."""
    store_id = staff.store_id
    assert store_id is not None  # `store_db` refused the request otherwise.
    try:
        async with db.read() as session:
            filled = await fill_macro(
                session, store_id=store_id, macro_id=macro_pk, message_pk=message
            )
    except review.ReviewError as exc:
        return refusal(exc)
    return FilledMacroView.of(filled)


# --- the page -----------------------------------------------------------------------------------


async def _page(
    request: Request,
    db: StoreDb,
    staff: Staff,
    *,
    edit: int | None = None,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listed = await list_macros(db)
    editing = next((m for m in listed if m.id == edit), None)
    if edit is not None and editing is None and error is None:
        error = {"message": f"There is no macro {edit}.", "problems": []}
        status_code = 404
    context = base_context(request, staff)
    context.update(
        macros=listed,
        editing=editing,
        # A refused post shows the staff's own text again, in the form it came from.
        new_values=form if form is not None and editing is None else EMPTY_FORM,
        edit_values=form if form is not None else editing,
        languages=sorted(languages()),
        variables=variables().root,
        notice=notice,
        error=error,
    )
    return render("macros_admin.html", context, status_code=status_code)


@page_router.get("/macros", response_class=HTMLResponse)
async def macros_page(
    request: Request,
    db: StoreDb,
    staff: PageStaff,
    done: str = "",
    edit: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    """The store's macros; `?edit=<id>` opens one in the form."""
    return await _page(request, db, staff, edit=edit, notice=NOTICES.get(done))


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'macro'}: {e['msg']}" for e in exc.errors()]


@page_router.post("/macros", response_model=None)
async def create_from_page(
    request: Request,
    db: StoreDb,
    staff: PageStaff,
    name: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Save a new macro from the page's form."""
    form = {"name": name, "language": language, "body": body}
    try:
        await create_macro(db, staff, MacroInput.model_validate(form))
    except ValidationError as exc:
        error = {"message": "the macro was not saved", "problems": _problems(exc)}
        return await _page(request, db, staff, error=error, form=form, status_code=422)
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(request, db, staff, error=error, form=form, status_code=exc.status)
    return RedirectResponse(f"{PAGE}?done=created", status_code=303)


@page_router.post("/macros/{macro_pk}", response_model=None)
async def save_from_page(
    request: Request,
    macro_pk: RowId,
    db: StoreDb,
    staff: PageStaff,
    name: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Save the edit form of one macro."""
    if not await _found(db, macro_pk):
        return not_found(request, staff, f"There is no macro {macro_pk}.")
    form = {"name": name, "language": language, "body": body}
    try:
        await change_macro(db, staff, macro_pk, MacroInput.model_validate(form))
    except ValidationError as exc:
        error = {"message": "the macro was not saved", "problems": _problems(exc)}
        return await _page(
            request, db, staff, edit=macro_pk, error=error, form=form, status_code=422
        )
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(
            request, db, staff, edit=macro_pk, error=error, form=form, status_code=exc.status
        )
    return RedirectResponse(f"{PAGE}?done=saved", status_code=303)


@page_router.post("/macros/{macro_pk}/active", response_model=None)
async def activate_from_page(
    request: Request,
    macro_pk: RowId,
    db: StoreDb,
    staff: PageStaff,
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Deactivate (`active=no`) or reactivate (`active=yes`) a macro from the list."""
    wanted = active == "yes"
    try:
        await change_macro(db, staff, macro_pk, MacroPatch(is_active=wanted))
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(request, db, staff, error=error, status_code=exc.status)
    return RedirectResponse(f"{PAGE}?done={'activated' if wanted else 'deactivated'}", 303)
