"""The admin JSON API under /admin/api (the queue, traces, decisions, figures) and its docs.

Authentication is a dependency of the router itself (`require_api_staff`), so every route here
is protected, including ones added later, and so are the interactive docs at /admin/docs and the
OpenAPI schema at /admin/openapi.json. Every route declares its response model (from
`app.admin.schemas`), and a parameter that takes a status takes its enum: a typo is a 422.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.admin import docs, figures, reporting, review, views, workspace_reads
from app.admin.auth import CurrentStore, StoreDb, require_api_staff
from app.admin.filters import QUEUE_FILTER_HELP, QueueFilter
from app.admin.ids import CursorId, RowId
from app.admin.mail_views import MailboxView
from app.admin.report_views import Summary
from app.admin.schemas import (
    ApprovalOutcome,
    ConversationPage,
    JobList,
    JobOutcome,
    MessageOutcome,
    Problem,
    ProposalList,
    ProposalOutcome,
    ProposalResult,
    ReplyOutcome,
    StaffView,
    TokenList,
    TokenView,
)
from app.admin.shops import store_shop
from app.admin.staff import Staff, audit
from app.admin.tokens import list_api_tokens, revoke_api_token
from app.admin.views import VIEW_HELP, InboxView
from app.admin.workspace_schemas import InboxPage, MessageWork
from app.agent.plan import Intent
from app.db.statuses import (
    JobStatus,
    MessageStatus,
    ProposalStatus,
    RejectCategory,
    ReplyStatus,
)
from app.intake.mailbox import mailbox_status
from app.state import AppState, get_state

API = "/api"
router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_api_staff)],
    responses={
        401: {"model": Problem, "description": "No valid API token or staff session."},
        403: {
            "model": Problem,
            "description": "A session without the CSRF header, or a change with a read-only token.",
        },
    },
)

State = Annotated[AppState, Depends(get_state)]
CurrentStaff = Annotated[Staff, Depends(require_api_staff)]
# How a refused decision is answered (a 422 can also be a malformed request).
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The request cannot be done as asked."},
    404: {"model": Problem, "description": "No such record."},
    409: {"model": Problem, "description": "Someone else decided first, or it is too late."},
    422: {"model": Problem, "description": "The checks refused it (`problems` says why)."},
}


class ApproveBody(BaseModel):
    """Approve a draft as it is (no text), or with the text as edited."""

    text: str | None = Field(default=None, max_length=review.MAX_REPLY_CHARS)
    confirm_unverified: bool = False
    """Send even though the sender could not be verified (staff know who this is)."""
    revision: int | None = Field(default=None, ge=0)
    """The draft's revision the decision was made on (needed once someone saved an edit)."""


class ReasonBody(BaseModel):
    """Why something is rejected."""

    reason: str = Field(min_length=1, max_length=review.MAX_REASON_CHARS)


class RejectBody(ReasonBody):
    """Why a draft is rejected; `category` "wrong_fact" counts against the intent's autonomy."""

    category: RejectCategory | None = None


S = TypeVar("S", MessageStatus, ReplyStatus, ProposalStatus, JobStatus)


async def decide(action: Awaitable[review.Outcome[S]]) -> review.Outcome[S] | JSONResponse:
    """Run a staff decision; a refusal becomes its JSON answer (`Problem`) with its status."""
    try:
        return await action
    except review.ReviewError as exc:
        content = Problem(detail=str(exc), problems=exc.problems)
        return JSONResponse(status_code=exc.status, content=content.model_dump())


@router.get(f"{API}/me")
async def me(staff: CurrentStaff) -> StaffView:
    """Who the credentials belong to."""
    return StaffView.model_validate(staff)


@router.get(f"{API}/messages")
async def list_messages(
    db: StoreDb,
    staff: CurrentStaff,
    view: Annotated[InboxView, Query(description=VIEW_HELP)] = InboxView.ALL,
    status: Annotated[QueueFilter | None, Query(description=QUEUE_FILTER_HELP)] = None,
    intent: Intent | None = None,
    verified: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    customer: Annotated[str | None, Query(max_length=320)] = None,
    before_id: CursorId = None,
    after_id: CursorId = None,
    limit: Annotated[int, Query(ge=1, le=reporting.MAX_PAGE)] = 50,
) -> InboxPage:
    """An inbox view, filtered, with every view's count.

    The views of work to do (`needs_action`, `mine`, `unassigned`) list the oldest first (page
    on with `after_id=next_after_id`); the others the newest first (`before_id=next_before_id`).
    """
    wanted = reporting.QueueQuery(
        status=status,
        intent=intent,
        verified=verified,
        since=since,
        until=until,
        text=q,
        customer=customer,
        before_id=before_id,
        after_id=after_id,
        oldest_first=view.oldest_first,
        by_priority=view.by_priority,
        where=(views.condition(view, staff.id),),
        limit=limit,
    )
    async with db.read() as session:
        page = await reporting.list_messages(session, wanted)
        counts = await views.counts(session, staff.id)
    return InboxPage(**dict(page), view=view.value, counts=counts)


