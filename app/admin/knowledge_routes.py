"""Help articles in the admin: the page `/admin/knowledge` and the JSON API `/admin/api/knowledge`.

The page lists the store's articles, tries a query with the same search the assistant's
`search_help` tool runs, and has a form to write an article; `?edit=<id>` opens a staff article
(written here or promoted from a reply) in the form. Imported ones are listed read-only: their
source is where they change. Every post carries the CSRF field and answers with a 303 back to
the page (a refused one shows the page again with the reason and the staff's text kept).

The API lists (`GET`), searches (`GET .../search?q=`), writes (`POST`), replaces (`PUT`) and
deletes (`DELETE`); changing an imported article is a 409. An unknown id is a 404 before the
body is read. Both routers carry their auth dependency, so a read-only token only reads.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.admin import review
from app.admin.answers import answer
from app.admin.auth import CurrentStore, StoreDb, require_api_staff, require_page_staff
from app.admin.ids import MAX_ROW_ID, RowId
from app.admin.knowledge_book import (
    ArticleInput,
    ArticleList,
    ArticleView,
    SearchView,
    change_article,
    create_article,
    delete_article,
    get_article,
    list_articles,
    search_articles,
)
from app.admin.schemas import Problem
from app.admin.screens import HOME, base_context
from app.admin.staff import Staff
from app.admin.templating import render
from app.db.engine import Database
from app.db.knowledge import KnowledgeArticle
from app.replies.catalogs import languages

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

ApiStaff = Annotated[Staff, Depends(require_api_staff)]
PageStaff = Annotated[Staff, Depends(require_page_staff)]
PAGE = f"{HOME}/knowledge"
NOTICES = {
    "created": "The article is saved: search_help finds it from now on.",
    "saved": "Your changes are saved: search_help finds the new text from now on.",
    "deleted": "The article is deleted: search_help no longer finds it.",
}
EMPTY_FORM = {"title": "", "body": "", "language": "", "url": "", "tags": ""}
Q = Annotated[str, Query(min_length=2, max_length=300, description="The customer's words.")]
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such article in this store."},
    409: {"model": Problem, "description": "The article is imported: change it at its source."},
    422: {"model": Problem, "description": "The URL is not on the store's site."},
}


async def _found(db: Database, article_pk: int) -> bool:
    async with db.read() as session:
        return await session.get(KnowledgeArticle, article_pk) is not None


async def existing_article(article_pk: RowId, db: StoreDb) -> int:
    """The id of an article of the request's store; 404 first, whatever else the request holds."""
    if not await _found(db, article_pk):
        raise HTTPException(status_code=404, detail=f"no article {article_pk}")
    return article_pk


ArticleId = Annotated[int, Depends(existing_article)]


# --- the JSON API -------------------------------------------------------------------------------


@api_router.get("/knowledge")
async def articles(db: StoreDb) -> ArticleList:
    """The store's help articles (every source), the most recently changed first."""
    return ArticleList(await list_articles(db))


@api_router.get("/knowledge/search")
async def search(db: StoreDb, q: Q) -> SearchView:
    """What the assistant's `search_help` tool finds for `q`: the same search and limit."""
    return await search_articles(db, q)


@api_router.get("/knowledge/{article_pk}", response_model=ArticleView, responses=REFUSALS)
async def article(article_pk: ArticleId, db: StoreDb) -> ArticleView | JSONResponse:
    """One help article of the store."""
    return await answer(get_article(db, article_pk))


@api_router.post("/knowledge", response_model=ArticleView, responses=REFUSALS)
async def new_article(
    new: ArticleInput, db: StoreDb, staff: ApiStaff, store: CurrentStore
) -> ArticleView | JSONResponse:
    """Write a new help article (source `staff`); `search_help` finds it at once."""
    return await answer(create_article(db, staff, store, new))


@api_router.put("/knowledge/{article_pk}", response_model=ArticleView, responses=REFUSALS)
async def replace_article(
    article_pk: ArticleId, new: ArticleInput, db: StoreDb, staff: ApiStaff, store: CurrentStore
) -> ArticleView | JSONResponse:
    """Replace a staff article; an imported one is a 409 (its next import would undo it)."""
    return await answer(change_article(db, staff, store, article_pk, new))


@api_router.delete("/knowledge/{article_pk}", response_model=ArticleView, responses=REFUSALS)
async def remove_article(
    article_pk: ArticleId, db: StoreDb, staff: ApiStaff
) -> ArticleView | JSONResponse:
    """Delete a staff article and its passages; answers with the article as it was."""
    return await answer(delete_article(db, staff, article_pk))


