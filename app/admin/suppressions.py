"""The suppression list: addresses that bounced hard or reported a reply as spam, and lifting them.

An address on a store's list gets no automated reply (the send policy holds it as a draft
with the reason); staff see the entry on the email and lift it when the address works again
(`POST /admin/api/suppressions/{id}/lift`, or the button on the email page). Lifting is a
conditional update, so two people lifting at once cause one change, and it is audited. Both
routers carry their auth dependency themselves, like the rest of the admin.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select, update

from app.admin import review
from app.admin.auth import StoreDb, require_api_staff, require_page_staff
from app.admin.ids import RowId
from app.admin.mail_views import SuppressionList
from app.admin.schemas import Problem, SuppressionView
from app.admin.screens import HOME, not_found, review_error, thread_page
from app.admin.staff import Staff, audit
from app.db.engine import Database
from app.db.models import Reply, Suppression, utcnow
from app.state import AppState, get_state

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

MAX_LISTED = 500
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such suppression in this store."},
    409: {"model": Problem, "description": "It was lifted already."},
}


async def lift(db: Database, suppression_pk: int, *, staff: Staff) -> SuppressionView:
    """Lift one suppression of the staff member's store; automated replies go there again."""
    async with db.write() as session:
        found = await session.get(Suppression, suppression_pk)
        if found is None:
            raise review.NotFound(f"no suppression {suppression_pk}")
        lifted = await session.execute(
            update(Suppression)
            .where(Suppression.id == suppression_pk, Suppression.lifted_at.is_(None))
            .values(lifted_at=utcnow(), lifted_by=staff.email)
        )
        if lifted.rowcount != 1:  # type: ignore[attr-defined]
            raise review.Conflict(f"{found.address} was lifted already by {found.lifted_by}")
        reply = await session.get(Reply, found.reply_id) if found.reply_id else None
        audit(
            session,
            staff,
            "lift_suppression",
            target_type="suppression",
            target_id=suppression_pk,
            message_id=reply.message_id if reply is not None else None,
            detail={"address": found.address, "kind": found.kind, "reason": found.reason},
        )
        await session.refresh(found)
        return SuppressionView.model_validate(found)


# --- the JSON API -------------------------------------------------------------------------------


@api_router.get("/suppressions")
async def suppressions(
    db: StoreDb,
    lifted: Annotated[bool, Query(description="Include entries staff lifted.")] = False,
) -> SuppressionList:
    """The store's suppressed addresses, newest first (those in force unless `lifted`)."""
    statement = select(Suppression).order_by(
        Suppression.suppressed_at.desc(), Suppression.id.desc()
    )
    if not lifted:
        statement = statement.where(Suppression.lifted_at.is_(None))
    async with db.read() as session:
        found = (await session.execute(statement.limit(MAX_LISTED))).scalars()
        return SuppressionList([SuppressionView.model_validate(row) for row in found])


@api_router.post(
    "/suppressions/{suppression_pk}/lift", response_model=SuppressionView, responses=REFUSALS
)
async def lift_suppression(
    suppression_pk: RowId, db: StoreDb, staff: Annotated[Staff, Depends(require_api_staff)]
) -> SuppressionView | JSONResponse:
    """Lift a suppression: automated replies go to the address again."""
    try:
        return await lift(db, suppression_pk, staff=staff)
    except review.ReviewError as exc:
        content = Problem(detail=str(exc), problems=exc.problems)
        return JSONResponse(status_code=exc.status, content=content.model_dump())


# --- the email page's button --------------------------------------------------------------------


@page_router.post("/suppressions/{suppression_pk}/lift", response_model=None)
async def lift_from_page(
    request: Request,
    suppression_pk: RowId,
    state: Annotated[AppState, Depends(get_state)],
    db: StoreDb,
    staff: Annotated[Staff, Depends(require_page_staff)],
    message: Annotated[int | None, Form(ge=1)] = None,
) -> Response:
    """Lift from the email page (`message`), and go back to it."""
    try:
        await lift(db, suppression_pk, staff=staff)
    except review.ReviewError as exc:
        if message is None:
            if isinstance(exc, review.NotFound):
                return not_found(request, staff, str(exc))
            return RedirectResponse(HOME, status_code=303)
        return await thread_page(
            request, state, db, staff, message, error=review_error(exc), status_code=exc.status
        )
    back = f"{HOME}/messages/{message}?done=lifted" if message is not None else HOME
    return RedirectResponse(back, status_code=303)
