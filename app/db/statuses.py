"""The stored status words: one `StrEnum` per status column, and nothing SQL.

The tables (`app.db.models`) store each member's value, so renaming a value needs a migration.
These live here, next to the tables and below every package that writes them, so that the tables
can use them without importing the code that sets them (intake, the worker, the outbox, the
admin). Nothing in this module imports SQLAlchemy: anything may import it.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """Where a stored inbound email is in its life."""

    RECEIVED = "received"
    """Stored and acknowledged; waiting for the worker."""
    QUARANTINED = "quarantined"
    """Authentic but could not be understood; kept for staff."""
    SKIPPED = "skipped"
    """Never to be answered (auto-reply, bounce, list mail, our own mail...)."""
    NEEDS_HUMAN = "needs_human"
    """May be answered, but not automatically (a cap was hit, spam suspicion...)."""
    READY = "ready"
    """Understood and cleared by the guards; waiting for the agent."""
    PLANNED = "planned"
    """The agent made a reply plan; waiting for the reply to be rendered and sent or drafted."""
    DRAFTED = "drafted"
    """A reply waits as a draft for staff (with the reasons it was not sent)."""
    ANSWERED = "answered"
    """A reply was queued for sending; its delivery is on the reply row."""
    CLOSED = "closed"
    """Staff closed it without (another) reply: `messages.closed_reason` says why."""


class CloseReason(StrEnum):
    """Why staff closed an email without a reply from this service."""

    HANDLED_ELSEWHERE = "handled_elsewhere"
    """Answered by phone, in another tool, or by a colleague's own mail."""
    SPAM = "spam"
    DUPLICATE = "duplicate"
    NO_REPLY_NEEDED = "no_reply_needed"
    """A thank-you, a newsletter, a notification: nothing to answer."""
    DRAFT_REJECTED = "draft_rejected"
    """Staff rejected the service's draft (the reason is on the reply)."""


class PresenceKind(StrEnum):
    """What a staff member is doing with an email right now (a heartbeat keeps it fresh)."""

    VIEWING = "viewing"
    EDITING = "editing"


class ReplyStatus(StrEnum):
    """Where a reply is in its life (see `app.replies.outbox`)."""

    DRAFT = "draft"
    REJECTED = "rejected"
    QUEUED = "queued"
    SENDING = "sending"
    FAILED = "failed"
    SENT = "sent"
    DEAD = "dead"
    UNKNOWN = "unknown"


class DeliveryState(StrEnum):
    """What the provider last said of a sent reply (`app.mail.delivery.EventKind`'s values)."""

    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    SPAM_REPORT = "spam_report"


class JobStatus(StrEnum):
    """Where a background job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    DEAD = "dead"


class JobKind(StrEnum):
    """What a background job does."""

    PROCESS_INBOUND = "process_inbound"
    SEND_REPLY = "send_reply"
    PRIVACY_REQUEST = "privacy_request"
    """Carry out one of Shopify's privacy webhooks (export, customer redact, shop redact)."""


class ProposalStatus(StrEnum):
    """Where a proposed store change is: pending → approved → executed | failed, or rejected."""

    PENDING = "pending"
    APPROVED = "approved"
    """Claimed by a staff member; the store call is running."""
    EXECUTED = "executed"
    FAILED = "failed"
    REJECTED = "rejected"


class AgentRunStatus(StrEnum):
    """How an agent run ended: running → finished, or abandoned when a crashed run is replaced."""

    RUNNING = "running"
    FINISHED = "finished"
    ABANDONED = "abandoned"


class TokenScope(StrEnum):
    """What an admin API token may do."""

    READ = "read"
    """Only reads: any request that would change something is refused (403)."""
    REVIEW = "review"
    """Reads and the review decisions a staff member can take (approve, reject, retry...)."""


class StoreStatus(StrEnum):
    """Whether a store's mail is handled."""

    ACTIVE = "active"
    DISABLED = "disabled"
    """Turned off by an operator (`python -m app stores disable`): history kept, no mail handled."""
    UNINSTALLED = "uninstalled"
    """The Shopify app was uninstalled: history kept until `shop/redact`, no mail handled."""
    REDACTED = "redacted"
    """`shop/redact` erased the store's data; only this row (without credentials) remains."""


class StoreRole(StrEnum):
    """What a staff member may do in one store."""

    OWNER = "owner"
    """Everything an agent may, plus the store's settings, staff and privacy exports."""
    AGENT = "agent"
    """Reviews and answers the store's mail."""


class PrivacyTopic(StrEnum):
    """Shopify's mandatory privacy webhooks."""

    DATA_REQUEST = "customers/data_request"
    CUSTOMER_REDACT = "customers/redact"
    SHOP_REDACT = "shop/redact"


class PrivacyStatus(StrEnum):
    """Where a privacy request is: pending (until `due_at`) → done, or failed (retried)."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class KnowledgeSource(StrEnum):
    """Where a help article came from (re-imports replace only their own source's articles)."""

    MARKDOWN = "markdown"
    """A Markdown file in `KNOWLEDGE_DIR` (or the demo store's bundled set)."""
    SHOPIFY_PAGE = "shopify_page"
    """An online-store page, read through the Admin GraphQL API."""
    SHOPIFY_ARTICLE = "shopify_article"
    """A blog article, read through the Admin GraphQL API."""
    STAFF = "staff"
    """Written or promoted by staff in the admin."""


class AutonomyLevel(StrEnum):
    """How much the service does alone for one intent in one language (`app.replies.autonomy`)."""

    OFF = "off"
    """A person writes: no draft, the email waits for staff."""
    DRAFT = "draft"
    """The service drafts; staff approve, edit or reject."""
    SHADOW = "shadow"
    """The service drafts, and records whether it would have sent the reply at `auto`."""
    AUTO = "auto"
    """The service sends what the send policy allows (`AUTO_SEND_INTENTS` stays the bound)."""


class RejectCategory(StrEnum):
    """Why staff rejected a draft, as a code the autonomy rules can count."""

    WRONG_FACT = "wrong_fact"
    """The draft stated something untrue (an order's status, a price, a policy)."""
    WRONG_TONE = "wrong_tone"
    INCOMPLETE = "incomplete"
    OTHER = "other"


class Rating(StrEnum):
    """What a customer said of a reply through its satisfaction link."""

    GOOD = "good"
    NOT_GOOD = "not_good"


class FollowUpKind(StrEnum):
    """A proactive email this service sends after the sale (`app.jobs.followups`)."""

    CHECKIN = "checkin"
    """Some days after an order is delivered: did everything arrive well?"""
    REVIEW = "review"
    """After a customer rated a reply good: would they review the store?"""


class FollowUpStatus(StrEnum):
    """Where a follow-up is: scheduled → sending → sent, or skipped (with why), dead, unknown."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    """Not sent, for good: unsubscribed, suppressed, capped, turned off, or refused by a check."""
    DEAD = "dead"
    UNKNOWN = "unknown"
    """An attempt ended without knowing whether the provider took it: never resent."""
