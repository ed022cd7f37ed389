"""What request handlers get from the application: settings, database, shared services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request

from app.config import Settings
from app.db.engine import Database
from app.intake.auth import InboundAuthenticator
from app.intake.writer import IntakeWriter
from app.mail.adapter import InboundSecrets
from app.providers import Providers
from app.store.directory import StoreDirectory


@dataclass(kw_only=True)
class AppState:
    """Everything built once per process by `create_app` and shared by requests."""

    settings: Settings
    db: Database
    providers: Providers
    inbound_auth: InboundAuthenticator
    inbound_secrets: InboundSecrets
    """Every inbound provider's credentials (`app.mail.adapter`)."""
    intake: IntakeWriter
    stores: StoreDirectory
    """Every store's settings, and where inbound mail goes (`app.store.directory`)."""
    worker_wakeups: list[Callable[[], None]] = field(default_factory=list)

    def notify_worker(self) -> None:
        """Tell in-process workers new work is queued, so they need not wait for the next poll."""
        for wake in self.worker_wakeups:
            wake()


def app_state(request: Request) -> AppState:
    """The application's shared state, for handlers on hot paths that skip `Depends`."""
    state: AppState = request.app.state.services
    return state


async def get_state(request: Request) -> AppState:
    """Dependency: the application's shared state (async, so it never needs a thread)."""
    return app_state(request)
