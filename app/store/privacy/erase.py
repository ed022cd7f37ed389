"""`customers/redact`: erase one customer's personal data in one store, keeping what reports count.

Rows stay (so counts, statuses, intents, timestamps and ids still add up); what a person wrote
or could be recognised by goes. The rule is by column type, read from the tables themselves:
every text, JSON and bytes column of a row in the customer's footprint is erased unless it is
named in `KEEP` as a code or an id, so a column added later is erased by default. Kept columns
are still cleared when they mention the customer's address or name. Addresses become
`redacted-<short id>@invalid`, texts `[redacted]`, raw deliveries empty bytes.

Address columns follow `footprint.CUSTOMER_ADDRESSES`. Unsubscribes and suppressions keep the
address's SHA-256 instead (lookups match it), so an erased customer who writes again still gets
no proactive mail they refused and no automated mail to an address that bounced or reported
spam; the hash names no one to a reader who does not already know the address. Customer
segments are deleted (derived from the store's customers, recomputed at the next refresh), and
so are reply examples: their placeholder texts are no longer the customer's once scrubbed, but
an example reduced to `[redacted]` would only mislead the model, and SQLite's full-text table
holds a copy of its words that a column update would not reach.

Work still in flight for the customer stops: an email waiting for the worker or for staff is
closed, a draft rejected, a queued reply dead, a pending proposal rejected, a scheduled
follow-up skipped; nothing is sent to an erased address. Exports made for earlier data
requests of the customer are deleted.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, table, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import column as sql_column

from app.db.examples import EXAMPLES_FTS_TABLE
from app.db.models import (
    Base,
    FollowUp,
    Message,
    PrivacyRequest,
    ProposedAction,
    Reply,
    ReplyExample,
)
from app.db.statuses import (
    FollowUpStatus,
    MessageStatus,
    PrivacyTopic,
    ProposalStatus,
    ReplyStatus,
)
from app.store.privacy.footprint import (
    CUSTOMER_ADDRESSES,
    Footprint,
    OnRedact,
    address_hash,
    column_kind,
    find_customer,
    table_of,
)

MARKER = "[redacted]"
ERASED_BY = "shopify"
"""Who the audit log and stopped proposals name as having acted."""
STOP_REASON = "customer data erased (customers/redact)"

KEEP: dict[str, frozenset[str]] = {
    "messages": frozenset(
        {
            "provider",
            "payload_format",
            "content_type",
            "checksum",
            "message_id",
            "status_reason",
            "identity_reason",
            "intent",
            "in_reply_to",
            "references",
            "defects",
            "guard_decisions",
            "steps",
        }
    ),
    "replies": frozenset(
        {
            "idempotency_key",
            "from_address",
            "language",
            "template",
            "rfc_message_id",
            "in_reply_to",
            "references",
            "decision",
            "decision_reasons",
            "provider_message_id",
            "decided_by",
        }
    ),
    "agent_runs": frozenset(
        {"llm_kind", "model", "prompt_version", "tools_hash", "intent", "language"}
        | {"handover_reason"}
    ),
    "model_turns": frozenset(
        {"llm_kind", "model", "prompt_version", "tools_hash", "finish_reason"}
    ),
    "tool_calls": frozenset({"call_id", "tool", "outcome"}),
    "proposed_actions": frozenset({"tool", "order_id", "order_name", "decided_by"}),
    "jobs": frozenset({"lease_owner"}),
    # A provider's ids: unique per provider, and they name no one.
    "delivery_events": frozenset(
        {"provider", "event_id", "provider_message_id", "message_key", "rfc_message_id"}
    ),
    "audit_log": frozenset({"staff_email", "action", "target_type"}),
    # What a follow-up follows (an order's or a reply's id, unique per kind): kept, so the same
    # order is never followed up again for the erased customer.
    "followups": frozenset({"source_key", "language", "rfc_message_id", "provider_message_id"}),
}
"""Per table, the text and JSON columns holding codes, ids or our own words, not the customer's."""

