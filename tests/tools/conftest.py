"""Fixtures for the tool tests: the demo store, and throwaway tool packages on disk."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.store.demo import ANCHOR, DemoShop
from tests.tools.calls import MakePackage


@pytest.fixture
def shop() -> DemoShop:
    return DemoShop(now=ANCHOR)


@pytest.fixture
def make_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakePackage]:
    """Write a package of modules ({module name: source}) under tmp_path; return its name.

    The package is importable for the test only: its directory is on sys.path until the test
    ends, and its modules are forgotten afterwards.
    """
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def make(modules: dict[str, str]) -> str:
        name = f"throwaway_tools_{uuid.uuid4().hex[:8]}"
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text('"""Throwaway tools."""\n', encoding="utf-8")
        for module, source in modules.items():
            (package / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        importlib.invalidate_caches()
        names.append(name)
        return name

    yield make
    for module in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[module]
