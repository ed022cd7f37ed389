"""Privacy requests for staff: what Shopify asked and what was done, and the export downloads.

`GET /admin/api/privacy-requests` lists the current store's requests with counts only;
`GET /admin/api/privacy-requests/{id}/export` downloads a data request's JSON file, to send on
to the customer, and records who downloaded it in the audit log. The work itself happens in
`app.store.privacy`. Both see the store the request acts in only (`StoreDb`); downloading an
export, which holds a customer's data, is for the store's owners.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import undefer

from app.admin.auth import StoreDb, require_api_staff
from app.admin.ids import RowId
from app.admin.schemas import FromRow, JsonObject, Problem, Schema, Timestamp
from app.admin.staff import Staff, audit
from app.db.models import PrivacyRequest
from app.db.statuses import PrivacyStatus, PrivacyTopic, StoreRole

MAX_LISTED = 200

router = APIRouter(
    prefix="/admin/api",
    tags=["privacy"],
    dependencies=[Depends(require_api_staff)],
    responses={
        401: {"model": Problem, "description": "No valid API token or staff session."},
        403: {"model": Problem, "description": "A session without the CSRF header."},
    },
)
CurrentStaff = Annotated[Staff, Depends(require_api_staff)]


class PrivacyRequestView(FromRow):
    """One privacy webhook and what was done: never the customer's address or data."""

    id: int
    topic: PrivacyTopic
    status: PrivacyStatus
    shopify_customer_id: str | None
    """Shopify's id of the customer (none for `shop/redact`)."""
    received_at: Timestamp
    due_at: Timestamp
    completed_at: Timestamp | None
    summary: JsonObject | None
    """What was found, exported or erased, as counts per table."""
    last_error: str | None
    """Why it failed or waits (it is tried again)."""
    has_export: bool
    """Whether an export file can be downloaded (`/export`)."""


class PrivacyRequestList(Schema):
    """The store's privacy requests, newest first."""

    items: list[PrivacyRequestView]


class PrivacyExport(Schema):
    """The export file of a `customers/data_request` (downloaded as an attachment)."""

    format: str
    generated_at: str
    store: JsonObject
    request: JsonObject
    customer: JsonObject
    """The customer's addresses and names as the store's rows spelled them."""
    counts: dict[str, int]
    data: dict[str, list[JsonObject]]
    """Every row found, per table, with every column but the raw bytes."""


@router.get("/privacy-requests")
async def list_privacy_requests(db: StoreDb) -> PrivacyRequestList:
    """The store's privacy requests, newest first, with counts of what was done."""
    has_export = PrivacyRequest.export.is_not(None).label("has_export")
    statement = (
        select(PrivacyRequest, has_export).order_by(PrivacyRequest.id.desc()).limit(MAX_LISTED)
    )
    async with db.read() as session:
        rows = (await session.execute(statement)).all()
    return PrivacyRequestList(items=[_view(request, bool(flag)) for request, flag in rows])


@router.get(
    "/privacy-requests/{request_id}/export",
    response_model=PrivacyExport,
    responses={
        403: {"model": Problem, "description": "Only the store's owners download exports."},
        404: {"model": Problem, "description": "No such request, or no export (yet)."},
    },
)
async def download_privacy_export(request_id: RowId, db: StoreDb, staff: CurrentStaff) -> Response:
    """Download a data request's export as a JSON file (owners only); the download is audited."""
    if staff.role is not StoreRole.OWNER:
        raise HTTPException(status_code=403, detail="only the store's owners download exports")
    async with db.write() as session:
        statement = (
            select(PrivacyRequest)
            .where(PrivacyRequest.id == request_id)
            .options(undefer(PrivacyRequest.export))
        )
        request = await session.scalar(statement)
        if request is None or request.export is None:
            raise HTTPException(status_code=404, detail="no export for this privacy request")
        export = request.export
        audit(
            session,
            staff,
            "download_privacy_export",
            target_type="privacy_request",
            target_id=request.id,
            detail={"bytes": len(export)},
        )
    filename = f"privacy-request-{request_id}.json"
    return Response(
        content=export,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _view(request: PrivacyRequest, has_export: bool) -> PrivacyRequestView:
    values: dict[str, Any] = {
        name: getattr(request, name)
        for name in PrivacyRequestView.model_fields
        if name != "has_export"
    }
    return PrivacyRequestView.model_validate({**values, "has_export": has_export})
