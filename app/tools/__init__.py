"""The agent's tools: one module per tool area, each declaring its own `tools = ToolSet()`.

Every module directly in this package is a tool area and is found by discovery; the machinery
(declaring, the registry, the call context) lives in `kit/`. The contract every tool follows:
identity comes from `ToolContext` (the verified sender), never from arguments; a tool returns
typed facts, never vendor JSON; failures the model can act on are `ToolMiss` with one actionable
sentence; store changes are `needs_approval=True` and only ever proposed. See "Adding a tool" in
the README.

May import: `store` (through the `Shop` protocol), `replies.facts` (the `Facts` base class), the
`openai` SDK's schema helper in `kit/registry.py` only, `metrics` (tool calls); never `agent`,
`admin` or SQL.
"""

import functools

from app.tools.kit.registry import ToolRegistry
from app.tools.kit.toolset import discover


@functools.cache
def tool_registry() -> ToolRegistry:
    """The application's tools: every module in this package, discovered once per process."""
    return discover(__name__)


__all__ = ["tool_registry"]
