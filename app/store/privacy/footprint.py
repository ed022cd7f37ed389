"""One customer's rows in one store, found from the SHA-256 of their email address.

Shopify names the customer by id and address; we keep only the address's hash
(`customer_email_hash`), so the rows are found by hashing the addresses the store's own rows
hold and keeping the ones that match. Every column holding a customer's address directly is
declared once, in `CUSTOMER_ADDRESSES` (senders, conversation owners, reply recipients,
follow-ups, unsubscribes, suppressions, resolution checks, segments), with what a redact does to
its rows; a new table with such a column is covered by adding one line there (a test fails
until it is). Emails not yet parsed have no sender column: their raw delivery is searched for
addresses instead.

From those roots the search follows foreign keys: every store-scoped table with a column
pointing at one of the customer's messages, conversations, replies or agent runs is part of the
footprint, so a table added later is covered without being named here. Audit entries also
count when their target is one of the customer's rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Enum, LargeBinary, String, Table, TypeDecorator, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import JSON, TypeEngine

from app.db.delivery import address_hash as address_hash
from app.db.models import (
    AgentRun,
    AuditEntry,
    Base,
    Conversation,
    CustomerSegment,
    FollowUp,
    Job,
    Message,
    PrivacyRequest,
    ProposedAction,
    Reply,
    ResolutionCheck,
    Suppression,
    Unsubscribe,
)
from app.db.scope import scoped_tables

# An address as it appears in a raw delivery's headers or form fields (the only place an email
# that was never parsed names its sender).
_ADDRESS_IN_RAW = re.compile(rb"[A-Za-z0-9._%+=\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# Names shorter than this are left out of the "still mentions the customer" check: two letters
# would match half the words in a report.
_MIN_NAME_CHARS = 3
# The tables the search starts from, and what an audit entry's `target_type` calls them.
_ROOTS: tuple[type[Base], ...] = (Message, Conversation, Reply, AgentRun)
_AUDIT_TARGETS: dict[str, type[Base]] = {
    "message": Message,
    "conversation": Conversation,
    "reply": Reply,
    "proposal": ProposedAction,
    "job": Job,
}


class OnRedact(StrEnum):
    """What `customers/redact` does to a row found by its address column."""

    ANONYMISE = "anonymise"
    """Erase in place (`erase`): the address becomes the request's anonymous one."""
    HASH = "hash"
    """Erase in place, but the address becomes its SHA-256 (`address_hash`): a marker that
    still stops mail to the customer (an unsubscribe, a bounce) without saying who they are."""
    DELETE = "delete"
    """Delete the row: derived data nothing counts or needs once the customer is gone."""


@dataclass(frozen=True)
class CustomerAddress:
    """A column holding one customer's address (any case; matched lower-cased and hashed)."""

    model: type[Base]
    column: str
    on_redact: OnRedact = OnRedact.ANONYMISE

    def attribute(self) -> InstrumentedAttribute[Any]:
        """The mapped column (queried through the class, so the store scope filters it)."""
        found = getattr(self.model, self.column)
        assert isinstance(found, InstrumentedAttribute)
        return found

    @property
    def key(self) -> tuple[str, str]:
        """(table, column), as `erase` names columns."""
        return (table_of(self.model).name, self.column)


def column_kind(column: Any) -> str | None:
    """`text`, `json` or `bytes` for a column that can hold what a person wrote; else None.

    Status enums are strings too, but hold only their members' words, so they are not text here.
    """
    kind: TypeEngine[Any] = column.type
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, Enum):
        return None
    if isinstance(kind, JSON):
        return "json"
    if isinstance(kind, LargeBinary):
        return "bytes"
    if isinstance(kind, String):
        return "text"
    return None


def table_of(model: type[Base]) -> Table:
    """The table a mapped class is stored in."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


CUSTOMER_ADDRESSES: tuple[CustomerAddress, ...] = (
    CustomerAddress(Message, "from_address"),
    CustomerAddress(Conversation, "customer_email"),
    CustomerAddress(Reply, "to_address"),
    CustomerAddress(Reply, "to_address_key"),
    CustomerAddress(ResolutionCheck, "address"),
    CustomerAddress(FollowUp, "address"),
    # Kept as a hash so an erased customer still gets no proactive mail, and no automated mail
    # to an address that bounced or reported spam, if they write again.
    CustomerAddress(Unsubscribe, "address", OnRedact.HASH),
    CustomerAddress(Suppression, "address", OnRedact.HASH),
    # Recomputed from the store's customers at the next refresh; nothing points at it.
    CustomerAddress(CustomerSegment, "email", OnRedact.DELETE),
)
"""Every column holding a customer's address directly, and what a redact does to its rows."""


@dataclass
class Footprint:
    """What one store holds about one customer: the addresses, names and rows found."""

    addresses: set[str] = field(default_factory=set)
    """The customer's address as each row spelled it (case may differ)."""
    names: set[str] = field(default_factory=set)
    """Display names the customer's emails carried."""
    rows: dict[type[Base], list[Any]] = field(default_factory=dict)
    """The rows found, per table, in dependency order (parents first)."""

    def ids(self, model: type[Base]) -> set[int]:
        """The primary keys of the rows found in `model`'s table."""
        return {row.id for row in self.rows.get(model, [])}

    def counts(self) -> dict[str, int]:
        """Rows found per table name (what a summary may say)."""
        return {table_of(model).name: len(rows) for model, rows in self.rows.items()}

    def identifiers(self) -> list[str]:
        """Lower-case strings whose presence in a kept column means it still names the customer."""
        names = {name.lower() for name in self.names if len(name) >= _MIN_NAME_CHARS}
        return sorted({address.strip().lower() for address in self.addresses} | names)

    def add(self, model: type[Base], found: Iterable[Any]) -> None:
        """Add rows to `model`'s list, once each."""
        rows = self.rows.setdefault(model, [])
        known = {row.id for row in rows}
        for row in found:
            if row.id not in known:
                known.add(row.id)
                rows.append(row)