# --- the page -----------------------------------------------------------------------------------


def _form_values(view: ArticleView) -> dict[str, str]:
    return {
        "title": view.title,
        "body": view.body,
        "language": view.language,
        "url": view.url or "",
        "tags": ", ".join(view.tags),
    }


async def _page(
    request: Request,
    db: StoreDb,
    staff: Staff,
    *,
    query: str = "",
    edit: int | None = None,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listed = await list_articles(db)
    editing = next((a for a in listed if a.id == edit and a.editable), None)
    if edit is not None and editing is None and error is None:
        known = any(a.id == edit for a in listed)
        message = f"Article {edit} is imported: change it at its source." if known else None
        error = {"message": message or f"There is no article {edit}.", "problems": []}
        status_code = 409 if known else 404
    found = await search_articles(db, query) if len(query.strip()) >= 2 else None
    context = base_context(request, staff)
    context.update(
        articles=listed,
        editing=editing,
        # A refused post shows the staff's own text again, in the form it came from.
        new_values=form if form is not None and editing is None else EMPTY_FORM,
        edit_values=form if form is not None else (_form_values(editing) if editing else None),
        languages=sorted(languages()),
        query=query,
        found=found,
        notice=notice,
        error=error,
    )
    return render("knowledge.html", context, status_code=status_code)


@page_router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(
    request: Request,
    db: StoreDb,
    staff: PageStaff,
    done: str = "",
    q: Annotated[str, Query(max_length=300)] = "",
    edit: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    """The store's help articles; `?q=` tries the search, `?edit=<id>` opens one in the form."""
    return await _page(request, db, staff, query=q, edit=edit, notice=NOTICES.get(done))


def _problems(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(map(str, e['loc'])) or 'article'}: {e['msg']}" for e in exc.errors()]


def _input(form: dict[str, str]) -> ArticleInput:
    tags = [tag for tag in form["tags"].split(",") if tag.strip()]
    return ArticleInput.model_validate({**form, "url": form["url"] or None, "tags": tags})


async def _saved(
    request: Request,
    db: Database,
    staff: Staff,
    work: Awaitable[ArticleView],
    form: dict[str, str],
    *,
    edit: int | None,
    done: str,
) -> Response:
    """Post/redirect/get: 303 to the page once saved, else the page with the reason."""
    try:
        await work
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(
            request, db, staff, edit=edit, error=error, form=form, status_code=exc.status
        )
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)


def _refused(exc: ValidationError) -> dict[str, Any]:
    return {"message": "the article was not saved", "problems": _problems(exc)}


@page_router.post("/knowledge", response_model=None)
async def create_from_page(
    request: Request,
    db: StoreDb,
    staff: PageStaff,
    store: CurrentStore,
    title: Annotated[str, Form(max_length=300)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Save a new article from the page's form."""
    form = {"title": title, "body": body, "language": language, "url": url, "tags": tags}
    try:
        new = _input(form)
    except ValidationError as exc:
        return await _page(request, db, staff, error=_refused(exc), form=form, status_code=422)
    work = create_article(db, staff, store, new)
    return await _saved(request, db, staff, work, form, edit=None, done="created")


@page_router.post("/knowledge/{article_pk}", response_model=None)
async def save_from_page(
    request: Request,
    article_pk: ArticleId,
    db: StoreDb,
    staff: PageStaff,
    store: CurrentStore,
    title: Annotated[str, Form(max_length=300)] = "",
    body: Annotated[str, Form(max_length=20_000)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
    url: Annotated[str, Form(max_length=2000)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Save the edit form of one staff article."""
    form = {"title": title, "body": body, "language": language, "url": url, "tags": tags}
    try:
        new = _input(form)
    except ValidationError as exc:
        return await _page(
            request, db, staff, edit=article_pk, error=_refused(exc), form=form, status_code=422
        )
    work = change_article(db, staff, store, article_pk, new)
    return await _saved(request, db, staff, work, form, edit=article_pk, done="saved")


@page_router.post("/knowledge/{article_pk}/delete", response_model=None)
async def delete_from_page(
    request: Request, article_pk: ArticleId, db: StoreDb, staff: PageStaff
) -> Response:
    """Delete one staff article from the list."""
    try:
        await delete_article(db, staff, article_pk)
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(request, db, staff, error=error, status_code=exc.status)
    return RedirectResponse(f"{PAGE}?done=deleted", status_code=303)
