"""Outside `app/store/shopify/`, code imports the package's public names and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import app.store.shopify

APP = Path(__file__).parents[2] / "app"
PACKAGE = APP / "store" / "shopify"


def in_package(module: str) -> bool:
    """Whether `module` is `app.store.shopify` or one of its modules (not `shopify_app`)."""
    return module == "app.store.shopify" or module.startswith("app.store.shopify.")


def shopify_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) for every name `path` imports from `app.store.shopify` or its modules."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and in_package(node.module or ""):
            found += [(str(node.module), alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "*") for alias in node.names if in_package(alias.name)]
    return found


OUTSIDE = sorted(
    path for path in APP.rglob("*.py") if PACKAGE not in path.parents and shopify_imports(path)
)


def test_a_sibling_package_is_not_the_package() -> None:
    assert in_package("app.store.shopify.queries")
    assert not in_package("app.store.shopify_app.install")


def test_the_demo_store_and_the_composition_root_are_found() -> None:
    names = {path.relative_to(APP).as_posix() for path in OUTSIDE}
    assert {"store/demo.py", "providers.py"} <= names


@pytest.mark.parametrize("path", OUTSIDE, ids=lambda p: p.relative_to(APP).as_posix())
def test_callers_import_only_the_packages_public_names(path: Path) -> None:
    for module, name in shopify_imports(path):
        assert module == "app.store.shopify", f"import {name} from app.store.shopify, not {module}"
        assert name in app.store.shopify.__all__, f"{name} is not a public name of the package"
        assert not name.startswith("_")
