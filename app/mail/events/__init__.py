"""Delivery-event sources: one module per provider, found here by name.

A module defines `EVENTS`, an instance of an `app.mail.delivery.EventSource` subclass whose
`name` is the module's name (the route is `POST /webhooks/<name>/events`, and the name is
stored with each event). Adding a provider is adding a module: nothing else lists them.
"""

from __future__ import annotations

from functools import cache

from app.mail.delivery import EventSource
from app.mail.registry import discover


@cache
def sources() -> dict[str, EventSource]:
    """Every provider's event source by name."""
    return discover(__name__, __path__, "EVENTS", EventSource)


def source_for(name: str) -> EventSource | None:
    """The event source of the provider called `name`, or None."""
    return sources().get(name)
