"""The words staff see for statuses: the queue's filters and the status labels, defined once.

The JSON API's `status` filter, the queue page's tabs and select box, and the status pills on
every page all take their words from here.
"""

from __future__ import annotations

from enum import StrEnum

from app.db.statuses import MessageStatus, ProposalStatus


def word_label(word: str) -> str:
    """A stored word as staff read it: `needs_human` → `needs human`."""
    return word.replace("_", " ")


class QueueFilter(StrEnum):
    """What staff can narrow the queue to."""

    DRAFTED = "drafted"
    ANSWERED = "answered"
    SKIPPED = "skipped"
    QUARANTINED = "quarantined"
    FAILED = "failed"
    NEEDS_HUMAN = "needs_human"
    CLOSED = "closed"
    PENDING = "pending"

    @classmethod
    def _missing_(cls, value: object) -> QueueFilter | None:
        """The words the queue used before its filters were named like the statuses."""
        return _FORMER_WORDS.get(str(value))

    @property
    def label(self) -> str:
        """The filter's name on the page."""
        return word_label(self.value)

    @property
    def meaning(self) -> str:
        """What the filter shows, in a few words (the page's tooltip, the API's description)."""
        return _MEANINGS[self]

    @property
    def statuses(self) -> tuple[MessageStatus, ...]:
        """The stored message statuses the filter shows; empty when it is not about them."""
        return _STATUSES.get(self, ())


_MEANINGS = {
    QueueFilter.DRAFTED: "a draft waits for staff",
    QueueFilter.ANSWERED: "answered (a reply was sent or is being sent)",
    QueueFilter.SKIPPED: "never answered (machines, spam)",
    QueueFilter.QUARANTINED: "authentic but unreadable",
    QueueFilter.FAILED: "a reply that could not be delivered (dead, unknown, retrying)",
    QueueFilter.NEEDS_HUMAN: "held for a person with no draft",
    QueueFilter.CLOSED: "draft rejected by staff",
    QueueFilter.PENDING: "still being processed",
}
# `failed` is about the replies, not the email's own status, so it has none here.
_STATUSES = {
    QueueFilter.DRAFTED: (MessageStatus.DRAFTED,),
    QueueFilter.ANSWERED: (MessageStatus.ANSWERED,),
    QueueFilter.SKIPPED: (MessageStatus.SKIPPED,),
    QueueFilter.QUARANTINED: (MessageStatus.QUARANTINED,),
    QueueFilter.NEEDS_HUMAN: (MessageStatus.NEEDS_HUMAN,),
    QueueFilter.CLOSED: (MessageStatus.CLOSED,),
    QueueFilter.PENDING: (MessageStatus.RECEIVED, MessageStatus.READY, MessageStatus.PLANNED),
}

# Links and integrations written before the rename keep working.
_FORMER_WORDS = {"draft": QueueFilter.DRAFTED, "sent": QueueFilter.ANSWERED}

QUEUE_FILTER_HELP = "; ".join(f"{f.value}: {f.meaning}" for f in QueueFilter)
"""Every filter with its meaning, for the API's documentation."""

PROPOSAL_TABS = (
    ProposalStatus.PENDING,
    ProposalStatus.EXECUTED,
    ProposalStatus.FAILED,
    ProposalStatus.REJECTED,
    ProposalStatus.APPROVED,
)
"""The store-actions page's tabs, in the order staff look for them."""
