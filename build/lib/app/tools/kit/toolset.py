"""Declaring tools in a module, and discovering every module's tools.

A tool module declares its own set and decorates its functions on it; importing the module
registers nothing anywhere else:

    tools = ToolSet()

    @tools.tool(scope=Scope.PUBLIC)
    async def get_store_policies(ctx: ToolContext, args: GetStorePoliciesArgs) -> PolicyFacts:
        \"\"\"Get the store's published policies as text.\"\"\"

`discover("app.tools")` imports every module directly in the package and builds one
`ToolRegistry` from their `tools`. Every such module is a tool area: one that declares no tool is
an error, and so are two tools with one name. Subpackages (the `kit` itself) are not searched.
"""

from __future__ import annotations

import importlib
import pkgutil
import typing
from collections.abc import Callable
from types import ModuleType

from pydantic import BaseModel

from app.store.models import ActionResult
from app.tools.kit.hints import OfflineHint
from app.tools.kit.registry import Handler, ProposalArgs, Scope, Tool, ToolArgs, ToolRegistry

TOOLSET_NAME = "tools"
"""The module attribute that holds a tool module's `ToolSet`."""


class ToolSet:
    """The tools one module declares, in declaration order."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def tool(
        self, *, scope: Scope, needs_approval: bool = False, offline: OfflineHint | None = None
    ) -> Callable[[Handler], Handler]:
        """Declare an async `(ctx, args) -> facts` function as a tool; it is returned unchanged.

        Args:
            scope: whose data it may touch; sender-scoped tools need a verified sender.
            needs_approval: it changes the store, so a call only records a proposal for staff.
            offline: when and how the offline model calls it (see `hints.py`); None: never.
        """

        def declare(function: Handler) -> Handler:
            tool = derive(function, scope, needs_approval, offline)
            if tool.name in self._tools:
                raise ValueError(f"{tool.name} is declared twice")
            self._tools[tool.name] = tool
            return function

        return declare

    def all(self) -> list[Tool]:
        """The declared tools."""
        return list(self._tools.values())


def discover(*packages: str | ModuleType) -> ToolRegistry:
    """A registry of every tool declared in the modules directly inside `packages`.

    Raises:
        LookupError: a module declares no tool (every module there must be a tool area).
        ValueError: two tools share a name.
    """
    tools: list[Tool] = []
    for package in packages:
        found = importlib.import_module(package) if isinstance(package, str) else package
        prefix = f"{found.__name__}."
        for info in sorted(pkgutil.iter_modules(found.__path__, prefix), key=lambda i: i.name):
            if info.ispkg:
                continue
            module = importlib.import_module(info.name)
            toolset = getattr(module, TOOLSET_NAME, None)
            if not isinstance(toolset, ToolSet) or not toolset.all():
                raise LookupError(
                    f"{info.name} declares no tool: every module in {found.__name__} is a tool "
                    f"area, with `{TOOLSET_NAME} = ToolSet()` and at least one @{TOOLSET_NAME}.tool"
                )
            tools += toolset.all()
    return ToolRegistry(tools)


def derive(
    function: Handler, scope: Scope, needs_approval: bool, offline: OfflineHint | None = None
) -> Tool:
    """The tool a function declares, checked against the rules every tool follows."""
    name = function.__name__
    hints = typing.get_type_hints(function)
    parameters = list(hints.items())
    if len(parameters) < 2:
        raise TypeError(f"{name}: a tool takes (ctx: ToolContext, args: <BaseModel>)")
    args_model = parameters[1][1]
    if not (isinstance(args_model, type) and issubclass(args_model, ToolArgs)):
        raise TypeError(f"{name}: its second parameter must be a ToolArgs model")
    returns = hints.get("return")
    changes_store = isinstance(returns, type) and issubclass(returns, ActionResult)
    if needs_approval and not issubclass(args_model, ProposalArgs):
        raise TypeError(f"{name}: store-changing tools take ProposalArgs arguments")
    if needs_approval and scope is not Scope.SENDER:
        raise TypeError(f"{name}: store-changing tools are sender-scoped")
    if needs_approval is not changes_store:
        # The store's changes all answer with an ActionResult: a tool that returns one changes
        # the store, and every tool that changes the store waits for a person.
        raise TypeError(f"{name}: a tool returns ActionResult if and only if it needs approval")
    if offline is not None and set(offline.args) != set(args_model.model_fields):
        raise TypeError(f"{name}: its offline hint must give every argument, and only those")
    return Tool(
        name=name,
        description=" ".join((function.__doc__ or "").split()),
        args_model=args_model,
        handler=function,
        scope=scope,
        needs_approval=needs_approval,
        returns=returns if isinstance(returns, type) and issubclass(returns, BaseModel) else None,
        offline=offline,
    )