@router.get(f"{API}/conversations")
async def list_conversations(
    db: StoreDb,
    q: Annotated[str | None, Query(max_length=200)] = None,
    before_id: CursorId = None,
    limit: Annotated[int, Query(ge=1, le=reporting.MAX_PAGE)] = 50,
) -> ConversationPage:
    """Threads, newest first, searchable by customer address or subject."""
    async with db.read() as session:
        return await reporting.list_conversations(session, text=q, before_id=before_id, limit=limit)


@router.get(f"{API}/messages/{{message_pk}}", responses={404: REFUSALS[404]})
async def message_trace(message_pk: RowId, db: StoreDb, staff: CurrentStaff) -> MessageWork:
    """One email's whole trace, with its notes, its assignee and who else has it open."""
    async with db.read() as session:
        work = await workspace_reads.message_work(session, message_pk, staff=staff)
    if work is None:
        raise HTTPException(status_code=404, detail=f"no message {message_pk}")
    return work


@router.post(
    f"{API}/messages/{{message_pk}}/rerun", response_model=MessageOutcome, responses=REFUSALS
)
async def rerun(
    message_pk: RowId, state: State, db: StoreDb, staff: CurrentStaff
) -> MessageOutcome | JSONResponse:
    """Plan the email again with the current prompt and tools."""
    outcome = await decide(review.rerun_agent(db, message_pk, staff=staff))
    if isinstance(outcome, JSONResponse):
        return outcome
    state.notify_worker()
    return MessageOutcome(id=outcome.id, status=outcome.status)


@router.post(
    f"{API}/replies/{{reply_pk}}/approve", response_model=ApprovalOutcome, responses=REFUSALS
)
async def approve(
    reply_pk: RowId,
    body: ApproveBody,
    state: State,
    db: StoreDb,
    store: CurrentStore,
    staff: CurrentStaff,
) -> ApprovalOutcome | JSONResponse:
    """Send a draft as it is, or edited; the checks run again on the final text."""
    outcome = await decide(
        review.approve_draft(
            db,
            reply_pk,
            staff=staff,
            settings=state.settings,
            store=store,
            text=body.text,
            confirm_unverified=body.confirm_unverified,
            revision=body.revision,
        )
    )
    if isinstance(outcome, JSONResponse):
        return outcome
    state.notify_worker()
    return ApprovalOutcome(
        id=outcome.id, status=outcome.status, edit_distance=outcome.detail["edit_distance"]
    )


@router.post(f"{API}/replies/{{reply_pk}}/reject", response_model=ReplyOutcome, responses=REFUSALS)
async def reject(
    reply_pk: RowId, body: RejectBody, db: StoreDb, staff: CurrentStaff
) -> ReplyOutcome | JSONResponse:
    """Reject a draft; nothing is sent."""
    outcome = await decide(
        review.reject_draft(db, reply_pk, staff=staff, reason=body.reason, category=body.category)
    )
    if isinstance(outcome, JSONResponse):
        return outcome
    return ReplyOutcome(id=outcome.id, status=outcome.status)


@router.get(f"{API}/proposals")
async def proposals(
    db: StoreDb,
    status: Annotated[
        ProposalStatus | Literal[""], Query(description="Empty for every status.")
    ] = ProposalStatus.PENDING,
) -> ProposalList:
    """Proposed store changes (pending ones unless `status` says otherwise)."""
    async with db.read() as session:
        found = await reporting.list_proposals(session, status=status or None)
    return ProposalList(found)


@router.post(
    f"{API}/proposals/{{proposal_pk}}/approve",
    response_model=ProposalResult,
    responses=REFUSALS,
)
async def approve_proposal(
    proposal_pk: RowId, state: State, db: StoreDb, staff: CurrentStaff
) -> ProposalResult | JSONResponse:
    """Carry out a proposed store change against the store; the result is recorded."""
    outcome = await decide(
        review.approve_proposal(
            db, proposal_pk, staff=staff, shop=await store_shop(state, staff.store_id)
        )
    )
    if isinstance(outcome, JSONResponse):
        return outcome
    return ProposalResult(id=outcome.id, status=outcome.status, result=outcome.detail)


