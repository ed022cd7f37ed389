"""What the admin answers: one pydantic model per response, so the OpenAPI schema documents it.

Models built from table rows read their attributes (`from_attributes`). Columns that hold JSON
written by other parts of the service (headers, guard decisions, pipeline steps, the plan, tool
arguments and results) stay JSON objects here: their shape belongs to the code that writes them.
Timestamps are ISO 8601 strings with the UTC offset (`2026-11-22T09:10:07.123456+00:00`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    WithJsonSchema,
)

from app.db.statuses import (
    AgentRunStatus,
    CloseReason,
    DeliveryState,
    JobKind,
    JobStatus,
    MessageStatus,
    ProposalStatus,
    ReplyStatus,
    TokenScope,
)


def _iso(value: datetime) -> str:
    return value.isoformat()


Timestamp = Annotated[
    datetime,
    PlainSerializer(_iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
"""A timestamp, in JSON as Python writes it (`+00:00`, as this API always has), not `Z`."""

JsonObject = dict[str, Any]
Strings = Annotated[list[str], BeforeValidator(lambda value: value or [])]
"""A JSON list of strings that may be stored as NULL (read as an empty list)."""
Objects = Annotated[list[JsonObject], BeforeValidator(lambda value: value or [])]
"""A JSON list of objects that may be stored as NULL (read as an empty list)."""


class Schema(BaseModel):
    """A response model; the docstring under a field is its description in the schema."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class FromRow(Schema):
    """A response model filled from a table row's attributes."""

    model_config = ConfigDict(from_attributes=True, use_attribute_docstrings=True)


class Problem(Schema):
    """Why a request was refused: a sentence, and the checks that failed (if any)."""

    detail: str
    problems: list[str] = []


class StaffView(FromRow):
    """The staff member the credentials belong to."""

    email: str
    name: str
    scope: TokenScope
    """What these credentials may do: `read` only reads; `review` (and a session) may decide."""


class TokenView(FromRow):
    """An API token as listed: never the token itself, only the characters it starts with."""

    id: int
    prefix: str
    """The token's first characters, to recognise it."""
    staff_email: str
    name: str
    scope: TokenScope
    state: str
    """`active`, `expired` or `revoked`."""
    created_at: Timestamp
    expires_at: Timestamp
    last_used_at: Timestamp | None
    """When it was last used (to within a few minutes)."""
    revoked_at: Timestamp | None


class TokenList(RootModel[list[TokenView]]):
    """The caller's API tokens, newest first."""


# --- the queue ---------------------------------------------------------------------------------


class ReplyBrief(FromRow):
    """A reply in brief: where it is and why it was drafted."""

    id: int
    status: ReplyStatus
    decision: str | None
    decision_reasons: Strings
    language: str | None
    delivery_state: DeliveryState | None
    """What the provider last said of it once sent (the most final state it reported)."""


class MessageSummary(FromRow):
    """An email as the queue lists it, with its latest reply in brief."""

    id: int
    received_at: Timestamp
    status: MessageStatus
    status_reason: str | None
    from_name: str | None
    from_address: str | None
    sender_verified: bool | None
    subject: str | None
    intent: str | None
    language: str | None
    """The language of the email, from the agent's plan."""
    confidence: float | None
    """The agent's confidence in its plan."""
    needs_human: bool | None
    """Whether the agent asked for a person."""
    conversation_id: int | None
    reply: ReplyBrief | None
    first_line: str
    """The customer's first line (from the email's text without quotes and signature)."""
    reasons: list[str]
    """Why the email is where it is, in plain words, most important first (codes: the trace)."""
    assigned_to_id: int | None
    closed_reason: CloseReason | None


class QueuePage(Schema):
    """One page of the queue: on with `before_id=next_before_id` or `after_id=next_after_id`."""

    items: list[MessageSummary]
    next_before_id: int | None
    next_after_id: int | None = None


class ConversationMember(FromRow):
    """An email of a thread."""

    id: int
    status: MessageStatus


class ConversationView(FromRow):
    """A thread and its emails."""

    id: int
    customer_email: str | None
    subject: str
    created_at: Timestamp
    last_message_at: Timestamp
    messages: list[ConversationMember]


class ConversationPage(Schema):
    """One page of threads, most recent first."""

    items: list[ConversationView]
    next_before_id: int | None


# --- one email's trace -------------------------------------------------------------------------


class MessageDetail(MessageSummary):
    """The email itself: what came in, as parsed (never the raw bytes)."""

    message_id: str
    message_id_reused: bool
    provider: str
    payload_format: str
    raw_size: int
    processed_at: Timestamp | None
    replies_to_conversation_id: int | None
    """Another sender's conversation this email named in In-Reply-To or References; it started
    its own conversation instead of joining that one (a conversation belongs to its customer)."""
    replies_to_message_id: int | None
    """The first email of that other conversation, to open it."""
    closed_by: str | None
    closed_at: Timestamp | None
    from_header: str | None
    envelope_from: str | None
    recipients: JsonObject | None
    in_reply_to: list[Any] | None
    references: list[Any] | None
    headers: list[Any] | None
    text: str | None
    clean_text: str | None
    attachments: list[Any] | None
    auth_results: JsonObject | None
    spam_score: float | None
    defects: list[Any] | None


class Identity(Schema):
    """Whether the sender is who the From header says, and why."""

    verified: bool | None
    reason: str | None


