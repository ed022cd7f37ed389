"""Reply examples in the database: kept when a staff-approved reply is sent, searched, marked.

Every function takes a store-scoped session (`app.db.scope` filters and stamps the rows), so a
store's examples are never another store's. Search is the knowledge search's (`app.store.
knowledge.text` words; FTS5 `bm25` on SQLite, `ts_rank` over the GIN-indexed `to_tsvector(
'simple', terms)` on PostgreSQL), restricted to one intent and language, without the examples
staff ruled out, those staff chose first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, literal_column, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import column
from sqlalchemy.sql.elements import ColumnClause

from app.db.examples import EXAMPLES_FTS_TABLE, ExampleMark, ReplyExample
from app.db.knowledge import KnowledgeArticle
from app.db.models import Message, Reply, ToolCall
from app.db.statuses import KnowledgeSource, ReplyStatus
from app.store.examples.scrub import PLACEHOLDERS, Known, scrub
from app.store.knowledge.articles import ArticleDraft
from app.store.knowledge.library import add_article
from app.store.knowledge.text import query_words, terms

CANDIDATES = 20
"""Examples ranked per search before the staff's choices are put first."""
_FTS = table(EXAMPLES_FTS_TABLE, column("rowid"), column("terms"))
_SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")


class ExampleRefused(Exception):
    """The reply cannot be an example or an article (yet); the message says why."""


def language_key(language: str | None) -> str:
    """The primary language subtag, lower-cased: examples match "fa" to "fa-IR"."""
    return (language or "").strip().replace("_", "-").split("-")[0].lower()


def known_for(session: Session, message: Message) -> Known:
    """Every customer value this email's sender and tool calls named (see `scrub.Known`)."""
    known = Known()
    known.add_sender(message.from_name, message.from_address)
    calls = session.scalars(select(ToolCall).where(ToolCall.message_id == message.id))
    for call in calls:
        known.add_facts(call.arguments or {})
        known.add_facts(call.result or {})
    return known


def staff_approved(reply: Reply) -> bool:
    """A reply a person approved (or wrote) and that was sent."""
    return reply.status is ReplyStatus.SENT and bool(reply.decided_by or reply.author)


def keep_reply_in(session: Session, reply_pk: int) -> ReplyExample | None:
    """Keep a sent, staff-approved reply as an example (once); None for any other reply."""
    reply = session.get(Reply, reply_pk)
    if reply is None or not staff_approved(reply):
        return None
    return _example_of(session, reply)


def mark_reply_in(
    session: Session, reply_pk: int, mark: ExampleMark, *, staff_email: str
) -> ReplyExample:
    """Mark a sent reply `use`, `never` or `auto` (kept as an example first if it is not yet)."""
    reply = session.get(Reply, reply_pk)
    if reply is None or reply.status is not ReplyStatus.SENT:
        raise ExampleRefused("only a sent reply can be marked as an example")
    example = _example_of(session, reply)
    example.mark = mark
    example.marked_by = staff_email
    example.marked_at = datetime.now(UTC)
    return example


def example_for_reply(session: Session, reply_pk: int) -> ReplyExample | None:
    """The example kept from a reply, if any."""
    return session.scalar(select(ReplyExample).where(ReplyExample.reply_id == reply_pk))


