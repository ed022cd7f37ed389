"""What a tool may know about the call it serves: the shop, the verified sender, the journal.

Identity comes from here and nowhere else. The pipeline builds a `ToolContext` from the
*verified* sender of the email; a tool never accepts a customer, an email address or a customer
id from model arguments. An unverified sender gets a context without a sender, and with it only
the public tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from app.store.protocol import HelpLibrary, Shop
from app.store.segments import StoreCuts


class ToolMiss(Exception):
    """A lookup found nothing, or the model must fix its input: the message goes to the model."""


@dataclass(frozen=True, kw_only=True)
class Sender:
    """The verified sender of the email being answered."""

    email: str
    name: str | None = None


class CallOutcome(StrEnum):
    """How one tool call ended."""

    OK = "ok"
    NOT_FOUND = "not_found"
    INVALID_ARGUMENTS = "invalid_arguments"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    PROPOSED = "proposed"
    DUPLICATE = "duplicate"
    """The same call (tool and arguments) was made earlier for this email: answered from it."""


@dataclass(frozen=True, kw_only=True)
class CallRecord:
    """The audit record of one tool call."""

    tool: str
    arguments: dict[str, Any] | str
    """The validated arguments, or the raw text when they did not validate."""
    outcome: CallOutcome
    summary: str
    duration_ms: float
    call_id: str | None = None
    facts: dict[str, Any] | None = None
    """The typed result as JSON, when the call succeeded (the reply is rendered from it)."""


@dataclass(frozen=True, kw_only=True)
class ProposalRecord:
    """A store change the model asked for, waiting for a person."""

    tool: str
    arguments: dict[str, Any]
    order_id: str
    order_name: str
    reason: str


class ToolJournal(Protocol):
    """Where tool calls and proposals are written (the database, or memory in tests)."""

    async def record_call(self, record: CallRecord) -> None:
        """Store the audit record of one call."""
        ...

    async def record_proposal(self, proposal: ProposalRecord) -> int:
        """Store a proposal for staff and return its id."""
        ...


@dataclass
class MemoryJournal:
    """A journal that keeps records in lists: for tests and for runs without a database."""

    calls: list[CallRecord] = field(default_factory=list)
    proposals: list[ProposalRecord] = field(default_factory=list)

    async def record_call(self, record: CallRecord) -> None:
        self.calls.append(record)

    async def record_proposal(self, proposal: ProposalRecord) -> int:
        self.proposals.append(proposal)
        return len(self.proposals)


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """Everything a tool call may use; never passed to the model."""

    shop: Shop
    sender: Sender | None
    """The verified sender, or None: then only public tools run."""
    journal: ToolJournal = field(default_factory=MemoryJournal)
    knowledge: HelpLibrary | None = None
    """The store's help articles (`search_help`); None where none are kept (no database)."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The moment "recent" and "days ago" are measured from."""
    segment_cuts: StoreCuts | None = None
    """The store's LFRM boundaries (`app.store.segment_cuts`); None: the defaults."""

    @property
    def verified_email(self) -> str:
        """The verified sender's address; only sender-scoped tools (which require one) call this."""
        if self.sender is None:
            raise PermissionError("this tool needs a verified sender")
        return self.sender.email
