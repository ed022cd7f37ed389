"""Inbound mail providers: one module each, found here by name.

A provider module defines `ADAPTER`, an instance of an `app.mail.adapter.InboundAdapter` subclass
whose `name` is the module's name (the route is `POST /webhooks/<name>/inbound`, and the name is
stored with each delivery so the worker parses it with the same adapter). Adding a provider is
adding a module: nothing else lists them.
"""

from __future__ import annotations

from functools import cache

from app.mail.adapter import InboundAdapter
from app.mail.registry import discover


@cache
def adapters() -> dict[str, InboundAdapter]:
    """Every provider's adapter by name."""
    return discover(__name__, __path__, "ADAPTER", InboundAdapter)


def adapter_for(name: str) -> InboundAdapter | None:
    """The adapter of the provider called `name`, or None."""
    return adapters().get(name)