async def find_customer(session: AsyncSession, email_hash: str | None) -> Footprint:
    """Everything the session's store holds about the customer whose address hashes to this.

    The session must be scoped to one store (`db.for_store`): every query here relies on it.
    """
    footprint = Footprint()
    if not email_hash:
        return footprint
    addresses = await _matching_addresses(session, email_hash)
    unparsed = await _unparsed_messages_naming(session, email_hash, footprint)
    footprint.addresses |= addresses
    if not addresses and not unparsed:
        return footprint
    wanted = sorted(addresses)
    messages = await _rows(
        session, Message, Message.from_address.in_(wanted), Message.id.in_(sorted(unparsed))
    )
    conversation_ids = {m.conversation_id for m in messages if m.conversation_id is not None}
    conversations = await _rows(
        session,
        Conversation,
        Conversation.customer_email.in_(wanted),
        Conversation.id.in_(sorted(conversation_ids)),
    )
    conversation_ids |= {conversation.id for conversation in conversations}
    messages += await _rows(session, Message, Message.conversation_id.in_(sorted(conversation_ids)))
    footprint.add(Message, messages)
    footprint.add(Conversation, conversations)
    footprint.names |= {(m.from_name or "").strip() for m in messages} - {""}
    message_ids = sorted(footprint.ids(Message))
    footprint.add(
        Reply,
        await _rows(
            session,
            Reply,
            Reply.message_id.in_(message_ids),
            Reply.conversation_id.in_(sorted(conversation_ids)),
            Reply.to_address.in_(wanted),
        ),
    )
    footprint.add(AgentRun, await _rows(session, AgentRun, AgentRun.message_id.in_(message_ids)))
    for declared in CUSTOMER_ADDRESSES:
        if declared.model not in _ROOTS and wanted:
            column = declared.attribute()
            footprint.add(declared.model, await _rows(session, declared.model, column.in_(wanted)))
    await _follow_foreign_keys(session, footprint)
    order = {table.name: n for n, table in enumerate(Base.metadata.sorted_tables)}
    found = [(model, rows) for model, rows in footprint.rows.items() if rows]
    footprint.rows = dict(sorted(found, key=lambda kv: order[table_of(kv[0]).name]))
    return footprint


async def _matching_addresses(session: AsyncSession, email_hash: str) -> set[str]:
    """Every spelling of the customer's address among the store's declared address columns."""
    found: set[str] = set()
    for declared in CUSTOMER_ADDRESSES:
        column = declared.attribute()
        values = (await session.execute(select(column).distinct())).scalars()
        found |= {value for value in values if value and address_hash(value) == email_hash}
    return found


async def _unparsed_messages_naming(
    session: AsyncSession, email_hash: str, footprint: Footprint
) -> set[int]:
    """Emails not parsed yet (or unparseable) whose raw delivery carries the customer's address."""
    statement = select(Message.id, Message.raw).where(Message.from_address.is_(None))
    found: set[int] = set()
    for pk, raw in (await session.execute(statement)).all():
        for token in set(_ADDRESS_IN_RAW.findall(raw or b"")):
            address = token.decode("ascii", "replace")
            if address_hash(address) == email_hash:
                found.add(pk)
                footprint.addresses.add(address)
    return found


async def _rows(
    session: AsyncSession, model: type[Base], *conditions: ColumnElement[bool]
) -> list[Any]:
    statement = select(model).where(or_(*conditions)).order_by(table_of(model).c.id)
    return list((await session.execute(statement)).scalars())


async def _follow_foreign_keys(session: AsyncSession, footprint: Footprint) -> None:
    """Add every row of the other store tables that points at a row already found."""
    models: dict[str, type[Base]] = {
        table_of(model).name: model for model in scoped_tables() if issubclass(model, Base)
    }
    skipped = {table_of(model).name for model in _ROOTS} | {
        table_of(PrivacyRequest).name,
        table_of(AuditEntry).name,
    }
    ordered = [t.name for t in Base.metadata.sorted_tables if t.name in models]
    for name in [*[n for n in ordered if n not in skipped], table_of(AuditEntry).name]:
        model = models[name]
        table = table_of(model)
        conditions: list[ColumnElement[bool]] = []
        for column in table.columns:
            for key in column.foreign_keys:
                target = models.get(key.column.table.name)
                ids = footprint.ids(target) if target is not None else set()
                if ids:
                    conditions.append(column.in_(sorted(ids)))
        if name == table_of(AuditEntry).name:
            conditions += _audit_targets(footprint)
        if conditions:
            footprint.add(model, await _rows(session, model, *conditions))


def _audit_targets(footprint: Footprint) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for target_type, model in _AUDIT_TARGETS.items():
        ids = footprint.ids(model)
        if ids:
            conditions.append(
                (AuditEntry.target_type == target_type) & AuditEntry.target_id.in_(sorted(ids))
            )
    return conditions
