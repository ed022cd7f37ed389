"""Drawing presented facts (`app.replies.facts` blocks) as HTML and as plain text.

Values are formatted for the reply's language with Babel: days with month names, amounts with
the locale's symbol and decimal mark, digits in the locale's numbering system (Persian digits in
Persian). Amounts never group thousands: "1234.50" reads the same to the verifier in every
language, where "1,234.50" and "1.234,50" would not. Left-to-right runs (order and tracking
numbers, amounts, URLs) are isolated inside right-to-left text: `<bdi dir="ltr">` in HTML,
the Unicode isolates LRI/PDI in plain text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from markupsafe import Markup, escape

from app.replies.catalogs import digits, direction, locale, translations
from app.replies.facts import (
    Amount,
    Block,
    Bullets,
    Count,
    Day,
    Ident,
    Link,
    Phrase,
    Quote,
    Row,
    Strong,
    Table,
    Text,
    Value,
)
from app.store.models import Money

POLICY_EXCERPT_CHARS = 700
MAX_ALIGNED_LABEL = 12
"""Text tables align their values when every label is at most this long (else one space)."""
_LRI, _PDI = "\u2066", "\u2069"


def format_day(value: date | None, language: str = "en") -> str:
    """A day as a reader of `language` writes it: "November 21, 2026", "۲۱ نوامبر ۲۰۲۶"."""
    return "" if value is None else _day(value, language)


def format_money(value: Money, language: str = "en") -> str:
    """An amount for `language`, without thousands grouping: "€1234.50", "1234,50 €"."""
    return _money(value.amount, value.currency, language)


@functools.lru_cache(maxsize=4096)
def format_count(value: int, language: str = "en") -> str:
    """A whole number in `language`'s digits."""
    return format_decimal(value, locale=locale(language), group_separator=False).translate(
        digits(language)
    )


# Babel's formatting is the slow part of drawing a reply, and a reply shows the same few days and
# amounts in both its versions: remember them.
@functools.lru_cache(maxsize=4096)
def _day(value: date, language: str) -> str:
    return format_date(value, format="long", locale=locale(language)).translate(digits(language))


@functools.lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, language: str) -> str:
    formatted = format_currency(
        amount, currency, locale=locale(language), group_separator=False, numbering_system="default"
    )
    return formatted.translate(digits(language))


def markup(template: str, *parts: str) -> Markup:
    """`template` with each part escaped into it (parts that are `Markup` stay as they are)."""
    return Markup(template.format(*(escape(part) for part in parts)))  # noqa: S704 - escaped.


