"""Inbound mail providers: one module each, found here by name.

A provider module defines `ADAPTER`, an instance of an `app.mail.adapter.InboundAdapter` subclass
whose `name` is the module's name (the route is `POST /webhooks/<name>/inbound`, and the name is
stored with each delivery so the worker parses it with the same adapter). Adding a provider is
adding a module: nothing else lists them.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from app.mail.adapter import InboundAdapter


@cache
def adapters() -> dict[str, InboundAdapter]:
    """Every provider's adapter by name."""
    found: dict[str, InboundAdapter] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        adapter = getattr(module, "ADAPTER", None)
        if not isinstance(adapter, InboundAdapter):
            raise TypeError(f"{module.__name__} defines no ADAPTER (an InboundAdapter)")
        if adapter.name != module_info.name:
            raise ValueError(f"{module.__name__}: ADAPTER.name is {adapter.name!r}")
        found[adapter.name] = adapter
    return found


def adapter_for(name: str) -> InboundAdapter | None:
    """The adapter of the provider called `name`, or None."""
    return adapters().get(name)
