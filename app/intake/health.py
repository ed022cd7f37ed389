"""Liveness and readiness probes for the orchestrator, and the Prometheus metrics.

`GET /metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise), and
not at all (404) while METRICS_TOKEN is unset. METRICS_PORT serves the same text without a token
on its own port, for a scraper on a private network.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import metrics
from app.db.engine import Database
from app.intake.mailbox import mailbox_status
from app.jobs.stats import queue_rows
from app.state import AppState, get_state

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])
QUEUE_READ_TIMEOUT_SECONDS = 10.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    """Answer as long as the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable (and the mailbox's state)")
async def readyz(state: Annotated[AppState, Depends(get_state)]) -> JSONResponse:
    """Answer 200 when the database answers a trivial query, 503 otherwise.

    With a connected mailbox, its state is reported too (`mailbox`), without changing the status.
    """
    try:
        async with state.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    body: dict[str, object] = {"status": "ok", "database": state.db.dialect}
    if state.settings.MAILBOX_IMAP_HOST is not None:
        # Reported, not judged: webhooks and the admin still work while the mailbox reconnects.
        try:
            body["mailbox"] = await mailbox_status(state.db, state.settings)
        except (SQLAlchemyError, OSError) as exc:
            body["mailbox"] = {"state": "unknown", "last_error": type(exc).__name__}
    return JSONResponse(body)


@router.get("/metrics", include_in_schema=False)
async def metrics_text(
    request: Request, state: Annotated[AppState, Depends(get_state)]
) -> Response:
    """The Prometheus text exposition, for a scraper holding METRICS_TOKEN."""
    token = state.settings.METRICS_TOKEN
    if token is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if not _bearer_ok(request.headers.get("authorization"), token.get_secret_value()):
        return JSONResponse(
            {"detail": "authentication required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    rows = await _queue(state.db)
    # Reading the other processes' files is blocking file work: off the event loop.
    body, content_type = await asyncio.to_thread(metrics.render, rows)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


def _bearer_ok(header: str | None, token: str) -> bool:
    scheme, _, presented = (header or "").partition(" ")
    # Constant time: how much of a guess matched must not show in the answer's timing.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


async def _queue(db: Database) -> list[metrics.QueueRow]:
    """The queue gauges' rows; none (and a warning) while the database does not answer."""
    try:
        return await queue_rows(db)
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("queue metrics not read: %s", type(exc).__name__)
        return []


def serve_metrics_port(
    state: AppState, loop: asyncio.AbstractEventLoop
) -> Callable[[], None] | None:
    """Serve the metrics on METRICS_PORT (no token) in a thread, or nothing when it is 0.

    The queue is read on `loop`, the application's, which owns the database's connections.
    """
    settings = state.settings
    if not settings.METRICS_PORT:
        return None

    def queue() -> list[metrics.QueueRow]:
        future = asyncio.run_coroutine_threadsafe(_queue(state.db), loop)
        try:
            return future.result(timeout=QUEUE_READ_TIMEOUT_SECONDS)
        except TimeoutError:
            future.cancel()
            return []

    return metrics.serve_port(settings.METRICS_HOST, settings.METRICS_PORT, metrics.Scrape(queue))
