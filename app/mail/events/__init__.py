"""Delivery-event sources: one module per provider, found here by name.

A module defines `EVENTS`, an instance of an `app.mail.delivery.EventSource` subclass whose
`name` is the module's name (the route is `POST /webhooks/<name>/events`, and the name is
stored with each event). Adding a provider is adding a module: nothing else lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from app.mail.delivery import EventSource


@cache
def sources() -> dict[str, EventSource]:
    """Every provider's event source by name."""
    found: dict[str, EventSource] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        source = getattr(module, "EVENTS", None)
        if not isinstance(source, EventSource):
            raise TypeError(f"{module.__name__} defines no EVENTS (an EventSource)")
        if source.name != module_info.name:
            raise ValueError(f"{module.__name__}: EVENTS.name is {source.name!r}")
        found[source.name] = source
    return found


def source_for(name: str) -> EventSource | None:
    """The event source of the provider called `name`, or None."""
    return sources().get(name)
