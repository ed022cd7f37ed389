"""Autonomy per intent, earned: the rules, and the records they read and write.

Each intent has a level per store and language (`AutonomyLevel`): `off` (a person writes, no
draft), `draft`, `shadow` (draft, and record whether the policy would have sent it at `auto`)
or `auto` (the send policy decides; `AUTO_SEND_INTENTS` stays the upper bound). An intent no
owner has set is at `AUTONOMY_START_LEVEL`.

The rules measure a window: the last `AUTONOMY_WINDOW` drafts of the intent in that language
the service wrote and staff reviewed (approved, edited or rejected; a draft superseded by a
re-run or stopped by a privacy erasure is no review), decided since the intent's last demotion.

- Proposed for `auto` (an owner still has to promote it): the window is full, at least
  `AUTONOMY_MIN_APPROVED_RATE` of it was approved as is (edit distance 0), and none of it was
  rejected for a wrong fact.
- Dropped back to `draft`, automatically: at `auto`, when a full window's rate falls below the
  threshold, when a draft in the window was rejected for a wrong fact, or when a sent reply of
  the intent is reported wrong (`report_wrong`). The measurement then starts again.

A rejection is "for a wrong fact" when its `reject_category` is `wrong_fact`, or, until the
reject form asks for a category, when its reason starts with "wrong fact". Every change is kept
in `autonomy_changes` and the audit log; an automatic one is by "system".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.db.models import (
    AuditEntry,
    AutonomyChange,
    IntentAutonomy,
    Message,
    Reply,
    utcnow,
)
from app.db.statuses import AutonomyLevel, RejectCategory, ReplyStatus
from app.replies.autonomy_settings import AutonomySettings

SYSTEM = "system"
"""Who an automatic change is by, in the history and the audit log."""
WRONG_FACT_PREFIX = "wrong fact"
# Rejections no person made: a re-run supersedes the draft (`app.admin.review`), a privacy
# erasure stops it (`app.store.privacy.erase`, as "shopify"). They measure nothing.
_NOT_REVIEWS = ("superseded by a re-run of the agent",)
_ERASED_BY = "shopify"


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules' settings (`AutonomySettings`)."""

    window: int = 20
    min_rate: float = 0.8
    start: AutonomyLevel = AutonomyLevel.AUTO

    @classmethod
    def from_settings(cls, settings: AutonomySettings) -> Rules:
        """The rules as configured."""
        return cls(
            window=settings.AUTONOMY_WINDOW,
            min_rate=settings.AUTONOMY_MIN_APPROVED_RATE,
            start=AutonomyLevel(settings.AUTONOMY_START_LEVEL),
        )


@dataclass(frozen=True, slots=True)
class Window:
    """What staff did with the intent's last reviewed drafts."""

    sample: int = 0
    approved_as_is: int = 0
    edited: int = 0
    rejected: int = 0
    wrong_facts: int = 0

    @property
    def rate(self) -> float | None:
        """The share approved as is (None before any review)."""
        return self.approved_as_is / self.sample if self.sample else None

    def figures(self) -> dict[str, Any]:
        """The window as stored with a change."""
        return {
            "sample": self.sample,
            "approved_as_is": self.approved_as_is,
            "rejected": self.rejected,
            "wrong_facts": self.wrong_facts,
            "rate": self.rate,
        }


def proposed(level: AutonomyLevel, window: Window, rules: Rules) -> bool:
    """Whether an intent not yet at `auto` has earned it (an owner promotes it)."""
    rate = window.rate
    return (
        level is not AutonomyLevel.AUTO
        and window.sample >= rules.window
        and rate is not None
        and rate >= rules.min_rate
        and window.wrong_facts == 0
    )


def demotion(level: AutonomyLevel, window: Window, rules: Rules) -> str | None:
    """Why an intent at `auto` drops back to `draft` now (None: it keeps `auto`)."""
    if level is not AutonomyLevel.AUTO:
        return None
    if window.wrong_facts:
        return (
            f"{window.wrong_facts} draft(s) of the last {window.sample} rejected for a wrong fact"
        )
    rate = window.rate
    if window.sample >= rules.window and rate is not None and rate < rules.min_rate:
        return (
            f"approved as is {window.approved_as_is} of the last {window.sample} "
            f"({rate:.0%}), below {rules.min_rate:.0%}"
        )
    return None


def is_wrong_fact(category: str | None, reason: str | None) -> bool:
    """Whether a rejection was for a wrong fact (the same test as the SQL's, for one row)."""
    if category is not None:
        return category == RejectCategory.WRONG_FACT.value
    return (reason or "").strip().lower().startswith(WRONG_FACT_PREFIX)


def _wrong_fact() -> ColumnElement[bool]:
    return and_(
        Reply.status == ReplyStatus.REJECTED,
        or_(
            Reply.reject_category == RejectCategory.WRONG_FACT.value,
            and_(
                Reply.reject_category.is_(None),
                func.lower(func.trim(Reply.reject_reason)).like(f"{WRONG_FACT_PREFIX}%"),
            ),
        ),
    )


