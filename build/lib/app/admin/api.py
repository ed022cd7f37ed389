"""The admin JSON API under /admin/api: the queue, traces, decisions on drafts and proposals.

Authentication is a dependency of the router itself (`require_api_staff`), so every route here
is protected, including ones added later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.admin import reporting, review
from app.admin.auth import require_api_staff
from app.admin.staff import Staff
from app.state import AppState, get_state

router = APIRouter(prefix="/admin/api", dependencies=[Depends(require_api_staff)])

State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_api_staff)]


class ApproveBody(BaseModel):
    """Approve a draft as it is (no text), or with the text as edited."""

    text: str | None = Field(default=None, max_length=review.MAX_REPLY_CHARS)


class ReasonBody(BaseModel):
    """Why something is rejected."""

    reason: str = Field(min_length=1, max_length=review.MAX_REASON_CHARS)


def _error(exc: review.ReviewError) -> JSONResponse:
    return JSONResponse(
        status_code=exc.status, content={"detail": str(exc), "problems": exc.problems}
    )


@router.get("/me")
async def me(staff: CurrentStaff) -> dict[str, Any]:
    """Who the credentials belong to."""
    return {"email": staff.email, "name": staff.name}


@router.get("/messages")
async def list_messages(
    state: State,
    status: Annotated[str | None, Query(description="draft, sent, skipped, ...")] = None,
    intent: str | None = None,
    verified: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=reporting.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """The queue, newest first, filtered; page on with `before_id=next_before_id`."""
    if status is not None and status not in reporting.QUEUE_FILTERS:
        raise HTTPException(
            status_code=422,
            detail=f"status must be one of: {', '.join(reporting.QUEUE_FILTERS)}",
        )
    wanted = reporting.QueueFilter(
        status=status,
        intent=intent,
        verified=verified,
        since=since,
        until=until,
        text=q,
        before_id=before_id,
        limit=limit,
    )
    async with state.db.read() as session:
        return await reporting.list_messages(session, wanted)


@router.get("/conversations")
async def list_conversations(
    state: State,
    q: Annotated[str | None, Query(max_length=200)] = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=reporting.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Threads, newest first, searchable by customer address or subject."""
    async with state.db.read() as session:
        return await reporting.list_conversations(session, text=q, before_id=before_id, limit=limit)


@router.get("/messages/{message_pk}")
async def message_trace(message_pk: int, state: State) -> dict[str, Any]:
    """One email's whole trace."""
    async with state.db.read() as session:
        trace = await reporting.message_trace(session, message_pk)
    if trace is None:
        raise HTTPException(status_code=404, detail=f"no message {message_pk}")
    return trace


@router.post("/messages/{message_pk}/rerun", response_model=None)
async def rerun(
    message_pk: int, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Plan the email again with the current prompt and tools."""
    try:
        outcome = await review.rerun_agent(state.db, message_pk, staff=staff)
    except review.ReviewError as exc:
        return _error(exc)
    state.notify_worker()
    return {"id": outcome.id, "status": outcome.status}


@router.post("/replies/{reply_pk}/approve", response_model=None)
async def approve(
    reply_pk: int, body: ApproveBody, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Send a draft as it is, or edited; the checks run again on the final text."""
    try:
        outcome = await review.approve_draft(
            state.db, reply_pk, staff=staff, settings=state.settings, text=body.text
        )
    except review.ReviewError as exc:
        return _error(exc)
    state.notify_worker()
    return {"id": outcome.id, "status": outcome.status, **outcome.detail}


@router.post("/replies/{reply_pk}/reject", response_model=None)
async def reject(
    reply_pk: int, body: ReasonBody, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Reject a draft; nothing is sent."""
    try:
        outcome = await review.reject_draft(state.db, reply_pk, staff=staff, reason=body.reason)
    except review.ReviewError as exc:
        return _error(exc)
    return {"id": outcome.id, "status": outcome.status}


@router.get("/proposals")
async def proposals(state: State, status: str | None = "pending") -> list[dict[str, Any]]:
    """Proposed store changes (pending ones unless `status` says otherwise; empty for all)."""
    async with state.db.read() as session:
        return await reporting.list_proposals(session, status=status or None)


@router.post("/proposals/{proposal_pk}/approve", response_model=None)
async def approve_proposal(
    proposal_pk: int, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Carry out a proposed store change against the store; the result is recorded."""
    try:
        outcome = await review.approve_proposal(
            state.db, proposal_pk, staff=staff, providers=state.providers
        )
    except review.ReviewError as exc:
        return _error(exc)
    return {"id": outcome.id, "status": outcome.status, "result": outcome.detail}


@router.post("/proposals/{proposal_pk}/reject", response_model=None)
async def reject_proposal(
    proposal_pk: int, body: ReasonBody, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Decline a proposed store change."""
    try:
        outcome = await review.reject_proposal(
            state.db, proposal_pk, staff=staff, reason=body.reason
        )
    except review.ReviewError as exc:
        return _error(exc)
    return {"id": outcome.id, "status": outcome.status}


@router.post("/replies/{reply_pk}/resend", response_model=None)
async def resend(reply_pk: int, state: State, staff: CurrentStaff) -> dict[str, Any] | JSONResponse:
    """Send an unknown or dead reply again, after checking the customer did not get it."""
    try:
        outcome = await review.resend_reply(state.db, reply_pk, staff=staff)
    except review.ReviewError as exc:
        return _error(exc)
    state.notify_worker()
    return {"id": outcome.id, "status": outcome.status}


@router.get("/jobs")
async def jobs(state: State, status: str | None = "dead") -> list[dict[str, Any]]:
    """Background jobs (dead-lettered ones unless `status` says otherwise; empty for all)."""
    async with state.db.read() as session:
        return await reporting.list_jobs(session, status=status or None)


@router.post("/jobs/{job_pk}/retry", response_model=None)
async def retry_job(
    job_pk: int, state: State, staff: CurrentStaff
) -> dict[str, Any] | JSONResponse:
    """Put a dead-lettered job back in the queue."""
    try:
        outcome = await review.retry_dead_job(state.db, job_pk, staff=staff)
    except review.ReviewError as exc:
        return _error(exc)
    state.notify_worker()
    return {"id": outcome.id, "status": outcome.status}


@router.get("/summary")
async def summary(state: State, days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
    """Volume, automation rate, first-response time, approvals as is, tokens and cost per day."""
    prices = reporting.Prices(
        input_per_million=state.settings.OPENAI_PRICE_INPUT_PER_MILLION,
        output_per_million=state.settings.OPENAI_PRICE_OUTPUT_PER_MILLION,
    )
    async with state.db.read() as session:
        return await reporting.summary(session, days=days, prices=prices)
