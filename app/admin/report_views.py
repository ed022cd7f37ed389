"""Typed answers of the reports (`GET /admin/api/reports`): one store's figures over a period."""

from __future__ import annotations

from datetime import date

from app.admin.schemas import Schema, Timestamp
from app.db.statuses import MessageStatus


class ResponseTimes(Schema):
    """Seconds from receiving an email to sending its first reply."""

    count: int
    p50: float | None
    p95: float | None


class DayTokens(Schema):
    """Model tokens spent on one day (UTC) and what they cost."""

    day: str
    input_tokens: int
    output_tokens: int
    estimated_cost_usd: float


class Summary(Schema):
    """Whether the service helps: volume, automation, speed, edits by staff, cost."""

    days: int
    emails: int
    by_status: dict[MessageStatus, int]
    by_intent: dict[str, int]
    automation_rate: float | None
    """Answered emails answered without a person, out of all answered (None: none answered)."""
    answered: int
    answered_without_a_person: int
    first_response_seconds: ResponseTimes
    approved_as_is_rate: dict[str, float]
    """Per intent: drafts staff approved without changing a word, out of those approved."""
    tokens_per_day: list[DayTokens]


class IntentFigures(Schema):
    """Volume, automation and staff edits for the emails of one intent."""

    intent: str | None
    """The plan's intent; None for emails never planned (skipped, quarantined, waiting)."""
    emails: int
    answered_automatically: int
    decided_drafts: int
    """Drafts of this intent staff approved or rejected."""
    approved: int
    approved_as_is: int
    """Drafts approved without changing a word (edit distance 0)."""
    rejected: int
    approved_as_is_rate: float | None
    """Approved as is, out of the drafts approved (None: none approved)."""
    mean_edit_distance: float | None
    """Mean words changed by staff before approving, over the drafts approved."""


class StatusVolume(Schema):
    """How many of the period's emails are in one status now."""

    status: MessageStatus
    emails: int


class DayFigures(Schema):
    """One day (UTC) of the period: emails received that day and how they were answered."""

    day: date
    received: int
    """Emails received that day, skipped robots (auto-replies, bounces, list mail) excluded."""
    answered_automatically: int
    answered_by_staff: int


class Report(Schema):
    """One store's figures over the last `days` calendar days (UTC), today included.

    Every figure is about the emails received in the period (a reply sent on the day after
    counts for the day the email came in), so the day's answers never exceed its emails.
    """

    days: int
    since: Timestamp
    """The start of the first day of the period (00:00 UTC)."""
    until: Timestamp
    """The end of the period: the start of tomorrow (00:00 UTC)."""
    emails: int
    """Every email received in the period, skipped robots included."""
    counted: int
    """Emails received that could be answered: everything but the skipped robots."""
    answered_automatically: int
    answered_by_staff: int
    """Answered, but not automatically: a reply staff approved, edited or wrote was sent."""
    automation_rate: float | None
    """`answered_automatically` out of `counted` (None: no email counted).

    An email is answered automatically when a reply the service sent on its own (automated and
    decided `send` by the policy, never through a draft) went out: its status is `sent`.
    """
    first_response_seconds: ResponseTimes
    """From receiving an email to sending its first reply, nearest-rank percentiles."""
    intents: list[IntentFigures]
    statuses: list[StatusVolume]
    daily: list[DayFigures]
    """Every day of the period, oldest first, days without mail included."""
