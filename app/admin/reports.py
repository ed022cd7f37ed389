"""Reports: how the service did for one store over a chosen period, as a page and as JSON.

`GET /admin/reports?days=N` shows the figures with a daily chart (inline SVG drawn on the
server) and `GET /admin/api/reports?days=N` answers them as a `Report`. Both read through
`StoreDb`, so the figures are the request's store's only, and both routers carry their auth
dependency themselves, like the rest of the admin. The SQL is in `app.admin.report_queries`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from app.admin import report_queries
from app.admin.after_sale_report import AfterSale, after_sale
from app.admin.auth import StoreDb, require_api_staff, require_page_staff
from app.admin.report_chart import daily_chart
from app.admin.report_views import Report
from app.admin.screens import base_context
from app.admin.staff import Staff
from app.admin.templating import render
from app.db.stores import DEFAULT_STORE_ID

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

DEFAULT_DAYS, MAX_DAYS = 30, 366
PRESETS = (7, 30, 90, 365)
Days = Annotated[
    int,
    Query(ge=1, le=MAX_DAYS, description="The last N calendar days (UTC), today included."),
]


async def _report(db: StoreDb, days: int) -> Report:
    async with db.read() as session:
        return await report_queries.report(session, days=days)


@api_router.get("/reports")
async def reports(db: StoreDb, days: Days = DEFAULT_DAYS) -> Report:
    """Automation rate, first-response times, approvals per intent, volumes and a daily series."""
    return await _report(db, days)


@api_router.get("/reports/after-sale")
async def after_sale_report(
    db: StoreDb,
    staff: Annotated[Staff, Depends(require_api_staff)],
    days: Days = DEFAULT_DAYS,
) -> AfterSale:
    """Resolution-based automation, satisfaction, follow-ups, suggested products, segments."""
    return await after_sale(db, store_id=staff.store_id or DEFAULT_STORE_ID, days=days)


@page_router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request,
    db: StoreDb,
    staff: Annotated[Staff, Depends(require_page_staff)],
    days: Days = DEFAULT_DAYS,
) -> HTMLResponse:
    """The store's figures over the chosen period, with a chart of every day."""
    figures = await _report(db, days)
    later = await after_sale(db, store_id=staff.store_id or DEFAULT_STORE_ID, days=days)
    context = base_context(request, staff)
    context.update(
        after=later,
        segments=later.segments,
        suggestions=later.products,
        report=figures,
        chart=daily_chart(figures.daily),
        presets=PRESETS,
        max_days=MAX_DAYS,
    )
    return render("reports.html", context)
