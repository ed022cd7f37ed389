"""Autonomy per intent in the admin: each intent's level, what was measured, and the owner's click.

`GET /admin/autonomy` (the page) and `GET /admin/api/autonomy` (JSON) list every intent and
language the store has replies or a level for: the level, the approved-as-is rate over the
window and its sample size, wrong facts, shadow mode's would-have-sent count, and whether it is
proposed for `auto`. Owners set a level (`POST /admin/api/autonomy/{intent}/{language}`, or the
page's forms); `auto` only once it is proposed. The rules are in `app.replies.autonomy`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.admin import review
from app.admin.auth import CurrentStore, StoreDb, require_api_staff, require_page_staff
from app.admin.schemas import Problem, Schema, Timestamp
from app.admin.screens import HOME, base_context
from app.admin.staff import Staff
from app.admin.staff_routes import require_api_owner, require_page_owner
from app.admin.templating import render
from app.agent.plan import Intent
from app.db.engine import Database
from app.db.statuses import AutonomyLevel, StoreRole
from app.replies import autonomy
from app.state import AppState, get_state
from app.store.directory import StoreConfig

api_router = APIRouter(
    prefix="/admin/api", tags=["admin"], dependencies=[Depends(require_api_staff)]
)
page_router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_page_staff)], include_in_schema=False
)

PAGE = f"{HOME}/autonomy"
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid API token or staff session."},
    403: {"model": Problem, "description": "Not an owner of this store, or a read-only token."},
    404: {"model": Problem, "description": "No such intent."},
    409: {"model": Problem, "description": "Not proposed for auto, or already at that level."},
}
NOTICES = {"set": "The level is set.", "promoted": "Promoted: the service now sends it."}


async def _rules(state: Annotated[AppState, Depends(get_state)]) -> autonomy.Rules:
    return autonomy.Rules.from_settings(state.settings)


Rules = Annotated[autonomy.Rules, Depends(_rules)]


class Measured(Schema):
    """What staff did with the last reviewed drafts of one intent in one language."""

    sample: int
    """Reviewed drafts in the window (at most `window`)."""
    approved_as_is: int
    edited: int
    rejected: int
    wrong_facts: int
    """Rejected for a wrong fact: any one blocks the proposal (and demotes `auto`)."""
    rate: float | None
    """Approved as is / sample (null before any review)."""


class IntentStanding(Schema):
    """One intent in one language."""

    intent: str
    language: str
    level: AutonomyLevel
    configured: bool
    """False: no owner set it; it is at the starting level."""
    sends: bool
    """Whether its replies may go out on their own now: `auto` and in AUTO_SEND_INTENTS."""
    capped: bool
    """At `auto`, but AUTO_SEND_INTENTS (the upper bound) leaves it out: it only drafts."""
    changed_by: str | None
    changed_at: Timestamp | None
    measured_since: Timestamp | None
    """Reviews decided before this (the last demotion) no longer count."""
    measured: Measured
    shadow_would_send: int
    """Drafts shadow mode recorded as "would have been sent" (since `measured_since`)."""
    shadow_would_send_approved_as_is: int
    proposed: bool
    """Ready for auto: an owner may promote it."""
    demotion: str | None
    """Why it drops to draft with its next email (null: it keeps its level)."""


class LevelChange(Schema):
    """One change of an intent's level."""

    intent: str
    language: str
    from_level: AutonomyLevel
    to_level: AutonomyLevel
    changed_by: str
    reason: str
    reply_id: int | None
    created_at: Timestamp


class AutonomyOverview(Schema):
    """The store's intents, the rules that measure them, and the latest changes."""

    window: int
    min_approved_rate: float
    start_level: AutonomyLevel
    auto_send_intents: list[str]
    intents: list[IntentStanding]
    history: list[LevelChange]


class SetLevel(Schema):
    """An owner's choice of level; `auto` only when the intent is proposed."""

    level: AutonomyLevel
    reason: str = ""
    """Why (kept in the history and the audit log)."""


def _view(standing: autonomy.Standing, store: StoreConfig) -> IntentStanding:
    auto = standing.level is AutonomyLevel.AUTO
    allowed = standing.intent in store.auto_send_intents
    window = standing.window
    return IntentStanding(
        intent=standing.intent,
        language=standing.language,
        level=standing.level,
        configured=standing.configured,
        sends=auto and allowed,
        capped=auto and not allowed,
        changed_by=standing.changed_by,
        changed_at=standing.changed_at,
        measured_since=standing.measured_since,
        measured=Measured(
            sample=window.sample,
            approved_as_is=window.approved_as_is,
            edited=window.edited,
            rejected=window.rejected,
            wrong_facts=window.wrong_facts,
            rate=window.rate,
        ),
        shadow_would_send=standing.shadow_would_send,
        shadow_would_send_approved_as_is=standing.shadow_would_send_approved_as_is,
        proposed=standing.proposed,
        demotion=standing.demotion,
    )


async def overview(
    db: Database, store_id: int, store: StoreConfig, rules: autonomy.Rules
) -> AutonomyOverview:
    """The store's autonomy as the page and the API show it."""
    async with db.read() as session:

        def read(s: Any) -> tuple[list[IntentStanding], list[LevelChange]]:
            standings = [_view(x, store) for x in autonomy.standings_in(s, store_id, rules)]
            changes = [
                LevelChange.model_validate(c, from_attributes=True)
                for c in autonomy.history_in(s, store_id)
            ]
            return standings, changes

        standings, changes = await session.run_sync(read)
    return AutonomyOverview(
        window=rules.window,
        min_approved_rate=rules.min_rate,
        start_level=rules.start,
        auto_send_intents=sorted(store.auto_send_intents),
        intents=standings,
        history=changes,
    )


