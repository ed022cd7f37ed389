"""What staff write is checked as the service's own drafts are: the same verifier, the same rules.

An approved draft, an edited draft and a reply written from scratch in the composer all come
through `check_reply`: every order number, amount, link and address must come from this email's
tool results or the customer's own words, and the reply goes only to the email's From address.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from sqlalchemy.ext.asyncio import AsyncSession

from app.agent import exchange_log
from app.config import Settings
from app.db.models import Message, ToolCall
from app.planning import customer_words, reply_evidence
from app.replies.render import RenderedReply, plain_text_html, rtl_languages, template_language
from app.replies.verify import verify_reply
from app.store.directory import StoreConfig

MAX_REPLY_CHARS = 20_000
UNVERIFIED_QUESTION = (
    "the sender could not be verified: confirm that you are sure who this is before sending"
)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the email gives a reply to rely on, read once before checking."""

    calls: list[ToolCall]
    customer_text: str
    sender: str | None
    sender_verified: bool


async def evidence_of(session: AsyncSession, message: Message) -> Evidence:
    """The email's latest tool results, its customer's words and its sender."""
    return Evidence(
        calls=await exchange_log.latest_run_calls(session, message.id),
        customer_text=customer_words(message),
        sender=message.from_address,
        sender_verified=bool(message.sender_verified),
    )


def normalise(text: str) -> str:
    """Unix line endings and no control characters but newlines and tabs.

    Format characters stay: Persian needs the zero-width non-joiner.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return text.strip() + "\n" if text.strip() else ""


def size_problems(text: str) -> list[str]:
    """An empty or overlong reply (checked before anything else)."""
    if not text.strip():
        return ["the reply is empty"]
    if len(text) > MAX_REPLY_CHARS:
        return [f"over {MAX_REPLY_CHARS} characters"]
    return []


def candidate(
    *, subject: str, text: str, html: str | None, language: str, template: str, store: StoreConfig
) -> RenderedReply:
    """A reply as the verifier reads it; `html=None` renders the text (staff-written)."""
    return RenderedReply(
        subject=subject,
        text=text,
        html=plain_text_html(text, language=language) if html is None else html,
        language=language,
        direction="rtl" if template_language(language) in rtl_languages() else "ltr",
        template=template,
        store_text=tuple(w for w in (store.name, store.signature) if w.strip()),
    )


def check_reply(
    reply: RenderedReply,
    *,
    to_address: str,
    evidence: Evidence,
    settings: Settings,
    store: StoreConfig,
) -> list[str]:
    """The verifier's problems with a reply staff are about to send (empty: it may go)."""
    # Staff may answer an unverified sender (they see who it is, and confirm it), but only at
    # the From address, and every fact must still come from this email's tool results.
    problems = verify_reply(
        reply,
        evidence=reply_evidence(
            evidence.calls, customer_text=evidence.customer_text, store_hosts=store.store_hosts
        ),
        recipient=to_address,
        verified_sender=evidence.sender or "",
        own_addresses=settings.own_addresses | store.support_addresses,
    )
    if not evidence.sender or to_address.lower() != evidence.sender.lower():
        problems.append(f"recipient: {to_address} is not the sender of the email")
    return problems


def word_edit_distance(before: str, after: str) -> int:
    """Words inserted, deleted or replaced to turn `before` into `after` (Levenshtein on words).

    Counted on words rather than characters: it says how much a person rewrote. rapidfuzz's C
    implementation keeps a 16 kB rewrite to milliseconds, so it never stalls the event loop.
    """
    return int(Levenshtein.distance(before.split(), after.split()))
