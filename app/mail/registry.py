"""Finding a package's extension modules: each defines one object under a known attribute.

Inbound providers (`app.mail.providers`, `ADAPTER`) and delivery-event sources
(`app.mail.events`, `EVENTS`) are found this way, so adding one is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any


def discover(package: str, path: Iterable[str], attribute: str, kind: type[Any]) -> dict[str, Any]:
    """Each module of `package`'s `attribute` (a `kind` whose `name` is the module's), by name.

    Raises:
        TypeError: a module lacks the attribute, or it is not a `kind`.
        ValueError: the object's name is not its module's.
    """
    found: dict[str, Any] = {}
    for module_info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        value = getattr(module, attribute, None)
        if not isinstance(value, kind):
            raise TypeError(f"{module.__name__} defines no {attribute} (a {kind.__name__})")
        if value.name != module_info.name:
            raise ValueError(f"{module.__name__}: {attribute}.name is {value.name!r}")
        found[value.name] = value
    return found