ADDRESS_COLUMNS = frozenset(
    {d.key for d in CUSTOMER_ADDRESSES if d.on_redact is OnRedact.ANONYMISE}
    | {
        ("messages", "from_header"),
        ("messages", "envelope_from"),
        ("delivery_events", "recipient"),
    }
)
"""Columns that hold the customer's address: they get the anonymised one, not the marker."""

HASHED_COLUMNS = frozenset(d.key for d in CUSTOMER_ADDRESSES if d.on_redact is OnRedact.HASH)
"""Address columns that keep the address's hash (unique per store, as the address was)."""

DELETED: frozenset[type[Base]] = frozenset(
    {d.model for d in CUSTOMER_ADDRESSES if d.on_redact is OnRedact.DELETE} | {ReplyExample}
)
"""Tables whose rows in the footprint are deleted rather than erased in place."""

PLAN_COLUMNS = frozenset({("messages", "reply_plan"), ("agent_runs", "plan")})
PLAN_KEYS = ("intent", "confidence", "language", "template", "needs_human", "handover_reason")
"""What a reply plan keeps: the codes and numbers reports read, never its paragraph or facts."""

ZEROED = frozenset({("messages", "raw_size")})
"""Number columns that describe erased content."""

_OPEN_MESSAGES = frozenset(
    {
        MessageStatus.RECEIVED,
        MessageStatus.READY,
        MessageStatus.PLANNED,
        MessageStatus.NEEDS_HUMAN,
        MessageStatus.DRAFTED,
    }
)


_HASHED = re.compile(r"[0-9a-f]{64}")


def anonymous_address(request_id: int) -> str:
    """The address erased rows get: the same for one request, derived from nothing personal.

    Not a hash of the address itself, which anyone who knows the address could recompute.
    """
    short = hashlib.sha256(f"privacy-request:{request_id}".encode()).hexdigest()[:12]
    return f"redacted-{short}@invalid"


async def redact_customer(
    session: AsyncSession, request: PrivacyRequest, *, now: datetime
) -> dict[str, Any]:
    """Erase the request's customer in its store (the session's scope); return counts only."""
    footprint = await find_customer(session, request.customer_email_hash)
    anonymous = anonymous_address(request.id)
    identifiers = footprint.identifiers()
    deleted = await _delete_rows(session, footprint)
    for model, rows in footprint.rows.items():
        if model in DELETED:
            continue
        for row in rows:
            _erase_row(model, row, anonymous=anonymous, identifiers=identifiers)
    # After erasing, so the reasons written here are what staff read.
    stopped = _stop_work_in_flight(footprint, now=now)
    exports = await _delete_earlier_exports(session, request)
    await session.flush()
    counts = footprint.counts()
    return {
        "erased": {name: n for name, n in counts.items() if name not in deleted},
        "deleted": deleted,
        "addresses": len(footprint.addresses),
        "stopped": stopped,
        "exports_deleted": exports,
    }


async def drop_from_examples_index(session: AsyncSession, ids: list[int]) -> None:
    """Delete SQLite's full-text copy of these reply examples' words (before the examples).

    PostgreSQL indexes the column itself, so deleting the rows is enough there.
    """
    if ids and session.get_bind().dialect.name == "sqlite":
        fts = table(EXAMPLES_FTS_TABLE, sql_column("rowid"))
        await session.execute(delete(fts).where(fts.c.rowid.in_(ids)))


async def _delete_rows(session: AsyncSession, footprint: Footprint) -> dict[str, int]:
    """Delete the footprint's rows of the `DELETED` tables; their counts per table."""
    deleted: dict[str, int] = {}
    for model in DELETED:
        ids = sorted(footprint.ids(model))
        if not ids:
            continue
        if model is ReplyExample:
            await drop_from_examples_index(session, ids)
        for row in footprint.rows[model]:
            await session.delete(row)
        deleted[table_of(model).name] = len(ids)
    await session.flush()
    return deleted