class AgentRunView(FromRow):
    """One run of the agent on the email."""

    id: int
    status: AgentRunStatus
    llm_kind: str
    model: str
    prompt_version: str
    tools_hash: str
    steps: int
    input_tokens: int
    output_tokens: int
    intent: str | None
    confidence: float | None
    needs_human: bool | None
    handover_reason: str | None
    started_at: Timestamp
    finished_at: Timestamp | None


class ModelTurnView(FromRow):
    """One model round trip: what was sent and what came back."""

    id: int
    agent_run_id: int
    step: int
    llm_kind: str
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    latency_ms: float
    finish_reason: str | None
    error: str | None
    request: JsonObject
    response: JsonObject | None


class ToolCallView(FromRow):
    """One tool call: its arguments, outcome and the facts it returned."""

    id: int
    agent_run_id: int | None
    call_id: str | None
    tool: str
    arguments: JsonObject | None
    raw_arguments: str | None
    outcome: str
    summary: str
    result: JsonObject | None
    duration_ms: float


class ReplyView(ReplyBrief):
    """A reply in full: its text, checks, delivery and the staff decision on it."""

    to_address: str
    from_address: str | None
    subject: str | None
    text: str | None = Field(validation_alias="text_body")
    html: str | None = Field(validation_alias="html_body")
    generated_text: str | None
    """The text as the service wrote it, kept when staff edit the draft."""
    template: str | None
    verification: Strings
    """The verifier's problems with the reply as rendered (empty: it passed)."""
    rfc_message_id: str | None
    in_reply_to: str | None
    references: list[Any] | None
    is_automated: bool
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    created_at: Timestamp
    sent_at: Timestamp | None
    decided_by: str | None
    decided_at: Timestamp | None
    edit_distance: int | None
    reject_reason: str | None
    author: str | None
    """The staff member who wrote it in the composer (null: the service drafted it)."""
    revision: int
    """Raised by every saved edit of a draft: approving sends the revision seen."""
    revised_by: str | None
    delivery_hard: bool
    """A permanent failure (with `delivery_state` bounced)."""
    delivery_at: Timestamp | None
    """When the provider says the state was reached."""
    delivery_reason: str | None
    """What the receiving server or the provider said."""
    rating: str | None = None
    """The customer's satisfaction rating by the reply's link: good or not_good."""
    rating_comment: str | None = None
    rated_at: Timestamp | None = None


class DeliveryEventView(FromRow):
    """A provider's event about one of the email's replies."""

    id: int
    reply_id: int | None
    provider: str
    kind: DeliveryState
    hard: bool
    recipient: str
    reason: str
    occurred_at: Timestamp
    received_at: Timestamp


class SuppressionView(FromRow):
    """An address that gets no automated mail from this store, and why."""

    id: int
    address: str
    kind: DeliveryState
    """`bounced` (hard) or `spam_report`."""
    reason: str
    reply_id: int | None
    occurred_at: Timestamp
    suppressed_at: Timestamp
    lifted_at: Timestamp | None
    """When staff lifted it (null: in force)."""
    lifted_by: str | None


class ProposalView(FromRow):
    """A store change the agent proposed, and what became of it."""

    id: int
    message_id: int | None
    tool: str
    order_name: str
    arguments: JsonObject
    reason: str
    status: ProposalStatus
    result: JsonObject | None
    created_at: Timestamp
    decided_by: str | None
    decided_at: Timestamp | None


class ProposalList(RootModel[list[ProposalView]]):
    """Proposed store changes, newest first."""


class JobBrief(FromRow):
    """A background job of the email."""

    id: int
    kind: JobKind
    status: JobStatus
    attempts: int
    last_error: str | None
    reply_id: int | None


class JobView(JobBrief):
    """A background job, with when it runs."""

    message_id: int | None
    run_after: Timestamp
    created_at: Timestamp
    finished_at: Timestamp | None


class JobList(RootModel[list[JobView]]):
    """Background jobs, newest first."""


class AuditView(FromRow):
    """Who did what to the email, when."""

    at: Timestamp = Field(validation_alias="created_at")
    staff: str = Field(validation_alias="staff_email")
    action: str
    target_type: str
    target_id: int | None
    detail: JsonObject | None


class MessageTrace(Schema):
    """Everything about one email: every decision, model turn, tool call, reply and job."""

    message: MessageDetail
    guards: Objects
    """The guards' decisions (code, verdict, detail)."""
    identity: Identity
    steps: Objects
    """Each pipeline step with its duration and outcome, in order."""
    plan: JsonObject | None
    """The agent's reply plan, once it ran."""
    agent_runs: list[AgentRunView]
    model_turns: list[ModelTurnView]
    tool_calls: list[ToolCallView]
    replies: list[ReplyView]
    proposals: list[ProposalView]
    jobs: list[JobBrief]
    audit: list[AuditView]
    delivery_events: list[DeliveryEventView]
    """What the provider reported about the replies, in the order it came."""
    suppression: SuppressionView | None
    """The sender's address on this store's suppression list, if it is (in force)."""


# --- decisions ---------------------------------------------------------------------------------


class MessageOutcome(Schema):
    """The email's status after the action."""

    id: int
    status: MessageStatus


class ReplyOutcome(Schema):
    """The reply's status after the action."""

    id: int
    status: ReplyStatus


class ApprovalOutcome(ReplyOutcome):
    """An approved draft: queued, with how many words staff changed (0: approved as is)."""

    edit_distance: int


class ProposalOutcome(Schema):
    """The proposal's status after the decision."""

    id: int
    status: ProposalStatus


class ProposalResult(ProposalOutcome):
    """A carried-out proposal: its status and what the store answered."""

    result: JsonObject


class JobOutcome(Schema):
    """The job's status after the action."""

    id: int
    status: JobStatus
