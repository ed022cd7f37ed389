"""The composition root: the only place real adapters and shared services are built."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.admin import api as admin_api
from app.admin import autonomy as admin_autonomy
from app.admin import (
    example_routes,
    knowledge_routes,
    macro_routes,
    pages,
    reports,
    staff_routes,
    store_routes,
    suppressions,
    workspace_api,
    workspace_routes,
)
from app.admin import privacy as admin_privacy
from app.admin.errors import ApiHeaders, install_error_pages
from app.admin.throttle import LoginThrottle
from app.config import Settings
from app.db.engine import Database
from app.intake import events, feedback, health, routes, webhooks
from app.intake.auth import InboundAuthenticator, inbound_secrets
from app.intake.writer import IntakeWriter
from app.jobs.process import WorkerProcess, worker_mode
from app.jobs.worker import Worker
from app.providers import Providers, build_providers
from app.state import AppState
from app.store import redirects
from app.store.directory import StoreDirectory
from app.store.shopify_app import install as shopify_install
from app.store.shopify_app import webhooks as shopify_webhooks

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    providers: Providers | None = None,
) -> FastAPI:
    """Build the application.

    Args:
        settings: configuration; read from the environment when omitted.
        db: an existing database handle (tests share one); otherwise one is created from
            `DATABASE_URL` and disposed of at shutdown.
        providers: the outside world (tests pass fakes); otherwise built from settings and
            closed at shutdown.
    """
    settings = settings or Settings()
    owns_db = db is None
    database = db or Database.connect(
        settings.DATABASE_URL, sqlite_busy_timeout_ms=settings.SQLITE_BUSY_TIMEOUT_MS
    )
    owns_providers = providers is None
    services = providers or build_providers(settings)
    state = AppState(
        settings=settings,
        db=database,
        providers=services,
        inbound_auth=InboundAuthenticator(settings),
        inbound_secrets=inbound_secrets(settings),
        intake=IntakeWriter(database),
        stores=StoreDirectory(database, settings),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything imported and built so far lives as long as the process. Freezing it takes
        # it out of the garbage collector's full scans, which otherwise pause every request for
        # tens of milliseconds (measured with bench/intake.py).
        gc.freeze()
        gc.enable()  # `python -m app` pauses it for startup (app/__main__.py).
        stop_metrics = health.serve_metrics_port(state, asyncio.get_running_loop())
        stop = asyncio.Event()
        worker_task: asyncio.Task[None] | None = None
        worker_process: WorkerProcess | None = None
        mode = worker_mode(settings)
        if mode == "process":
            # The pipeline in its own process: the webhook's loop only acknowledges mail.
            worker_process = WorkerProcess(settings)
            await worker_process.start()
            state.worker_wakeups.append(worker_process.wake)
        elif mode == "inline":
            worker = Worker(db=database, settings=settings, providers=services, stores=state.stores)
            state.worker_wakeups.append(worker.wakeup.set)
            worker_task = asyncio.create_task(worker.run(stop), name="in-process-worker")
        try:
            yield
        finally:
            if stop_metrics is not None:
                await asyncio.to_thread(stop_metrics)
            stop.set()
            if worker_task is not None:
                await worker_task
            if worker_process is not None:
                await worker_process.stop()
            if owns_providers:
                await services.aclose()
            if owns_db:
                await database.dispose()

    # SendGrid does not follow redirects, so a trailing-slash redirect would lose mail.
    app = FastAPI(
        title="Shop support mail",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = state
    # The admin's failed-login counters (kept in the database, shared by every process).
    app.state.login_throttle = LoginThrottle(database)
    # The webhook first: routes are matched in order, and it is the hot path.
    app.include_router(routes.router)
    # After SendGrid's own route, which it must not shadow.
    app.include_router(webhooks.router)
    # Delivery events of the replies we sent (`/webhooks/<provider>/events`).
    app.include_router(events.router)
    # Customers' one-click pages: satisfaction ratings and unsubscribing (signed links).
    app.include_router(feedback.router)
    app.include_router(health.router)
    app.include_router(redirects.router)
    # The Shopify app: install (OAuth) and Shopify's webhooks; 404 unless configured as an app.
    app.include_router(shopify_webhooks.router)
    app.include_router(shopify_install.router)
    app.include_router(admin_api.router)
    app.include_router(workspace_api.router)
    app.include_router(store_routes.api_router)
    app.include_router(suppressions.api_router)
    app.include_router(staff_routes.api_router)
    app.include_router(macro_routes.api_router)
    app.include_router(example_routes.api_router)
    app.include_router(knowledge_routes.api_router)
    app.include_router(reports.api_router)
    app.include_router(admin_autonomy.api_router)
    app.include_router(admin_privacy.router)
    # The staff page: the login form alone is public; every other page needs a session.
    app.include_router(pages.login_router)
    app.include_router(pages.router)
    app.include_router(workspace_routes.router)
    app.include_router(store_routes.page_router)
    app.include_router(suppressions.page_router)
    app.include_router(staff_routes.page_router)
    app.include_router(macro_routes.page_router)
    app.include_router(example_routes.page_router)
    app.include_router(knowledge_routes.page_router)
    app.include_router(reports.page_router)
    app.include_router(admin_autonomy.page_router)
    install_error_pages(app)
    # No-store and nosniff on every admin API answer, errors included (see app.admin.errors).
    app.add_middleware(ApiHeaders)
    if settings.FORWARDED_ALLOW_IPS:
        # The client address (login throttling counts it) and scheme (secure cookies) come from
        # X-Forwarded-* only when the peer is a listed proxy. `serve` runs uvicorn with
        # proxy_headers=False, so this is the only place that decides.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.FORWARDED_ALLOW_IPS)
    return app
