"""SQL tables. Raw payloads are bytes; every text column holds storable text only.

Text columns are `SafeText` / `SafeString` (`app.db.text`): NUL and other control characters
never reach the database, so no odd email can make a row, or a batch of rows, unstorable.

Timestamps are timezone-aware UTC in Python on every database (`UTCDateTime`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, validates

from app.db.accounts import ApiToken, StaffSession, StaffUser
from app.db.aftersale import RATING, FollowUp, Rating, ResolutionCheck, Unsubscribe
from app.db.autonomy import AutonomyChange, IntentAutonomy
from app.db.base import Base, BigId, UTCDateTime, stored_enum, utcnow
from app.db.delivery import DeliveryEventRecord, Suppression
from app.db.examples import ReplyExample
from app.db.knowledge import KnowledgeArticle, KnowledgePassage
from app.db.mailboxes import Mailbox
from app.db.segments import CustomerSegment, ProductSuggestion, SegmentCuts
from app.db.statuses import (
    AgentRunStatus,
    CloseReason,
    DeliveryState,
    JobKind,
    JobStatus,
    MessageStatus,
    ProposalStatus,
    ReplyStatus,
)
from app.db.stores import (
    PrivacyRequest,
    ShopifyWebhook,
    Store,
    StoreMembership,
    StoreOwned,
    StoreRouted,
    StoreScoped,
)
from app.db.text import SafeString, SafeText
from app.db.workspace import Macro, MessageNote, Presence

__all__ = [
    "CustomerSegment",
    "ProductSuggestion",
    "SegmentCuts",
    "AgentRun",
    "ApiToken",
    "AuditEntry",
    "AutonomyChange",
    "Base",
    "BigId",
    "Conversation",
    "DeliveryEventRecord",
    "IntentAutonomy",
    "FollowUp",
    "Job",
    "KnowledgeArticle",
    "KnowledgePassage",
    "LoginFailure",
    "Macro",
    "Mailbox",
    "Message",
    "MessageNote",
    "ModelTurn",
    "Presence",
    "PrivacyRequest",
    "ProposedAction",
    "RateWindow",
    "Reply",
    "ReplyExample",
    "ResolutionCheck",
    "ShopifyWebhook",
    "StaffSession",
    "StaffUser",
    "Store",
    "StoreMembership",
    "StoreOwned",
    "StoreRouted",
    "StoreScoped",
    "Suppression",
    "ToolCall",
    "Unsubscribe",
    "UTCDateTime",
    "stored_enum",
    "utcnow",
]


class Conversation(StoreOwned, Base):
    """A thread: inbound emails and our replies that reference each other."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_email: Mapped[str | None] = mapped_column(SafeString(320), index=True)
    subject: Mapped[str] = mapped_column(SafeText, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(StoreRouted, Base):
    """One inbound delivery: the exact payload as received, then what the worker made of it."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("message_id", "checksum", name="uq_messages_message_id_checksum"),
        Index("ix_messages_status_received_at", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(SafeString(32))
    payload_format: Mapped[str] = mapped_column(SafeString(32))
    content_type: Mapped[str] = mapped_column(SafeText)
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    """The request body exactly as the provider posted it.

    Deferred: it can be megabytes and only parsing reads it, so it is loaded only when asked for
    (`inbox.get_message(..., with_raw=True)`).
    """
    raw_size: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(SafeString(64))
    """sha256 of the email content (boundary-independent), the dedupe key with message_id."""
    # Lookups by Message-ID use the unique (message_id, checksum) index: no second index.
    message_id: Mapped[str] = mapped_column(SafeString(1000))
    has_synthetic_message_id: Mapped[bool] = mapped_column(Boolean, default=False)
    message_id_reused: Mapped[bool] = mapped_column(Boolean, default=False)
    """Another stored email has this Message-ID with different content."""
    status: Mapped[MessageStatus] = mapped_column(
        stored_enum(MessageStatus, length=32, constraint="ck_messages_status")
    )
    status_reason: Mapped[str | None] = mapped_column(SafeText)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    replies_to_conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", name="fk_messages_replies_to_conversation_id")
    )
    """Another sender's conversation this email named in In-Reply-To or References.

    A conversation belongs to its customer: such an email starts its own conversation instead of
    joining that one, and this keeps the link for staff.
    """

    # Normalised email (filled by the worker).
    from_header: Mapped[str | None] = mapped_column(SafeText)
    from_name: Mapped[str | None] = mapped_column(SafeText)
    from_address: Mapped[str | None] = mapped_column(SafeString(320), index=True)
    envelope_from: Mapped[str | None] = mapped_column(SafeText)
    subject: Mapped[str | None] = mapped_column(SafeText)
    sent_date: Mapped[datetime | None]
    in_reply_to: Mapped[list[Any] | None]
    references: Mapped[list[Any] | None]
    recipients: Mapped[dict[str, Any] | None]
    """`to`, `cc`, `reply_to` and `envelope_to` as lists of addresses."""
    text: Mapped[str | None] = mapped_column(SafeText)
    html: Mapped[str | None] = mapped_column(SafeText)
    clean_text: Mapped[str | None] = mapped_column(SafeText)
    headers: Mapped[list[Any] | None]
    attachments: Mapped[list[Any] | None]
    auth_results: Mapped[dict[str, Any] | None]
    spam_score: Mapped[float | None] = mapped_column(Float)
    defects: Mapped[list[Any] | None]

    # Decisions (filled by the worker), each with reason codes.
    guard_decisions: Mapped[list[Any] | None]
    sender_verified: Mapped[bool | None] = mapped_column(Boolean)
    identity_reason: Mapped[str | None] = mapped_column(SafeText)
    reply_plan: Mapped[dict[str, Any] | None]
    """The agent's plan (a `ReplyPlan`), once it ran."""
    steps: Mapped[list[Any] | None]
    """Each pipeline step with its duration and outcome, in order."""
    intent: Mapped[str | None] = mapped_column(SafeString(32), index=True)
    """The plan's intent, once planned (for filtering the queue)."""

    # The staff workspace: who has it, and why it was closed (`app.admin`).
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    assigned_at: Mapped[datetime | None]
    closed_reason: Mapped[CloseReason | None] = mapped_column(
        stored_enum(CloseReason, length=32, constraint="ck_messages_closed_reason")
    )
    closed_by: Mapped[str | None] = mapped_column(SafeString(320))
    closed_at: Mapped[datetime | None]


def _lowercase_recipient(context: DefaultExecutionContext) -> str | None:
    """`to_address` as written by a Core INSERT, lower-cased (ORM writes go through `_key`)."""
    parameters: dict[str, Any] = context.get_current_parameters()  # type: ignore[no-untyped-call]
    address = parameters.get("to_address")
    return address.lower() if isinstance(address, str) else None


class Reply(StoreOwned, Base):
    """An email we send (or hold as a draft) in answer to an inbound message: the outbox row.

    It moves draft -> queued -> sending -> sent, or failed (retry scheduled) / dead (given up) /
    unknown (an attempt ended without knowing whether the provider accepted it; staff check,
    it is never resent on its own). See `app.replies.outbox`.
    """

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_status_created_at", "status", "created_at"),
        # The per-sender reply cap compares addresses case-insensitively, on this column.
        Index("ix_replies_to_address_key_created_at", "to_address_key", "created_at"),
        Index("uq_replies_idempotency_key", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(SafeString(128))
    """One reply per purpose and message ("auto:<message id>"): a retried step finds it."""
    from_address: Mapped[str | None] = mapped_column(SafeString(320))
    to_address: Mapped[str] = mapped_column(SafeString(320))
    to_address_key: Mapped[str] = mapped_column(SafeString(320), default=_lowercase_recipient)
    """`to_address` lower-cased, for the per-sender reply cap's indexed lookup."""
    subject: Mapped[str | None] = mapped_column(SafeText)
    text_body: Mapped[str | None] = mapped_column(SafeText)
    html_body: Mapped[str | None] = mapped_column(SafeText)
    generated_text: Mapped[str | None] = mapped_column(SafeText)
    """The text as the service wrote it, kept when staff edit the draft."""
    language: Mapped[str | None] = mapped_column(SafeString(35))
    template: Mapped[str | None] = mapped_column(SafeString(64))
    rfc_message_id: Mapped[str | None] = mapped_column(SafeString(1000), index=True)
    """The Message-ID we gave the reply, so the customer's answer threads back to it."""
    in_reply_to: Mapped[str | None] = mapped_column(SafeString(1000))
    references: Mapped[list[Any] | None]
    is_automated: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[ReplyStatus] = mapped_column(
        stored_enum(ReplyStatus, length=32, constraint="ck_replies_status")
    )
    decision: Mapped[str | None] = mapped_column(SafeString(16))
    decision_reasons: Mapped[list[Any] | None]
    verification: Mapped[list[Any] | None]
    """The verifier's problems with the reply as rendered (empty: it passed)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(SafeText)
    provider_message_id: Mapped[str | None] = mapped_column(SafeString(256), index=True)
    """SendGrid's X-Message-Id (or the log transport's file name): delivery events name it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sending_started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(SafeString(320))
    """The staff member who approved or rejected the draft."""
    decided_at: Mapped[datetime | None]
    edit_distance: Mapped[int | None] = mapped_column(Integer)
    """Words inserted, deleted or replaced by staff before approving (0: approved as is)."""
    reject_reason: Mapped[str | None] = mapped_column(SafeText)
    author: Mapped[str | None] = mapped_column(SafeString(320))
    """The staff member who wrote this reply in the composer (None: the service drafted it)."""
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Raised by every saved edit of a draft, so approving what someone else changed asks first."""
    revised_by: Mapped[str | None] = mapped_column(SafeString(320))
    revised_at: Mapped[datetime | None]
    delivery_state: Mapped[DeliveryState | None] = mapped_column(
        stored_enum(DeliveryState, length=16, constraint="ck_replies_delivery_state")
    )
    """What the provider last said of it, the most final first (`app.replies.deliveries`)."""
    delivery_hard: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    delivery_at: Mapped[datetime | None]
    delivery_reason: Mapped[str | None] = mapped_column(SafeText)
    shadow_decision: Mapped[str | None] = mapped_column(SafeString(16))
    """Shadow mode: what the policy would have done at `auto` ("send" or "draft")."""
    reject_category: Mapped[str | None] = mapped_column(SafeString(32))
    """Why staff rejected it, a `RejectCategory` value ("wrong_fact" counts for autonomy)."""
    rating: Mapped[Rating | None] = mapped_column(RATING)  # The customer's, by its link.
    rating_comment: Mapped[str | None] = mapped_column(SafeText)
    rated_at: Mapped[datetime | None]

    @validates("to_address")
    def _key(self, _key: str, address: str) -> str:
        self.to_address_key = address.lower()
        return address


class Job(StoreRouted, Base):
    """A unit of background work, claimed with a lease so a crashed worker's job comes back."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "priority", "run_after"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[JobKind] = mapped_column(
        stored_enum(JobKind, length=64, constraint="ck_jobs_kind")
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id"), index=True)
    status: Mapped[JobStatus] = mapped_column(
        stored_enum(JobStatus, length=16, constraint="ck_jobs_status")
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(SmallInteger, default=100, server_default="100")
    """Lower runs first: sends (0) before inbound work (100), so replies never wait on a backlog."""
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(SafeString(128))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class AgentRun(StoreOwned, Base):
    """One run of the agent on one message: which model, what it cost, what it decided."""

    __tablename__ = "agent_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    llm_kind: Mapped[str] = mapped_column(SafeString(32))
    model: Mapped[str] = mapped_column(SafeString(128))
    prompt_version: Mapped[str] = mapped_column(SafeString(32))
    tools_hash: Mapped[str] = mapped_column(SafeString(32))
    status: Mapped[AgentRunStatus] = mapped_column(
        stored_enum(AgentRunStatus, length=16, constraint="ck_agent_runs_status"),
        default=AgentRunStatus.RUNNING,
    )
    """running → finished, or abandoned when a crashed run is replaced."""
    steps: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    intent: Mapped[str | None] = mapped_column(SafeString(32))
    confidence: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str | None] = mapped_column(SafeString(35))
    needs_human: Mapped[bool | None] = mapped_column(Boolean)
    handover_reason: Mapped[str | None] = mapped_column(SafeString(32))
    plan: Mapped[dict[str, Any] | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class ModelTurn(StoreOwned, Base):
    """One model round trip: what was sent, what came back, tokens and latency."""

    __tablename__ = "model_turns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_run_id: Mapped[int] = mapped_column(ForeignKey("agent_runs.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    llm_kind: Mapped[str] = mapped_column(SafeString(32))
    model: Mapped[str] = mapped_column(SafeString(128))
    prompt_version: Mapped[str] = mapped_column(SafeString(32))
    tools_hash: Mapped[str] = mapped_column(SafeString(32))
    request: Mapped[dict[str, Any]]
    response: Mapped[dict[str, Any] | None]
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    finish_reason: Mapped[str | None] = mapped_column(SafeString(64))
    error: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ToolCall(StoreOwned, Base):
    """The audit record of one tool call made while answering a message."""

    __tablename__ = "tool_calls"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    agent_run_id: Mapped[int | None] = mapped_column(ForeignKey("agent_runs.id"), index=True)
    call_id: Mapped[str | None] = mapped_column(SafeString(128))
    """The model's id for the call, pairing it with the model turn that asked for it."""
    tool: Mapped[str] = mapped_column(SafeString(64))
    arguments: Mapped[dict[str, Any] | None]
    raw_arguments: Mapped[str | None] = mapped_column(SafeText)
    """The arguments as the model sent them, when they did not validate."""
    outcome: Mapped[str] = mapped_column(SafeString(32))
    summary: Mapped[str] = mapped_column(SafeText)
    result: Mapped[dict[str, Any] | None]
    """The typed facts the tool returned (what a reply may show), when it succeeded."""
    duration_ms: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposedAction(StoreOwned, Base):
    """A store change the model proposed; nothing happens until a person approves it."""

    __tablename__ = "proposed_actions"
    __table_args__ = (Index("ix_proposed_actions_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    agent_run_id: Mapped[int | None] = mapped_column(ForeignKey("agent_runs.id"), index=True)
    tool: Mapped[str] = mapped_column(SafeString(64))
    arguments: Mapped[dict[str, Any]]
    order_id: Mapped[str] = mapped_column(SafeString(128))
    order_name: Mapped[str] = mapped_column(SafeString(64))
    reason: Mapped[str] = mapped_column(SafeText)
    status: Mapped[ProposalStatus] = mapped_column(
        stored_enum(ProposalStatus, length=16, constraint="ck_proposed_actions_status"),
        default=ProposalStatus.PENDING,
    )
    """pending → approved → executed | failed, or rejected."""
    result: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(SafeString(320))


class AuditEntry(StoreRouted, Base):
    """Who did what, when, to which record, and what changed."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_email: Mapped[str] = mapped_column(SafeString(320))
    action: Mapped[str] = mapped_column(SafeString(64))
    target_type: Mapped[str] = mapped_column(SafeString(32))
    target_id: Mapped[int | None] = mapped_column(BigId)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    detail: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RateWindow(Base):
    """Requests and tokens spent on a provider in one minute, shared by every worker process."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """Recent failed logins under one key (a client address or an account), for every process.

    The key is a SHA-256 of `address:<ip>` or `account:<email>`, so a password typed into the
    email field is never stored as written.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime]
