"""Replies as examples for the model, and as knowledge articles: the API and the page's forms.

`POST /admin/api/replies/{id}/example` {mark: use|never|auto} marks a sent reply (kept as an
example first if it was not: a reply the service sent on its own can be chosen too);
`POST /admin/api/replies/{id}/promote` {title, language, body?} makes it a staff knowledge
article, customer data taken out. The page posts the same from `thread/_example.html`
(CSRF field, 303 back to the email). An unknown reply is a 404 before the body is read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.admin import review
from app.admin.auth import StoreDb, require_api_staff, require_page_staff
from app.admin.ids import RowId
from app.admin.schemas import Problem
from app.admin.screens import HOME, review_error, thread_page
from app.admin.staff import Staff, audit
from app.db.engine import Database
from app.db.examples import ExampleMark
from app.db.models import Reply
from app.state import AppState, get_state
from app.store.examples import ExampleRefused
from app.store.examples.library import mark_reply_in, promote_in

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)
ApiStaff = Annotated[Staff, Depends(require_api_staff)]
PageStaff = Annotated[Staff, Depends(require_page_staff)]
State = Annotated[AppState, Depends(get_state)]
REFUSALS: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "No such reply in this store."},
    409: {"model": Problem, "description": "The reply is not sent, or already an article."},
}


class ExampleChoice(BaseModel):
    """What staff say of a reply as an example for the model."""

    mark: ExampleMark


class Promotion(BaseModel):
    """A reply made a knowledge article."""

    title: str = Field(min_length=1, max_length=300)
    language: str = Field(min_length=2, max_length=35)
    body: str | None = Field(
        default=None,
        max_length=20_000,
        description="The article's text; by default the reply without its customer lines.",
    )


class ExampleView(BaseModel):
    """A reply's example after the change."""

    reply_id: int
    mark: ExampleMark
    intent: str
    language: str


class ArticleView(BaseModel):
    """The knowledge article a reply became."""

    reply_id: int
    article_id: int


async def existing_reply(reply_pk: RowId, db: StoreDb) -> int:
    """The id of a reply of the request's store; 404 first, whatever else the request holds."""
    async with db.read() as session:
        found = await session.get(Reply, reply_pk)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no reply {reply_pk}")
    return reply_pk


ReplyId = Annotated[int, Depends(existing_reply)]


async def mark_reply(db: Database, staff: Staff, reply_pk: int, mark: ExampleMark) -> ExampleView:
    """Mark the reply and audit it; `ExampleRefused` becomes a 409 `review.Conflict`."""
    async with db.write() as session:
        try:
            example = await session.run_sync(
                lambda s: mark_reply_in(s, reply_pk, mark, staff_email=staff.email)
            )
        except ExampleRefused as exc:
            raise review.Conflict(str(exc)) from exc
        view = ExampleView(
            reply_id=reply_pk, mark=example.mark, intent=example.intent, language=example.language
        )
        audit(
            session,
            staff,
            "mark_example",
            target_type="reply",
            target_id=reply_pk,
            message_id=example.message_id,
            detail={"mark": mark.value},
        )
    return view


async def promote_reply(db: Database, staff: Staff, reply_pk: int, wanted: Promotion) -> int:
    """Make the reply a staff article and audit it; returns the article's id."""

    def promote(session: Session) -> int:
        return promote_in(
            session, reply_pk, title=wanted.title, language=wanted.language, body=wanted.body
        )

    async with db.write() as session:
        try:
            article_id = await session.run_sync(promote)
        except ExampleRefused as exc:
            raise review.Conflict(str(exc)) from exc
        audit(
            session,
            staff,
            "promote_reply",
            target_type="reply",
            target_id=reply_pk,
            detail={"article_id": article_id, "title": wanted.title},
        )
    return article_id


def _refusal(exc: review.ReviewError) -> JSONResponse:
    content = Problem(detail=str(exc), problems=exc.problems)
    return JSONResponse(status_code=exc.status, content=content.model_dump())


@api_router.post("/replies/{reply_pk}/example", response_model=ExampleView, responses=REFUSALS)
async def example(
    reply_pk: ReplyId, choice: ExampleChoice, db: StoreDb, staff: ApiStaff
) -> ExampleView | JSONResponse:
    """Mark a sent reply as an example for the model: `use`, `never`, or `auto` (by similarity)."""
    try:
        return await mark_reply(db, staff, reply_pk, choice.mark)
    except review.ReviewError as exc:
        return _refusal(exc)


@api_router.post("/replies/{reply_pk}/promote", response_model=ArticleView, responses=REFUSALS)
async def promote(
    reply_pk: ReplyId, wanted: Promotion, db: StoreDb, staff: ApiStaff
) -> ArticleView | JSONResponse:
    """Make a sent reply a knowledge article (staff source), without the customer's data."""
    try:
        return ArticleView(
            reply_id=reply_pk, article_id=await promote_reply(db, staff, reply_pk, wanted)
        )
    except review.ReviewError as exc:
        return _refusal(exc)


# --- the page's forms (thread/_example.html) ----------------------------------------------------


async def _message_of(db: Database, reply_pk: int) -> int:
    async with db.read() as session:
        reply = await session.get(Reply, reply_pk)
    assert reply is not None  # `existing_reply` answered 404 otherwise.
    return reply.message_id


@page_router.post("/replies/{reply_pk}/example", response_model=None)
async def example_from_page(
    request: Request,
    reply_pk: ReplyId,
    state: State,
    db: StoreDb,
    staff: PageStaff,
    mark: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Mark the reply from the thread page, then back to the email."""
    message_pk = await _message_of(db, reply_pk)
    try:
        if mark not in {m.value for m in ExampleMark}:
            raise review.Blocked(f"mark must be one of {', '.join(m.value for m in ExampleMark)}")
        await mark_reply(db, staff, reply_pk, ExampleMark(mark))
    except review.ReviewError as exc:
        return await thread_page(
            request, state, db, staff, message_pk, error=review_error(exc), status_code=exc.status
        )
    return RedirectResponse(f"{HOME}/messages/{message_pk}?done=example-{mark}", 303)


@page_router.post("/replies/{reply_pk}/promote", response_model=None)
async def promote_from_page(
    request: Request,
    reply_pk: ReplyId,
    state: State,
    db: StoreDb,
    staff: PageStaff,
    title: Annotated[str, Form(max_length=300)] = "",
    language: Annotated[str, Form(max_length=35)] = "",
) -> Response:
    """Promote the reply to a knowledge article from the thread page, then back to the email."""
    message_pk = await _message_of(db, reply_pk)
    try:
        if not title.strip() or len(language.strip()) < 2:
            raise review.Blocked("an article needs a title and a language")
        await promote_reply(db, staff, reply_pk, Promotion(title=title, language=language))
    except review.ReviewError as exc:
        return await thread_page(
            request, state, db, staff, message_pk, error=review_error(exc), status_code=exc.status
        )
    return RedirectResponse(f"{HOME}/messages/{message_pk}?done=promoted", 303)
