"""What a tool module is built with: declaring, discovering, invoking and the call context.

Not a tool area itself: `discover` searches only the modules directly in `app/tools/`. A tool
module imports what it needs from here:

    from app.tools.kit import Scope, ToolArgs, ToolContext, ToolSet
"""

from app.tools.kit.context import MemoryJournal, Sender, ToolContext, ToolMiss
from app.tools.kit.hints import Clue, OfflineHint, Topic
from app.tools.kit.lookup import find_own_order
from app.tools.kit.registry import ProposalArgs, Scope, ToolArgs
from app.tools.kit.toolset import ToolSet

__all__ = [
    "Clue",
    "MemoryJournal",
    "OfflineHint",
    "ProposalArgs",
    "Scope",
    "Sender",
    "ToolArgs",
    "ToolContext",
    "ToolMiss",
    "ToolSet",
    "Topic",
    "find_own_order",
]
