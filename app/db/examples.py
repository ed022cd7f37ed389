"""Staff-approved replies kept as examples for the model, with customer data replaced.

One row per sent reply staff approved (or wrote): the customer's cleaned text and the reply,
both with every piece of customer data replaced by placeholders (`app.store.examples.scrub`),
and `terms`, the placeholder text's normalised words, which the database indexes like the
knowledge passages: on PostgreSQL a GIN index on `to_tsvector('simple', terms)` (migration
0015), on SQLite the FTS5 table `reply_examples_fts` (rowid = example id), kept in step by
`app.store.examples.library`. Neither index is a table the models describe.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, BigId, stored_enum, utcnow
from app.db.stores import StoreOwned
from app.db.text import SafeString, SafeText

EXAMPLES_FTS_TABLE = "reply_examples_fts"
"""SQLite's FTS5 table of example terms (created by migration 0015 on SQLite only)."""
EXAMPLES_TERMS_INDEX = "ix_reply_examples_terms"
"""PostgreSQL's GIN expression index on the examples' terms (migration 0015)."""


def is_examples_index(name: str | None) -> bool:
    """Whether a table or index is the examples' full-text index, kept outside the models."""
    return bool(name) and (str(name).startswith(EXAMPLES_FTS_TABLE) or name == EXAMPLES_TERMS_INDEX)


class ExampleMark(StrEnum):
    """What staff said of a reply as an example for the model."""

    AUTO = "auto"
    """Nobody said: used when it is the most similar."""
    USE = "use"
    """Staff chose it: preferred over `auto` ones."""
    NEVER = "never"
    """Staff ruled it out: never given to the model."""


class ReplyExample(StoreOwned, Base):
    """One staff-approved reply and its email, with customer data replaced by placeholders."""

    __tablename__ = "reply_examples"
    __table_args__ = (Index("ix_reply_examples_intent_language", "intent", "language"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reply_id: Mapped[int] = mapped_column(ForeignKey("replies.id"), unique=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    intent: Mapped[str] = mapped_column(SafeString(32))
    language: Mapped[str] = mapped_column(SafeString(35))
    customer_text: Mapped[str] = mapped_column(SafeText)
    """The customer's cleaned text (subject and body), placeholders for their data."""
    reply_text: Mapped[str] = mapped_column(SafeText)
    """The reply as sent, placeholders for the customer's data."""
    terms: Mapped[str] = mapped_column(SafeText)
    """The normalised words of `customer_text`: what is indexed and searched."""
    mark: Mapped[ExampleMark] = mapped_column(
        stored_enum(ExampleMark, length=16, constraint="ck_reply_examples_mark"),
        default=ExampleMark.AUTO,
    )
    marked_by: Mapped[str | None] = mapped_column(SafeString(320))
    marked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
