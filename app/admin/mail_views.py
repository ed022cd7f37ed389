"""Typed responses about mail around the emails: suppressed addresses, the connected mailbox."""

from __future__ import annotations

from pydantic import RootModel

from app.admin.schemas import Schema, SuppressionView


class SuppressionList(RootModel[list[SuppressionView]]):
    """Suppressed addresses, newest first."""


class MailboxView(Schema):
    """The connected mailbox's reader (`GET /admin/api/mailbox`)."""

    state: str
    """off (none connected), not_started, connected, reconnecting, failed (the server refused
    the sign-in or a command: `last_error` says why), stale (its worker stopped reporting), or
    stopped."""
    folder: str | None = None
    last_uid: int | None = None
    """The checkpoint: the last UID read in the folder."""
    stored: int | None = None
    """Emails stored from the mailbox so far."""
    last_error: str | None = None
    connected_at: str | None = None
    last_seen_at: str | None = None
    """The reader's last sign of life (ISO 8601)."""
