"""What the workspace's API answers: the inbox views, notes, presence, assignment, outcomes."""

from __future__ import annotations

from pydantic import RootModel

from app.admin.schemas import (
    FromRow,
    MessageOutcome,
    MessageTrace,
    QueuePage,
    ReplyOutcome,
    Schema,
    Timestamp,
)
from app.db.statuses import CloseReason, PresenceKind


class InboxPage(QueuePage):
    """One page of an inbox view, with how many emails every view holds."""

    view: str
    counts: dict[str, int]
    """Per view (`needs_action`, `mine`, `unassigned`, `sent`, `closed`, `skipped`, `all`)."""


class NoteView(FromRow):
    """An internal note on an email: for colleagues, never sent."""

    id: int
    author: str
    body: str
    created_at: Timestamp


class PresenceView(FromRow):
    """A colleague who has the email open (a heartbeat in the last minute)."""

    staff_id: int
    staff_name: str
    kind: PresenceKind
    seen_at: Timestamp


class PresenceList(RootModel[list[PresenceView]]):
    """Who else has the email open now."""


class Member(Schema):
    """A staff member of the store (someone an email can be assigned to)."""

    id: int
    email: str
    name: str


class MessageWork(MessageTrace):
    """One email's trace, with its notes, assignee and who else has it open."""

    notes: list[NoteView]
    assigned_to: Member | None
    presence: list[PresenceView]
    """Other staff viewing or editing the email now."""


class SentOutcome(ReplyOutcome):
    """A reply staff sent: queued for the outbox, with the email it answers."""

    message_id: int


class DraftSaved(ReplyOutcome):
    """A draft edit saved without sending: its new revision."""

    revision: int


class ClosedOutcome(MessageOutcome):
    """The email's status after closing or reopening it."""

    closed_reason: CloseReason | None


class AssignmentOutcome(Schema):
    """Who the email is assigned to now (null: nobody)."""

    id: int
    assigned_to: Member | None
