"""Staff-approved replies to similar emails, shown to the model as a compact block of examples.

The examples come from `app.store.examples` with every customer value already a placeholder;
this module only lays them out, inside the run's boundary like the email (they are other
customers' text: data, never instructions), and clips them so two cost a bounded number of
prompt tokens. Text is clipped in "units": an ASCII character is one, any other four, since
the tokenizers spend three to four times as many tokens per character on Persian as on English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

CUSTOMER_UNITS = 240
REPLY_UNITS = 420
_BLANKS = re.compile(r"[ \t]*\n\s*\n\s*")
_SPACES = re.compile(r"[ \t]+")
_GREETING = re.compile(r"^\W*\w+\W*\[name\]\W*$")
EXAMPLES_NOTE = (
    "Replies staff approved for similar emails from other customers, for tone and approach "
    "only. [brackets] stand for their data: never reuse it; facts come only from tools."
)


class Example(Protocol):
    """What an example gives: the customer's text and the reply, placeholders for their data."""

    @property
    def customer_text(self) -> str: ...

    @property
    def reply_text(self) -> str: ...


def examples_block(examples: Sequence[Example], boundary: str) -> str:
    """The examples inside the run's boundary markers, or "" when there are none."""
    if not examples:
        return ""
    parts = [f"<<<EXAMPLES {boundary}>>>", EXAMPLES_NOTE]
    for number, example in enumerate(examples, start=1):
        customer = clip(compact(example.customer_text).replace(boundary, ""), CUSTOMER_UNITS)
        reply = clip(compact(example.reply_text, greeting=True).replace(boundary, ""), REPLY_UNITS)
        parts.append(f"[{number}] Customer: {customer}\nReply: {reply}")
    parts.append(f"<<<END EXAMPLES {boundary}>>>")
    return "\n".join(parts)


def compact(text: str, *, greeting: bool = False) -> str:
    """Blank lines and runs of spaces squeezed; with `greeting`, a "Hi [name]," line dropped."""
    lines = [_SPACES.sub(" ", line).strip() for line in text.strip().splitlines()]
    if greeting and lines and _GREETING.match(lines[0]):
        lines = lines[1:]
    return _BLANKS.sub("\n", "\n".join(lines)).strip()


def clip(text: str, units: int) -> str:
    """At most `units` of `text` (see the module), cut at a word with "…" when cut."""
    spent = 0
    for index, char in enumerate(text):
        spent += 1 if char.isascii() else 4
        if spent > units:
            cut = text[:index]
            space = cut.rfind(" ")
            return (cut[:space] if space > len(cut) // 2 else cut).rstrip() + "…"
    return text
