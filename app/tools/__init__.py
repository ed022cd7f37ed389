"""The agent's tools. Importing this package registers every tool.

The contract every tool follows: identity comes from `ToolContext` (the verified sender), never
from arguments; a tool returns typed facts, never vendor JSON; failures the model can act on are
`ToolMiss` with one actionable sentence; store changes are `needs_approval=True` and only ever
proposed. See "Adding a tool" in the README.
"""

from app.tools import actions, customers, orders, policies, products
from app.tools.registry import registry

__all__ = ["actions", "customers", "orders", "policies", "products", "registry"]