def excerpt(text: str, limit: int = POLICY_EXCERPT_CHARS) -> str:
    """The start of a long text: its opening heading dropped, cut at a sentence end.

    Policies open with a heading ("Returns"); the reply already names the policy, so the
    excerpt starts with the rule itself and ends where a sentence does, never mid-word.
    """
    lines = text.strip().splitlines()
    while lines and (not lines[0].strip() or _is_heading(lines[0])):
        lines.pop(0)
    body = "\n".join(lines).strip()
    if len(body) <= limit:
        return body
    cut = body[:limit]
    end = max(cut.rfind(". "), cut.rfind(".\n"), cut.rfind("! "), cut.rfind("? "))
    return (cut[: end + 1] if end > limit // 3 else cut.rsplit(" ", 1)[0]) + " …"


def _is_heading(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) < 60 and not stripped.endswith((".", "!", "?", ":", "۔", "؟"))


@dataclass(frozen=True)
class Drawing:
    """How one reply draws blocks: its language, and HTML or plain text."""

    language: str
    html: bool

    @property
    def rtl(self) -> bool:
        """Whether the reply reads right to left."""
        return direction(self.language) == "rtl"

    def label(self, label: str) -> str:
        """A label as it leads a line of text: "Order:", "Commande :"."""
        # TRANSLATORS: a label before its value in a plain-text email, as in "Status: shipped".
        return translations(self.language).gettext("%(label)s:") % {"label": label}

    # --- values ---

    def value(self, value: Value) -> str:
        """One value, as HTML (a `Markup`) or as text."""
        if isinstance(value, Phrase):
            return self._phrase(value)
        if isinstance(value, Strong):
            inner = self.value(value.value)
            return markup("<strong>{}</strong>", inner) if self.html else inner
        if isinstance(value, Link):
            return self._link(value)
        if isinstance(value, Text):
            return markup("<bdi>{}</bdi>", value.text) if self.html else value.text
        if isinstance(value, Ident):
            return self._ltr(value.text)
        if isinstance(value, Day):
            return self._plain(format_day(value.value, self.language))
        if isinstance(value, Amount):
            return self._ltr(format_money(value.money, self.language))
        if isinstance(value, Count):
            return self._plain(format_count(value.value, self.language))
        return self._plain(value)

    def _plain(self, text: str) -> str:
        return escape(text) if self.html else text

    def _ltr(self, text: str) -> str:
        if self.html:
            return markup('<bdi dir="ltr">{}</bdi>', text)
        return f"{_LRI}{text}{_PDI}" if self.rtl else text

    def _phrase(self, phrase: Phrase) -> str:
        values = {name: self.value(value) for name, value in phrase.values.items()}
        if self.html:
            return escape(phrase.message) % values
        return phrase.message % values

    def _link(self, link: Link) -> str:
        if self.html:
            label = self.value(link.label) if link.label is not None else self._ltr(link.url)
            return markup('<a href="{}">{}</a>', link.url, label)
        if link.label is None:
            return self._ltr(link.url)
        return f"{self.value(link.label)} - {self._ltr(link.url)}"

    # --- blocks ---

    def blocks(self, blocks: Sequence[Block]) -> str:
        """Blocks one after another (a `Markup` in HTML)."""
        drawn = [self.block(block) for block in blocks]
        return Markup("\n").join(drawn) if self.html else "\n".join(drawn)

    def block(self, block: Block) -> str:
        """One block: HTML elements, or text lines ending in a blank line."""
        if isinstance(block, Table):
            return self._table(block.rows)
        if isinstance(block, Bullets):
            return self._bullets(block)
        if isinstance(block, Quote):
            return self._quote(block)
        if self.html:
            return markup("<p>{}</p>", self.value(block.value))
        return f"{self.value(block.value)}\n"

    def _lines(self, row: Row) -> list[str]:
        if isinstance(row.value, str) or not isinstance(row.value, Sequence):
            return [self.value(row.value)]
        return [self.value(item) for item in row.value]

    def _table(self, rows: Sequence[Row]) -> str:
        if self.html:
            # The label column's padding faces the value, whichever side that is.
            padding = "2px 0 2px 12px" if self.rtl else "2px 12px 2px 0"
            cell = (
                '<tr><td style="padding:{};color:#666;vertical-align:top;">{}</td><td>{}</td></tr>'
            )
            body = Markup("\n").join(
                markup(cell, padding, row.label, Markup("<br>").join(self._lines(row)))
                for row in rows
            )
            return markup(
                '<table role="presentation" style="border-collapse:collapse;margin:8px 0 16px;">'
                "\n{}\n</table>",
                body,
            )
        labels = [self.label(row.label) for row in rows]
        widest = max((len(label) for label in labels), default=0)
        width = widest if widest <= MAX_ALIGNED_LABEL else 0
        out: list[str] = []
        for row, label in zip(rows, labels, strict=True):
            lines = self._lines(row)
            if isinstance(row.value, str) or not isinstance(row.value, Sequence):
                out.append(f"{label.ljust(width)} {lines[0]}")
            else:
                out.append(label)
                out += [f"  {line}" for line in lines]
        return "\n".join(out) + "\n"

    def _bullets(self, bullets: Bullets) -> str:
        items = [self.value(item) for item in bullets.items]
        if self.html:
            heading = (
                markup("<p>{}</p>\n", self.value(bullets.heading))
                if bullets.heading is not None
                else Markup("")
            )
            lines = Markup("\n").join(markup("<li>{}</li>", item) for item in items)
            return heading + markup("<ul>\n{}\n</ul>", lines)
        if bullets.heading is None:
            return "\n".join(f"- {item}" for item in items) + "\n"
        return f"{self.value(bullets.heading)}\n\n" + "\n".join(f"  - {i}" for i in items) + "\n"

    def _quote(self, quote: Quote) -> str:
        text = excerpt(quote.text, quote.limit)
        if self.html:
            side = "right" if self.rtl else "left"
            return markup(
                "<p><strong>{}</strong></p>\n"
                '<blockquote dir="auto" style="margin:0 0 16px;padding:0 12px;'
                'border-{}:3px solid #ddd;white-space:pre-line;">{}</blockquote>',
                self.value(quote.title),
                side,
                text,
            )
        return f"{self.label(self.value(quote.title))}\n{text}\n"


def collapse_blank_lines(text: str) -> str:
    """Text with trailing spaces and runs of blank lines removed, ending in one newline."""
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