def _drafts_of(store_id: int, intent: str, language: str) -> list[ColumnElement[bool]]:
    """The service's drafts of one intent in one language (a composed reply has an author)."""
    return [
        Reply.store_id == store_id,
        Message.intent == intent,
        Reply.language == language,
        Reply.decision == "draft",
        Reply.author.is_(None),
    ]


def window_in(
    session: Session,
    store_id: int,
    intent: str,
    language: str,
    *,
    size: int,
    since: datetime | None = None,
) -> Window:
    """The last `size` reviewed drafts of the intent in the language, decided after `since`."""
    reviewed = [
        *_drafts_of(store_id, intent, language),
        Reply.decided_at.is_not(None),
        Reply.decided_by != _ERASED_BY,
        or_(
            Reply.status != ReplyStatus.REJECTED,
            Reply.reject_reason.is_(None),
            Reply.reject_reason.not_in(_NOT_REVIEWS),
        ),
        or_(Reply.status == ReplyStatus.REJECTED, Reply.edit_distance.is_not(None)),
    ]
    if since is not None:
        reviewed.append(Reply.decided_at > since)
    rows = session.execute(
        select(Reply.status, Reply.edit_distance, _wrong_fact())
        .join(Message, Message.id == Reply.message_id)
        .where(*reviewed)
        .order_by(Reply.decided_at.desc(), Reply.id.desc())
        .limit(size)
    ).all()
    rejected = [row for row in rows if row[0] is ReplyStatus.REJECTED]
    approved = [row for row in rows if row[0] is not ReplyStatus.REJECTED]
    return Window(
        sample=len(rows),
        approved_as_is=sum(1 for row in approved if row[1] == 0),
        edited=sum(1 for row in approved if row[1]),
        rejected=len(rejected),
        wrong_facts=sum(1 for row in rejected if row[2]),
    )


def _row_in(session: Session, store_id: int, intent: str, language: str) -> IntentAutonomy | None:
    return session.execute(
        select(IntentAutonomy).where(
            IntentAutonomy.store_id == store_id,
            IntentAutonomy.intent == intent,
            IntentAutonomy.language == language,
        )
    ).scalar_one_or_none()


def set_level_in(
    session: Session,
    store_id: int,
    intent: str,
    language: str,
    to: AutonomyLevel,
    *,
    by: str,
    reason: str,
    measured: Window | None = None,
    reply_id: int | None = None,
    restart: bool = False,
    start: AutonomyLevel = AutonomyLevel.AUTO,
) -> AutonomyChange:
    """Set an intent's level, and keep the change in the history and the audit log.

    `restart` starts the measurement again (a demotion): earlier reviews no longer count.
    `start` is the level the intent had with no row yet.
    """
    row = _row_in(session, store_id, intent, language)
    now = utcnow()
    before = row.level if row is not None else start
    if row is None:
        row = IntentAutonomy(
            store_id=store_id, intent=intent, language=language, level=to, changed_by=by
        )
        session.add(row)
    row.level, row.changed_by, row.changed_at = to, by, now
    if restart:
        row.measured_since = now
    change = AutonomyChange(
        store_id=store_id,
        intent=intent,
        language=language,
        from_level=before,
        to_level=to,
        changed_by=by,
        reason=reason,
        measured=measured.figures() if measured is not None else None,
        reply_id=reply_id,
        created_at=now,
    )
    session.add(change)
    session.flush()
    action = "autonomy_demote" if by == SYSTEM else "autonomy_set"
    if to is AutonomyLevel.AUTO and by != SYSTEM:
        action = "autonomy_promote"
    session.add(
        AuditEntry(
            store_id=store_id,
            staff_email=by,
            action=action,
            target_type="autonomy",
            target_id=row.id,
            detail={
                "intent": intent,
                "language": language,
                "from": before.value,
                "to": to.value,
                "reason": reason,
                "measured": change.measured,
                "reply_id": reply_id,
            },
        )
    )
    return change


def level_in(
    session: Session, store_id: int, intent: str, language: str, rules: Rules
) -> AutonomyLevel:
    """The intent's level for a new email, after an automatic demotion if its measures call for one.

    Runs in the pipeline's filing unit of work, so no reply is sent at `auto` once the window
    says it should not be.
    """
    row = _row_in(session, store_id, intent, language)
    level = row.level if row is not None else rules.start
    if level is not AutonomyLevel.AUTO:
        return level
    since = row.measured_since if row is not None else None
    window = window_in(session, store_id, intent, language, size=rules.window, since=since)
    why = demotion(level, window, rules)
    if why is None:
        return level
    set_level_in(
        session,
        store_id,
        intent,
        language,
        AutonomyLevel.DRAFT,
        by=SYSTEM,
        reason=why,
        measured=window,
        restart=True,
        start=rules.start,
    )
    return AutonomyLevel.DRAFT


