"""The offline model's reading of an email: keyword rules for intent, order number, tone.

Pure functions over the subject and text (no model, no I/O). The keyword tables, per intent and
catalog language, are data in `keywords.py`; the language is detected by `language.py`.
`app/agent/offline.py` turns a reading into tool calls and a plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.agent.keywords import (
    ALWAYS_STAFF,
    ANGER,
    INTENT_KEYWORDS,
    LEGAL,
    MANIPULATION,
    POLICY_QUESTIONS,
    PRODUCT_GLOSSARY,
    STAFF_ONLY,
    Table,
)
from app.agent.language import detect_language
from app.agent.plan import Intent
from app.tools.kit.lookup import normalize_order_number

__all__ = ["Reading", "detect_language", "read_email"]

_ORDER_CONTEXT = re.compile(
    r"(?:#\s*[0-9۰-۹٠-٩]{3,}|(?:order|ordr|bestellung|pedido|comm?ande|سفارش|شماره)"
    r"[^0-9۰-۹٠-٩\n]{0,20}[0-9۰-۹٠-٩][0-9۰-۹٠-٩A-Za-z-]{2,})",
    re.I,
)

_HOW_TO = re.compile(
    r"\bsize (?:guide|chart)\b|\bwhat size\b|\bsizing\b|\bbetween (?:two )?sizes\b|"
    r"\b(?:run|runs|fit|fits) (?:true to size|small|large|big)\b|"
    r"\b(?:wash|washing|iron|ironing|dry[- ]clean|care for|take care)\b|"
    r"\bgift[- ]?(?:wrap|wrapping|message|note|box)\b|\bwrap (?:it|them)\b|"
    r"\b(?:warranty|guarantee|repair|resole)\b|\bcustoms\b|\bimport (?:vat|duty|duties|tax)\b|"
    r"\bship(?:ping)? (?:abroad|internationally|outside)\b|"
    r"\b(?:größentabelle|welche größe|waschen|pflege|geschenkverpackung|garantie|zoll|"
    r"guía de tallas|qué talla|lavar|envolver para regalo|garantía|aduana|"
    r"guide des tailles|quelle taille|laver|emballage cadeau|garantie|douane)\w*|"
    r"راهنمای سایز|چه سایزی|شستشو|شست‌?\s?و‌?\s?شو|بشوی|نگهداری|کادو|بسته‌?\s?بندی|"
    r"گارانتی|ضمانت|تعمیر|گمرک|خارج از کشور"
)
_SENTENCE = re.compile(r"[^.!?؟\n]*")

_STOPWORDS = frozenset(
    "a an the is are do does you your i my me we our it its this that have has in on of for to "
    "and or but with please hi hello dear thanks thank there back stock available price how much "
    "what which when any still size colour color again any can could would like want know".split()
)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rules make of an email."""

    intent: Intent
    hits: int
    rivals: int
    """How many other intents' rules also matched (0: the email is about one thing)."""
    language: str
    order_number: str | None
    angry: bool
    legal: bool
    manipulative: bool
    """The email tries to instruct the model (prompt injection)."""
    policy_topic: str | None
    product_words: str
    staff_only: bool = False
    """The request needs facts or decisions no tool has (see `keywords.STAFF_ONLY`)."""
    how_to: str | None = None
    """The sentence asking how something works at the store (sizing, care, gifts...), if any."""


def read_email(subject: str, text: str) -> Reading:
    """Classify an email with the keyword rules (pure; the eval and tests call it directly)."""
    lowered_subject = subject.lower()
    body = f"{lowered_subject}\n{text.lower()}"
    intent, score, matched = Intent.OTHER, 0, 0
    for candidate, table in INTENT_KEYWORDS.items():
        points = _points(table, body) + _points(table, lowered_subject)
        matched += points > 0
        if points > score:
            intent, score = candidate, points
    order_match = _ORDER_CONTEXT.search(f"{subject}\n{text}")
    order_number = normalize_order_number(order_match.group(0)) if order_match else None
    legal = _any(LEGAL, body)
    if intent is Intent.OTHER and legal:
        intent = Intent.COMPLAINT  # A threat about anything is a complaint to answer in person.
    elif intent is Intent.OTHER and order_number:
        intent = Intent.ORDER_STATUS  # An order named and nothing asked of it: where is it?
    topic = next((t for pattern, t in POLICY_QUESTIONS if re.search(pattern, body)), None)
    return Reading(
        intent=intent,
        hits=score,
        rivals=max(0, matched - 1),
        language=detect_language(body),
        order_number=order_number,
        angry=_any(ANGER, body),
        legal=legal,
        manipulative=_any(MANIPULATION, body),
        policy_topic=topic,
        # How-to words ("washing", "sizing") ask about the product; they are not its name.
        product_words=_product_words(_HOW_TO.sub(" ", lowered_subject))
        or _product_words(_HOW_TO.sub(" ", text.lower())),
        staff_only=intent in ALWAYS_STAFF or _any(STAFF_ONLY.get(intent, {}), body),
        how_to=how_to_question(subject, text),
    )


def how_to_question(subject: str, text: str) -> str | None:
    """The sentence (with the subject) that asks a how-to question, or None."""
    for part in (text, subject):
        found = _HOW_TO.search(part.lower())
        if found is None:
            continue
        start = max(part.rfind(mark, 0, found.start()) for mark in ".!?؟\n") + 1
        sentence = _SENTENCE.match(part, start)
        asked = sentence.group(0).strip() if sentence else ""
        return f"{subject.strip()} {asked}".strip()[:300] if part is text else asked[:300]
    return None


def _points(table: Table, text: str) -> int:
    """How many of the table's patterns (any language) match `text`."""
    return sum(1 for patterns in table.values() for p in patterns if re.search(p, text))


def _any(table: Table, text: str) -> bool:
    return any(re.search(p, text) for patterns in table.values() for p in patterns)


def _product_words(text: str) -> str:
    """The first few content words (the subject usually names the product), in title words."""
    words: list[str] = []
    for word in re.findall(r"[a-zäöüßáéíóúñèç]{3,}|[\u0600-\u06ff]{2,}", text):
        latin = word.isascii() or not re.match(r"[\u0600-\u06ff]", word)
        words += PRODUCT_GLOSSARY.get(word, word if latin else "").split()
    return " ".join(list(dict.fromkeys(w for w in words if w not in _STOPWORDS))[:3])
