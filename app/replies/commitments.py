"""Finding commitments in the model's paragraph: only templates may promise anything.

The model writes one free paragraph; it may thank, apologise and explain, but it may not state
that a store action was or will be taken (a refund, a cancellation, a replacement, a discount, an
address change, a return approval), promise a day or a duration, or name an amount of money.
Those come only from templates, which word them from tool results and approved proposals: a
paragraph saying "We have approved your refund of 5000 EUR; it will reach your card within 3
days" is a commitment whoever wrote the 5000 first.

A sentence commits to an action when it states the action as done ("refunded", "storniert"), or
names it together with a future, completion or assurance word of the same language ("will",
"approved", "خواهیم"). The words are data (`app.replies.commitment_words`); the paragraph is
checked against every shipped language, because the model may write in another language than
the one it declared.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from app.replies.commitment_words import (
    CURRENCY_SIGNS,
    NUMERIC_DATE,
    WORDS,
    ActionKind,
    LanguageWords,
)

AMOUNT = "amount"
DAY = "date"
DURATION = "duration"
REASON = "commitment in free text"
"""How every commitment problem starts, in the verifier's problems and the policy's reasons."""

_SENTENCE_END = re.compile(r"[.!?؟;؛\n]+(?:\s|$)|[!?؟;؛\n]+")
_NUMBER = r"\d+(?:[.,'\s]\d{3})*(?:[.,]\d{1,2})?"
_FLAGS = re.I | re.UNICODE


@dataclass(frozen=True, slots=True)
class Commitment:
    """One promise found: its kind and the words that make it."""

    kind: str
    """An `ActionKind` value, or "date", "duration" or "amount"."""
    words: tuple[str, ...]

    def problem(self) -> str:
        """The verifier's problem text: `commitment in free text: refund (refund, approved)`."""
        return f"{REASON}: {self.kind} ({', '.join(self.words)})"


def find_commitments(paragraph: str) -> list[Commitment]:
    """Every commitment in the model's paragraph, in a stable order (none for an empty one)."""
    if not paragraph.strip():
        return []
    found: list[Commitment] = []
    sentences = [s for s in _SENTENCE_END.split(paragraph) if s.strip()]
    for language in WORDS:
        patterns = _compiled(language)
        for sentence in sentences:
            found += _actions(sentence, patterns)
    found += _days(paragraph)
    found += _amounts(paragraph)
    return list(dict.fromkeys(found))


@dataclass(frozen=True, slots=True)
class _Patterns:
    """One language's fragments, compiled once."""

    names: dict[ActionKind, re.Pattern[str]]
    done: dict[ActionKind, re.Pattern[str] | None]
    marker: re.Pattern[str]
    day: re.Pattern[str]
    duration: re.Pattern[str]


def _whole(fragments: tuple[str, ...]) -> str:
    """Fragments as one alternation matched only as whole words (Persian letters count too)."""
    return rf"(?<!\w)(?:{'|'.join(fragments)})(?!\w)"


@functools.cache
def _compiled(language: str) -> _Patterns:
    words: LanguageWords = WORDS[language]
    counts = rf"(?:\d+(?:\s*[-–]\s*\d+)?|{'|'.join(words.counts)})"
    # A qualifier stands before the unit in English ("3 business days") and after it in
    # Spanish, French and Persian ("3 días hábiles", "۳ روز کاری").
    qualifier = f"(?:{'|'.join(words.qualifiers)})" if words.qualifiers else None
    before = rf"(?:{qualifier}\s+)?" if qualifier else ""
    after = rf"(?:\s+{qualifier})?" if qualifier else ""
    duration = rf"(?<!\w){counts}\s*{before}(?:{'|'.join(words.units)}){after}(?!\w)"
    return _Patterns(
        names={kind: re.compile(_whole(a.names), _FLAGS) for kind, a in words.actions.items()},
        done={
            kind: re.compile(_whole(a.done), _FLAGS) if a.done else None
            for kind, a in words.actions.items()
        },
        marker=re.compile(_whole(words.markers), _FLAGS),
        day=re.compile(_whole(words.days), _FLAGS),
        duration=re.compile(duration, _FLAGS),
    )


def _actions(sentence: str, patterns: _Patterns) -> list[Commitment]:
    found: list[Commitment] = []
    for kind, names in patterns.names.items():
        done = patterns.done[kind]
        done_match = done.search(sentence) if done is not None else None
        if done_match is not None:
            found.append(Commitment(kind.value, (_clean(done_match.group(0)),)))
            continue
        name = names.search(sentence)
        marker = patterns.marker.search(sentence) if name is not None else None
        if name is not None and marker is not None:
            found.append(Commitment(kind.value, (_clean(name.group(0)), _clean(marker.group(0)))))
    return found


def _days(paragraph: str) -> list[Commitment]:
    found: list[Commitment] = []
    numeric = re.search(rf"(?<![\w.,/-]){NUMERIC_DATE}(?![\w/-])", paragraph)
    if numeric is not None:
        found.append(Commitment(DAY, (numeric.group(0),)))
    for language in WORDS:
        patterns = _compiled(language)
        day = patterns.day.search(paragraph)
        if day is not None:
            found.append(Commitment(DAY, (_clean(day.group(0)),)))
        duration = patterns.duration.search(paragraph)
        if duration is not None:
            found.append(Commitment(DURATION, (_clean(duration.group(0)),)))
    return found


@functools.cache
def _amount_pattern() -> re.Pattern[str]:
    words = [w for language in WORDS.values() for w in language.currencies]
    magnitudes = [m for language in WORDS.values() for m in language.magnitudes]
    currency = rf"(?:{'|'.join(CURRENCY_SIGNS)}|(?<!\w)(?:{'|'.join(words)})(?!\w))"
    magnitude = rf"(?:\s?(?:{'|'.join(magnitudes)})(?!\w))*"
    before = rf"{currency}\s?{_NUMBER}"
    after = rf"(?<![\w.,]){_NUMBER}{magnitude}\s?{currency}"
    return re.compile(rf"{before}|{after}", _FLAGS)


def find_amounts(text: str) -> list[str]:
    """Every amount of money in `text` as written ("5000 EUR", "۵۰۰۰ یورو", "€ 73.90")."""
    return [match.group(0).strip() for match in _amount_pattern().finditer(text)]


def _amounts(paragraph: str) -> list[Commitment]:
    return [Commitment(AMOUNT, (_clean(amount),)) for amount in find_amounts(paragraph)]


def _clean(words: str) -> str:
    """Matched words on one line, lower case, for the reason staff read."""
    return " ".join(words.split()).lower()