def promote_in(
    session: Session, reply_pk: int, *, title: str, language: str, body: str | None = None
) -> int:
    """Make a sent reply a staff knowledge article; returns the article's id.

    The body is `body` when staff wrote one, else the reply with customer data taken out:
    every line that held a placeholder (the greeting, the order's own facts) is dropped, so
    an article shown to any customer carries nobody's data.
    """
    reply = session.get(Reply, reply_pk)
    if reply is None or reply.status is not ReplyStatus.SENT:
        raise ExampleRefused("only a sent reply can become an article")
    key = f"reply:{reply_pk}"
    taken = select(KnowledgeArticle.id).where(
        KnowledgeArticle.source == KnowledgeSource.STAFF, KnowledgeArticle.source_key == key
    )
    if session.scalar(taken) is not None:
        raise ExampleRefused("this reply is already an article")
    example = _example_of(session, reply)
    if body is not None and body.strip():
        message = session.get(Message, reply.message_id)
        text_body = scrub(body, known_for(session, message) if message else None)
    else:
        text_body = without_placeholder_lines(example.reply_text)
    if not text_body.strip():
        raise ExampleRefused("nothing of the reply is left once customer data is taken out")
    draft = ArticleDraft(
        source=KnowledgeSource.STAFF,
        source_key=key,
        title=title.strip(),
        body=text_body.strip(),
        language=language_key(language) or example.language,
        updated_at=datetime.now(UTC),
    )
    return add_article(session, draft)


def without_placeholder_lines(text_: str) -> str:
    """The text without the lines that held customer data."""
    lines = [line for line in text_.splitlines() if not any(p in line for p in PLACEHOLDERS)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def similar(
    session: Session, *, query: str, intent: str, language: str, limit: int = 2
) -> list[ReplyExample]:
    """The (at most `limit`) examples most like `query` of one intent and language.

    Examples staff marked `never` are left out; those marked `use` come before the others.
    """
    wanted = query_words(query)
    if not wanted or limit <= 0:
        return []
    chosen = case((ReplyExample.mark == ExampleMark.USE, 0), else_=1)
    statement = select(ReplyExample).where(
        ReplyExample.intent == intent,
        ReplyExample.language == language_key(language),
        ReplyExample.mark != ExampleMark.NEVER,
    )
    if session.get_bind().dialect.name == "sqlite":
        match = " OR ".join(f'"{word}"*' for word in wanted)
        statement = (
            statement.join(_FTS, _FTS.c.rowid == ReplyExample.id)
            .where(text(f"{EXAMPLES_FTS_TABLE} MATCH :match").bindparams(match=match))
            .order_by(chosen, text(f"bm25({EXAMPLES_FTS_TABLE})"), ReplyExample.id.desc())
        )
    else:
        vector = func.to_tsvector(_SIMPLE, ReplyExample.terms)
        tsquery = func.to_tsquery(
            _SIMPLE, bindparam("words", " | ".join(f"{word}:*" for word in wanted))
        )
        statement = statement.where(vector.op("@@")(tsquery)).order_by(
            chosen, func.ts_rank(vector, tsquery, 1).desc(), ReplyExample.id.desc()
        )
    return list(session.scalars(statement.limit(min(limit, CANDIDATES))))


def _example_of(session: Session, reply: Reply) -> ReplyExample:
    """The reply's example, made now if it has none."""
    existing = example_for_reply(session, reply.id)
    if existing is not None:
        return existing
    message = session.get(Message, reply.message_id)
    if message is None:
        raise ExampleRefused(f"the email of reply {reply.id} is gone")
    known = known_for(session, message)
    customer = scrub(f"{message.subject or ''}\n\n{message.clean_text or ''}".strip(), known)
    plan = message.reply_plan or {}
    example = ReplyExample(
        reply_id=reply.id,
        message_id=message.id,
        intent=message.intent or str(plan.get("intent") or "other"),
        language=language_key(reply.language or str(plan.get("language") or "")),
        customer_text=customer,
        reply_text=scrub(reply.text_body or "", known),
        terms=terms(customer),
        mark=ExampleMark.AUTO,
    )
    session.add(example)
    session.flush()
    if session.get_bind().dialect.name == "sqlite":
        session.execute(_FTS.insert(), [{"rowid": example.id, "terms": example.terms}])
    return example


__all__ = [
    "ExampleRefused",
    "keep_reply_in",
    "known_for",
    "mark_reply_in",
    "promote_in",
    "similar",
    "without_placeholder_lines",
]
