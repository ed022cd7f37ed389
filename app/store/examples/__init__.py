"""Learning from staff: sent replies staff approved, kept as examples for the model.

`scrub` (customer data out of a text: known values, then patterns; pure), `library` (SQL:
keep, search, mark, promote to a knowledge article). The async entry points are here: the
outbox's send job calls `keep_sent_reply` once a reply is recorded sent, planning calls
`find_examples` before the agent runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.db.engine import Database
from app.store.examples.library import ExampleRefused, keep_reply_in, similar
from app.store.examples.scrub import scrub

logger = logging.getLogger(__name__)

MAX_EXAMPLES = 2


@dataclass(frozen=True, kw_only=True)
class PromptExample:
    """One example as the model sees it: placeholders for every customer value."""

    customer_text: str
    reply_text: str


async def keep_sent_reply(db: Database, reply_pk: int) -> int | None:
    """Keep the reply as an example if staff approved it and it was sent; returns its id.

    Its own unit of work, after the send is recorded: whatever goes wrong here is logged and
    never undoes or repeats the send.
    """
    try:
        example = await db.unit(lambda session: keep_reply_in(session, reply_pk))
    except Exception:
        logger.exception("reply not kept as an example", extra={"reply_id": reply_pk})
        return None
    return example.id if example is not None else None


async def find_examples(
    db: Database, *, query: str, intent: str, language: str, limit: int = MAX_EXAMPLES
) -> tuple[PromptExample, ...]:
    """The best examples for an email (same intent and language), scrubbed once more.

    The stored texts already have placeholders; the patterns run again on the way out, so an
    example kept by an older scrubber cannot carry an address or number it missed.
    """
    async with db.read() as session:
        return await session.run_sync(
            lambda s: find_examples_in(
                s, query=query, intent=intent, language=language, limit=limit
            )
        )


def find_examples_in(
    session: Session, *, query: str, intent: str, language: str, limit: int = MAX_EXAMPLES
) -> tuple[PromptExample, ...]:
    """`find_examples` inside a unit of work the caller already has open."""
    found = similar(session, query=query, intent=intent, language=language, limit=limit)
    return tuple(
        PromptExample(customer_text=scrub(e.customer_text), reply_text=scrub(e.reply_text))
        for e in found
    )


__all__ = [
    "MAX_EXAMPLES",
    "ExampleRefused",
    "PromptExample",
    "find_examples",
    "find_examples_in",
    "keep_sent_reply",
]