async def set_level(
    db: Database,
    staff: Staff,
    store: StoreConfig,
    intent: str,
    language: str,
    wanted: SetLevel,
    rules: autonomy.Rules,
) -> IntentStanding:
    """An owner sets an intent's level; promotion to `auto` needs the rules' proposal."""
    if intent not in {i.value for i in Intent}:
        raise review.NotFound(f"no intent {intent!r}")
    store_id = staff.store_id
    if store_id is None:  # The auth dependencies refuse a request with no store first.
        raise HTTPException(status_code=403)
    reason = wanted.reason.strip()[:1000]
    async with db.write() as session:

        def change(s: Any) -> autonomy.Standing:
            now = autonomy.standing_in(s, store_id, intent, language, rules)
            if now.level is wanted.level:
                raise review.Conflict(f"{intent} in {language!r} is at {now.level.value} already")
            if wanted.level is AutonomyLevel.AUTO and not now.proposed:
                raise review.Conflict(
                    f"{intent} in {language!r} is not proposed for auto: it needs "
                    f"{rules.window} reviewed drafts, {rules.min_rate:.0%} approved as is, "
                    "and none rejected for a wrong fact",
                )
            autonomy.set_level_in(
                s,
                store_id,
                intent,
                language,
                wanted.level,
                by=staff.email,
                reason=reason or f"set to {wanted.level.value} by an owner",
                measured=now.window,
                start=rules.start,
            )
            return autonomy.standing_in(s, store_id, intent, language, rules)

        standing = await session.run_sync(change)
    return _view(standing, store)


# --- the JSON API -------------------------------------------------------------------------------

Owner = Annotated[Staff, Depends(require_api_owner)]
IntentPath = Annotated[str, Path(max_length=64, description="An intent, e.g. order_status.")]
LanguagePath = Annotated[str, Path(pattern=LANGUAGE, max_length=35, description="e.g. en, fa.")]


@api_router.get("/autonomy")
async def autonomy_api(
    db: StoreDb,
    store: CurrentStore,
    rules: Rules,
    staff: Annotated[Staff, Depends(require_api_staff)],
) -> AutonomyOverview:
    """Each intent's level per language, what was measured, and whether it is proposed."""
    return await overview(db, _store_id(staff), store, rules)


@api_router.post("/autonomy/{intent}/{language}", response_model=IntentStanding, responses=REFUSALS)
async def set_level_api(
    intent: IntentPath,
    language: LanguagePath,
    body: SetLevel,
    db: StoreDb,
    store: CurrentStore,
    rules: Rules,
    staff: Owner,
) -> IntentStanding | JSONResponse:
    """Set an intent's level in one language (owners only); `auto` once it is proposed."""
    try:
        return await set_level(db, staff, store, intent, language, body, rules)
    except review.ReviewError as exc:
        content = Problem(detail=str(exc), problems=exc.problems)
        return JSONResponse(status_code=exc.status, content=content.model_dump())


def _store_id(staff: Staff) -> int:
    if staff.store_id is None:
        raise HTTPException(status_code=403)
    return staff.store_id


# --- the page -----------------------------------------------------------------------------------


async def _page(
    request: Request,
    db: Database,
    staff: Staff,
    store: StoreConfig,
    rules: autonomy.Rules,
    *,
    notice: str | None = None,
    error: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = base_context(request, staff)
    context.update(
        overview=await overview(db, _store_id(staff), store, rules),
        levels=list(AutonomyLevel),
        notice=notice,
        error=error,
        owner=staff.role is StoreRole.OWNER,
    )
    return render("autonomy.html", context, status_code=status_code)


@page_router.get("/autonomy", response_class=HTMLResponse)
async def autonomy_page(
    request: Request,
    db: StoreDb,
    store: CurrentStore,
    rules: Rules,
    staff: Annotated[Staff, Depends(require_page_staff)],
    done: str = "",
) -> HTMLResponse:
    """Every intent's level, measured rate, sample size, shadow record and proposal."""
    return await _page(request, db, staff, store, rules, notice=NOTICES.get(done))


@page_router.post("/autonomy/{intent}/{language}", response_model=None)
async def set_level_page(
    request: Request,
    intent: IntentPath,
    language: LanguagePath,
    db: StoreDb,
    store: CurrentStore,
    rules: Rules,
    staff: Annotated[Staff, Depends(require_page_owner)],
    level: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """The Promote button and the level form (owners only), then back to the page."""
    if level not in {x.value for x in AutonomyLevel}:
        error = {"message": f"unknown level {level!r}", "problems": []}
        return await _page(request, db, staff, store, rules, error=error, status_code=422)
    wanted = SetLevel(level=AutonomyLevel(level), reason=reason)
    try:
        await set_level(db, staff, store, intent, language, wanted, rules)
    except review.ReviewError as exc:
        error = {"message": str(exc), "problems": exc.problems}
        return await _page(request, db, staff, store, rules, error=error, status_code=exc.status)
    done = "promoted" if wanted.level is AutonomyLevel.AUTO else "set"
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)