@router.post(
    f"{API}/proposals/{{proposal_pk}}/reject",
    response_model=ProposalOutcome,
    responses=REFUSALS,
)
async def reject_proposal(
    proposal_pk: RowId, body: ReasonBody, db: StoreDb, staff: CurrentStaff
) -> ProposalOutcome | JSONResponse:
    """Decline a proposed store change."""
    outcome = await decide(review.reject_proposal(db, proposal_pk, staff=staff, reason=body.reason))
    if isinstance(outcome, JSONResponse):
        return outcome
    return ProposalOutcome(id=outcome.id, status=outcome.status)


@router.post(f"{API}/replies/{{reply_pk}}/resend", response_model=ReplyOutcome, responses=REFUSALS)
async def resend(
    reply_pk: RowId, state: State, db: StoreDb, staff: CurrentStaff
) -> ReplyOutcome | JSONResponse:
    """Send an unknown or dead reply again, after checking the customer did not get it."""
    outcome = await decide(review.resend_reply(db, reply_pk, staff=staff))
    if isinstance(outcome, JSONResponse):
        return outcome
    state.notify_worker()
    return ReplyOutcome(id=outcome.id, status=outcome.status)


@router.get(f"{API}/jobs")
async def jobs(
    db: StoreDb,
    status: Annotated[
        JobStatus | Literal[""], Query(description="Empty for every status.")
    ] = JobStatus.DEAD,
) -> JobList:
    """Background jobs (dead-lettered ones unless `status` says otherwise)."""
    async with db.read() as session:
        return JobList(await reporting.list_jobs(session, status=status or None))


@router.get(f"{API}/mailbox")
async def mailbox(state: State) -> MailboxView:
    """The connected mailbox's state: connected, reconnecting, failed (with why), stale, or off."""
    return MailboxView.model_validate(await mailbox_status(state.db, state.settings))


@router.post(f"{API}/jobs/{{job_pk}}/retry", response_model=JobOutcome, responses=REFUSALS)
async def retry_job(
    job_pk: RowId, state: State, db: StoreDb, staff: CurrentStaff
) -> JobOutcome | JSONResponse:
    """Put a dead-lettered job back in the queue."""
    outcome = await decide(review.retry_dead_job(db, job_pk, staff=staff))
    if isinstance(outcome, JSONResponse):
        return outcome
    state.notify_worker()
    return JobOutcome(id=outcome.id, status=outcome.status)


@router.get(f"{API}/summary")
async def summary(
    state: State, db: StoreDb, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> Summary:
    """Volume, automation rate, first-response time, approvals as is, tokens and cost per day."""
    prices = figures.Prices(
        input_per_million=state.settings.OPENAI_PRICE_INPUT_PER_MILLION,
        output_per_million=state.settings.OPENAI_PRICE_OUTPUT_PER_MILLION,
    )
    async with db.read() as session:
        return await figures.summary(session, days=days, prices=prices)


@router.get(f"{API}/tokens")
async def tokens(state: State, staff: CurrentStaff) -> TokenList:
    """The caller's own API tokens (any state); the secrets themselves are never shown again."""
    async with state.db.read() as session:
        found = await list_api_tokens(session, staff_id=staff.id)
    return TokenList([TokenView.model_validate(token) for token in found])


@router.delete(f"{API}/tokens/{{token_pk}}", responses={404: REFUSALS[404]})
async def revoke_token(token_pk: RowId, state: State, staff: CurrentStaff) -> TokenView:
    """Revoke one of the caller's tokens (it may be the one in use); revoking twice is harmless."""
    # Tokens belong to the account, not a store: the audit entry names no store.
    async with state.db.write() as session:
        revoked = await revoke_api_token(session, token_pk, staff_id=staff.id)
        if revoked is not None:
            audit(session, staff, "revoke_api_token", target_type="api_token", target_id=token_pk)
    if revoked is None:
        raise HTTPException(status_code=404, detail=f"no token {token_pk} of yours")
    return TokenView.model_validate(revoked)


# The docs of this API, behind the same login; not part of the schema they show.
router.add_api_route("/openapi.json", docs.openapi_schema, include_in_schema=False)
router.add_api_route("/docs", docs.docs_page, include_in_schema=False)
router.add_api_route("/docs/{asset}", docs.docs_asset, include_in_schema=False)