def _erase_row(model: type[Base], row: Any, *, anonymous: str, identifiers: list[str]) -> None:
    table = table_of(model)
    keep = KEEP.get(table.name, frozenset())
    for column in table.columns:
        name = (table.name, column.name)
        if name in ZEROED:
            setattr(row, column.key, 0)
        if column.primary_key or column.foreign_keys or column.name == "store_id":
            continue
        kind = column_kind(column)
        if kind is None:
            continue
        if kind == "bytes":
            # Set without reading: a deferred raw payload is never loaded just to be erased.
            setattr(row, column.key, None if column.nullable else b"")
            continue
        value = getattr(row, column.key)
        if value is None:
            continue
        if name in ADDRESS_COLUMNS:
            setattr(row, column.key, anonymous)
        elif name in HASHED_COLUMNS:
            setattr(row, column.key, _hashed(value))
        elif name in PLAN_COLUMNS:
            setattr(row, column.key, _plan_codes(value))
        elif column.name in keep:
            if _mentions(value, identifiers):
                setattr(row, column.key, _cleared(column, value, row))
        else:
            setattr(row, column.key, _cleared(column, value, row))


def _hashed(address: str) -> str:
    """The address's hash (once: a value already hashed stays as it is)."""
    return address if _HASHED.fullmatch(address) else address_hash(address)


def _cleared(column: Any, value: Any, row: Any) -> Any:
    if column_kind(column) == "text":
        if column.name == "message_id":
            # Unique with the checksum: each erased Message-ID stays distinct.
            return f"<redacted-{row.id}@invalid>"
        length = getattr(column.type, "length", None)
        return MARKER[:length] if length else MARKER
    if column.nullable:
        return None
    return [] if isinstance(value, list) else {}


def _plan_codes(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    return {key: value[key] for key in PLAN_KEYS if key in value}


def _mentions(value: Any, identifiers: list[str]) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    lowered = text.lower()
    return any(identifier in lowered for identifier in identifiers)


def _stop_work_in_flight(footprint: Footprint, *, now: datetime) -> int:
    """Close what would otherwise go on: answering, sending, or acting for an erased customer."""
    stopped = 0
    for message in footprint.rows.get(Message, []):
        if message.status in _OPEN_MESSAGES:
            message.status = MessageStatus.CLOSED
            message.status_reason = STOP_REASON
            message.processed_at = message.processed_at or now
            stopped += 1
    for reply in footprint.rows.get(Reply, []):
        if reply.status is ReplyStatus.DRAFT:
            reply.status = ReplyStatus.REJECTED
            reply.reject_reason = STOP_REASON
            reply.decided_by, reply.decided_at = ERASED_BY, now
            stopped += 1
        elif reply.status in (ReplyStatus.QUEUED, ReplyStatus.FAILED):
            reply.status = ReplyStatus.DEAD
            reply.last_error = STOP_REASON
            stopped += 1
    for followup in footprint.rows.get(FollowUp, []):
        if followup.status is FollowUpStatus.SCHEDULED:
            followup.status = FollowUpStatus.SKIPPED
            followup.reason = STOP_REASON
            stopped += 1
    for proposal in footprint.rows.get(ProposedAction, []):
        if proposal.status is ProposalStatus.PENDING:
            proposal.status = ProposalStatus.REJECTED
            proposal.decided_by, proposal.decided_at = ERASED_BY, now
            stopped += 1
    return stopped


async def _delete_earlier_exports(session: AsyncSession, request: PrivacyRequest) -> int:
    """Delete the export files of the customer's earlier data requests (they hold it all)."""
    if not request.customer_email_hash:
        return 0
    statement = select(PrivacyRequest.id).where(
        PrivacyRequest.topic == PrivacyTopic.DATA_REQUEST,
        PrivacyRequest.customer_email_hash == request.customer_email_hash,
        PrivacyRequest.export.is_not(None),
    )
    ids = list((await session.execute(statement)).scalars())
    if ids:
        await session.execute(
            update(PrivacyRequest)
            .where(PrivacyRequest.id.in_(ids))
            .values(export=None)
            .execution_options(synchronize_session=False)
        )
    return len(ids)