def record_shadow_in(session: Session, reply_id: int, would: str) -> None:
    """Keep on the draft what the policy would have done at `auto` ("send" or "draft")."""
    reply = session.get(Reply, reply_id)
    if reply is not None:
        reply.shadow_decision = would


def report_wrong_in(session: Session, reply_id: int, rules: Rules) -> AutonomyChange | None:
    """A sent reply was reported wrong: its intent drops from `auto` to `draft` in its language.

    Returns the change, or None when the intent was not at `auto` (or the reply has no intent).
    """
    found = session.execute(
        select(Reply.store_id, Reply.language, Message.intent)
        .join(Message, Message.id == Reply.message_id)
        .where(Reply.id == reply_id)
    ).first()
    if found is None or found.intent is None or found.language is None:
        return None
    row = _row_in(session, found.store_id, found.intent, found.language)
    if (row.level if row is not None else rules.start) is not AutonomyLevel.AUTO:
        return None
    return set_level_in(
        session,
        found.store_id,
        found.intent,
        found.language,
        AutonomyLevel.DRAFT,
        by=SYSTEM,
        reason=f"sent reply {reply_id} was reported wrong",
        reply_id=reply_id,
        restart=True,
        start=rules.start,
    )


async def report_wrong(
    session: AsyncSession, reply: Reply | int, *, rules: Rules
) -> AutonomyChange | None:
    """A sent reply was reported wrong (a "not good" rating): demote its intent to `draft`.

    Call it in the unit of work that records the report, e.g.
    `await autonomy.report_wrong(session, reply, rules=Rules.from_settings(settings))`.
    """
    reply_id = reply if isinstance(reply, int) else reply.id
    return await session.run_sync(lambda s: report_wrong_in(s, reply_id, rules))


# --- what the admin shows -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Standing:
    """One intent in one language: its level, its window, its shadow record, the proposal."""

    intent: str
    language: str
    level: AutonomyLevel
    configured: bool
    """False: no owner set it, it is at the starting level."""
    changed_by: str | None
    changed_at: datetime | None
    measured_since: datetime | None
    window: Window
    shadow_would_send: int
    shadow_would_send_approved_as_is: int
    proposed: bool
    demotion: str | None
    """Why it will drop to `draft` with its next email (None: it keeps its level)."""


def standing_in(
    session: Session, store_id: int, intent: str, language: str, rules: Rules
) -> Standing:
    """One intent's standing in one language, measured now."""
    row = _row_in(session, store_id, intent, language)
    level = row.level if row is not None else rules.start
    since = row.measured_since if row is not None else None
    window = window_in(session, store_id, intent, language, size=rules.window, since=since)
    shadow = [
        *_drafts_of(store_id, intent, language),
        Reply.shadow_decision == "send",
    ]
    if since is not None:
        shadow.append(Reply.created_at > since)
    counted = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Reply.edit_distance == 0, 1), else_=0)), 0),
        )
        .join(Message, Message.id == Reply.message_id)
        .where(*shadow)
    ).one()
    return Standing(
        intent=intent,
        language=language,
        level=level,
        configured=row is not None,
        changed_by=row.changed_by if row is not None else None,
        changed_at=row.changed_at if row is not None else None,
        measured_since=since,
        window=window,
        shadow_would_send=int(counted[0]),
        shadow_would_send_approved_as_is=int(counted[1]),
        proposed=proposed(level, window, rules),
        demotion=demotion(level, window, rules),
    )


def standings_in(session: Session, store_id: int, rules: Rules) -> list[Standing]:
    """Every intent and language the store has drafts, sent replies or a level for."""
    seen = session.execute(
        select(Message.intent, Reply.language)
        .join(Message, Message.id == Reply.message_id)
        .where(
            Reply.store_id == store_id,
            Reply.author.is_(None),
            Reply.decision.is_not(None),
            Message.intent.is_not(None),
            Reply.language.is_not(None),
        )
        .distinct()
    ).all()
    configured = session.execute(
        select(IntentAutonomy.intent, IntentAutonomy.language).where(
            IntentAutonomy.store_id == store_id
        )
    ).all()
    pairs = sorted({(str(i), str(lang)) for i, lang in [*seen, *configured]})
    return [standing_in(session, store_id, i, lang, rules) for i, lang in pairs]


def history_in(session: Session, store_id: int, limit: int = 50) -> Sequence[AutonomyChange]:
    """The store's latest level changes, newest first."""
    return (
        session.execute(
            select(AutonomyChange)
            .where(AutonomyChange.store_id == store_id)
            .order_by(AutonomyChange.created_at.desc(), AutonomyChange.id.desc())
            .limit(limit)
        )
        .scalars()
        .all()
    )
