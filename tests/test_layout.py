"""The layout the README's "Development" map promises: small modules in a few domain packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"
MAX_MODULE_LINES = 500
MAX_TOP_LEVEL_MODULES = 10
MAX_PACKAGES = 10
VAGUE_NAMES = {"utils.py", "helpers.py", "common.py", "misc.py"}
MODULES = sorted(APP.rglob("*.py"))
PACKAGES = sorted(p for p in APP.iterdir() if (p / "__init__.py").exists())


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(APP)))
def test_no_module_is_over_500_lines(module: Path) -> None:
    lines = len(module.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module.relative_to(APP)} has {lines} lines"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(APP)))
def test_no_module_has_a_name_that_says_nothing(module: Path) -> None:
    assert module.name not in VAGUE_NAMES


def test_at_most_ten_top_level_modules_besides_the_packages() -> None:
    modules = sorted(
        p.name for p in APP.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    )
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def test_at_most_ten_domain_packages() -> None:
    assert len(PACKAGES) <= MAX_PACKAGES, [p.name for p in PACKAGES]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_every_package_says_what_it_owns_and_may_import(package: Path) -> None:
    docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    assert docstring, f"app/{package.name}/__init__.py has no docstring"
    assert "import" in docstring.lower(), f"app/{package.name} does not say what it may import"
