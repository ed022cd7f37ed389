"""Discovery: every module in `app/tools/` is a tool area, found without a list of imports."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import app.tools
from app.tools import tool_registry
from app.tools.kit.toolset import ToolSet, discover
from tests.tools.calls import MakePackage

WORD_TOOL = '''
from pydantic import BaseModel

from app.tools.kit import Scope, ToolArgs, ToolContext, ToolSet

tools = ToolSet()


class CheckWordArgs(ToolArgs):
    """A word."""

    word: str


class WordFacts(BaseModel):
    """A checked word."""

    word: str


@tools.tool(scope=Scope.PUBLIC)
async def {name}(ctx: ToolContext, args: CheckWordArgs) -> WordFacts:
    """Check a word."""
    return WordFacts(word=args.word)
'''


def tool_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.iter_modules(app.tools.__path__, "app.tools.")
        if not info.ispkg
    )


@pytest.mark.parametrize("name", tool_modules())
def test_every_module_in_the_tools_package_declares_tools(name: str) -> None:
    toolset = getattr(importlib.import_module(name), "tools", None)
    assert isinstance(toolset, ToolSet), f"{name} has no `tools = ToolSet()`"
    assert toolset.all(), f"{name} declares no tool"


def test_the_application_registry_is_every_modules_tools_and_nothing_else() -> None:
    declared = [
        tool.name for name in tool_modules() for tool in importlib.import_module(name).tools.all()
    ]
    assert [tool.name for tool in tool_registry().all()] == declared
    assert len(set(declared)) == len(declared)
    assert tool_registry() is tool_registry()  # built once per process


def test_the_machinery_is_not_a_tool_area() -> None:
    assert not any(name.startswith("app.tools.kit") for name in tool_modules())


def test_a_module_that_declares_nothing_is_an_error(make_package: MakePackage) -> None:
    package = make_package(
        {"words": WORD_TOOL.replace("{name}", "check_word"), "notes": '"""Just notes."""\n'}
    )
    with pytest.raises(LookupError, match=rf"{package}\.notes declares no tool"):
        discover(package)


def test_an_empty_toolset_is_an_error(make_package: MakePackage) -> None:
    empty = "from app.tools.kit import ToolSet\n\ntools = ToolSet()\n"
    package = make_package({"empty": empty})
    with pytest.raises(LookupError, match="declares no tool"):
        discover(package)


def test_two_tools_with_one_name_are_an_error(make_package: MakePackage) -> None:
    package = make_package({"words": WORD_TOOL.replace("{name}", "get_order")})
    with pytest.raises(ValueError, match="'get_order'"):
        discover("app.tools", package)


def test_a_package_is_discovered_with_the_real_tools(make_package: MakePackage) -> None:
    package = make_package(
        {
            "words": WORD_TOOL.replace("{name}", "check_word"),
            "spelling": WORD_TOOL.replace("{name}", "check_spelling"),
        }
    )
    registry = discover("app.tools", package)
    names = [tool.name for tool in registry.all()]
    assert names[: len(tool_registry().all())] == [t.name for t in tool_registry().all()]
    assert names[-2:] == ["check_spelling", "check_word"]  # modules in name order
    assert tool_registry().get("check_word") is None  # discovery changed nothing global
