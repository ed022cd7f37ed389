"""What a tool result shows in a reply: the `Facts` base class and the blocks it presents.

A tool's facts model subclasses `Facts` and presents itself in its own module: `present` turns
the facts into a few generic blocks (a label/value table, a bulleted list, a quoted excerpt, a
paragraph) whose labels are gettext messages and whose values are typed (words from the store,
an identifier read left to right, a link, a day, an amount, a count). The renderer draws the
blocks as HTML and as plain text, formats days, amounts and digits for the reply's language with
Babel and isolates left-to-right runs inside right-to-left text; it knows this module and no tool.

This module imports nothing from the rest of the service but the `Money` model, so every tool
module may import it.
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ClassVar

from pydantic import BaseModel

from app.store.models import Money


def N_(message: str) -> str:
    """Mark a message for the catalogs without translating it yet (translate it in `present`)."""
    return message


# --- Values: one piece of a row, a list item or a sentence ---------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Words from the store or a tool (a product title, a carrier): shown as they are.

    In HTML they are isolated (`<bdi>`) so a Latin title keeps its order inside Persian text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class Ident:
    """An identifier always read left to right: an order number, a tracking number, a URL."""

    text: str


@dataclass(frozen=True, slots=True)
class Day:
    """A calendar day, written for the reply's language (month names and digits by Babel)."""

    value: date


@dataclass(frozen=True, slots=True)
class Amount:
    """Money, written for the reply's language (symbol, decimal mark and digits by Babel)."""

    money: Money


@dataclass(frozen=True, slots=True)
class Count:
    """A whole number, in the reply's digits (Persian digits in a Persian reply)."""

    value: int


@dataclass(frozen=True, slots=True)
class Link:
    """A link: the label in HTML (the URL itself when there is none), "label - URL" in text."""

    url: str
    label: Value | None = None


@dataclass(frozen=True, slots=True)
class Strong:
    """A value shown with emphasis (bold in HTML)."""

    value: Value


@dataclass(frozen=True, slots=True)
class Phrase:
    """A translated sentence with `%(name)s` placeholders, each filled with a typed value.

    Build it from a message that went through the presenter, so the catalogs carry it:
    `Phrase(t.gettext("%(count)s × %(title)s"), {"count": Count(2), "title": Text(title)})`.
    """

    message: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A placeholder without a value would print "%(name)s" to a customer: fail loudly here.
        missing = set(re.findall(r"%\((\w+)\)s", self.message)) - set(self.values)
        if missing:
            raise ValueError(f"phrase {self.message!r} has no value for {sorted(missing)}")


Value = str | Text | Ident | Day | Amount | Count | Link | Strong | Phrase
"""A plain `str` is our own (already translated) words; every other kind is typed."""


# --- Blocks: what `present` returns -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a table: a translated label and a value (or several lines of values)."""

    label: str
    value: Value | Sequence[Value]


@dataclass(frozen=True, slots=True)
class Table:
    """Label/value rows, e.g. an order's number, status and total."""

    rows: Sequence[Row]


@dataclass(frozen=True, slots=True)
class Bullets:
    """A bulleted list, with an optional heading line above it."""

    items: Sequence[Value]
    heading: Value | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A quoted excerpt of a longer text (a policy), under its title.

    The renderer cuts the text to `limit` characters where a sentence ends and drops an opening
    heading line (the title already names it).
    """

    title: Value
    text: str
    limit: int = 700


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of text."""

    value: Value


Block = Table | Bullets | Quote | Paragraph


# --- The presenter and the base class ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presenter:
    """What `Facts.present` gets: the reply's language and its message catalog.

    Write every customer-facing word as `t.gettext("...")` (or `t.ngettext(...)` where a count
    decides the wording) with a literal string, so `make messages` extracts it into the catalogs.
    """

    language: str
    """The catalog's language, e.g. "fa" (never a language without a catalog)."""
    translations: gettext.NullTranslations

    def gettext(self, message: str) -> str:
        """`message` in the reply's language."""
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural form for `n`, in the reply's language (its plural rules)."""
        return self.translations.ngettext(singular, plural, n)


class Facts(BaseModel):
    """A tool's typed result, which knows how a reply shows it.

    Subclasses set `kind` (defaults to the class name without "Facts", in snake case: `OrderFacts`
    is "order") and `customer_data` (True unless the facts are store-wide and public: a reply to
    an unverified sender never shows customer data), and override `present` and `shown`.
    """

    kind: ClassVar[str] = ""
    """What intent templates call these facts (`has("order")`, `show("order")`)."""
    customer_data: ClassVar[bool] = True
    """Whether these facts describe a customer (dropped from replies to unverified senders)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.__dict__.get("kind"):
            name = cls.__name__.removesuffix("Facts") or cls.__name__
            cls.kind = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

    def present(self, t: Presenter) -> list[Block]:
        """The blocks a reply shows for these facts, worded in `t`'s language (none by default)."""
        return []

    def shown(self) -> dict[str, list[str]]:
        """What a reply showing these facts tells the customer, by kind, for the templates.

        Intent templates read it to word their text around the facts (`shown.order[0]`,
        `"delayed" in shown.order_status`) and ask `has(kind)` to choose fallback wording; the
        reply keeps it (`RenderedReply.shown`) so tests and staff tools can see what was shown.

        For example `{"order": ["#1001"], "order_status": ["delayed"]}` (nothing by default).
        """
        return {}
