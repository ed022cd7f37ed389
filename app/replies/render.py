"""Rendering a `ReplyPlan` into an email: one Jinja2 template per intent, HTML + text, any language.

Words come from the message catalogs (`app.replies.catalogs`), facts only from typed tool
results, each presented by its own `Facts` model (`app.replies.facts`); the model contributes
one short paragraph, which is reduced to plain text, escaped and bounded. Pure functions, no I/O
but reading the templates and catalogs: `render_reply` is given everything it shows.

An intent template says what to write for its intent in `{{ _("...") }}` messages and places
facts by kind: `has("order")`, `show("order")`; facts of a kind it never asks about follow its
text (`show_others()` in the layout), so a new tool's facts reach replies without a template.
"""

from __future__ import annotations

import functools
import html
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nh3
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import BaseModel

from app.agent.plan import MAX_PARAGRAPH_CHARS, ReplyPlan
from app.replies.catalogs import SOURCE_LANGUAGE, direction, languages, translations
from app.replies.catalogs import template_language as template_language  # re-exported for admin
from app.replies.draw import Drawing, collapse_blank_lines, markup
from app.replies.facts import Block, Facts, Ident, Presenter

TEMPLATES = Path(__file__).parent / "templates"
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|vs|odp|wg|fw|fwd|回复|答复|پاسخ)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Unicode's embedding, override and isolate controls (not the plain marks LRM and RLM).
_DIRECTION_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
_DOMAIN_LIKE = re.compile(r"[/:]|[A-Za-z0-9]\.[A-Za-z]{2,}")
_MAX_SUBJECT_CHARS = 200
_URL = re.compile(r"https?://\S+|www\.\S+", re.I)


@functools.cache
def rtl_languages() -> frozenset[str]:
    """The shipped languages written right to left, from their Babel locales.

    Found on first use, not at import: it reads every locale (20 ms of startup).
    """
    return frozenset(language for language in languages() if direction(language) == "rtl")


@dataclass(frozen=True, kw_only=True)
class StoreIdentity:
    """Who the reply comes from (from settings)."""

    name: str
    support_email: str
    url: str | None = None
    signature: str = ""
    """An extra line under the sign-off, e.g. opening hours."""


@dataclass(frozen=True, kw_only=True)
class ReplyInputs:
    """Everything a reply may show, gathered by the pipeline."""

    plan: ReplyPlan
    facts: tuple[BaseModel, ...]
    """The typed results of the tool calls the plan shows, in order (`Facts` are shown)."""
    sender_name: str | None
    sender_verified: bool
    original_subject: str
    lookup_missed: bool = False
    """An order lookup said "not found" (for the fallback wording)."""


@dataclass(frozen=True, kw_only=True)
class RenderedReply:
    """A reply ready for checks and sending."""

    subject: str
    text: str
    html: str
    language: str
    """The language the reply is written in (a shipped catalog)."""
    direction: str
    template: str
    paragraph: str = ""
    """The model's paragraph as it appears in the reply (checked on its own by the verifier)."""
    shown: dict[str, list[str]] = field(default_factory=dict)
    """What the reply's facts show, by kind (`Facts.shown`): what the templates worded around."""
    store_text: tuple[str, ...] = ()
    """The store's own words from settings (name, signature): no tool result needs to back them."""
    requested_language: str = ""
    """The language the plan asked for (the customer's), as the plan gave it."""
    language_fallback: bool = False
    """No catalog for the requested language: the reply is in English (staff are told)."""


def render_reply(inputs: ReplyInputs, *, store: StoreIdentity) -> RenderedReply:
    """Render the reply for a plan. Raises `TemplateNotFound` only for an unknown intent."""
    plan = inputs.plan
    language = template_language(plan.language)
    facts = [f for f in inputs.facts if isinstance(f, Facts)]
    if not inputs.sender_verified:
        # Customer data only for a verified sender (the tools refuse anyway; this holds even
        # if facts arrive by mistake): the reply asks them to write from the order's address.
        facts = [f for f in facts if not f.customer_data]
    presenter = Presenter(language=language, translations=translations(language))
    presented = [(f.kind, f.present(presenter)) for f in facts]
    shown: defaultdict[str, list[str]] = defaultdict(list)
    for item in facts:
        for kind, values in item.shown().items():
            shown[kind] += values
    paragraph = safe_paragraph(inputs.plan.paragraph)
    context = {
        "language": language,
        "direction": direction(language),
        "store": store,
        "name": first_name(inputs.sender_name),
        "verified": inputs.sender_verified,
        "proposed": bool(inputs.plan.proposals),
        "handover": inputs.plan.needs_human,
        "not_found": inputs.lookup_missed,
        "paragraph": paragraph,
        "intent": plan.intent.value,
    }
    template = plan.intent.value
    html_body = _render(template, language, presented, shown, context, as_html=True)
    text = _render(template, language, presented, shown, context, as_html=False)
    return RenderedReply(
        subject=reply_subject(inputs.original_subject, language=language),
        text=collapse_blank_lines(text),
        html=html_body,
        language=language,
        direction=direction(language),
        template=template,
        paragraph=paragraph,
        shown=dict(shown),
        store_text=tuple(words for words in (store.name, store.signature) if words.strip()),
        requested_language=plan.language,
        language_fallback=_falls_back(plan.language, language),
    )


def _falls_back(requested: str, used: str) -> bool:
    """Whether the customer's language has no catalog (an English reply to a German email)."""
    primary = requested.strip().replace("_", "-").split("-", 1)[0].lower()
    return used == SOURCE_LANGUAGE and primary != SOURCE_LANGUAGE


class _Placement:
    """The facts one template render may place, and which kinds it asked about."""

    def __init__(self, presented: list[tuple[str, list[Block]]], drawing: Drawing) -> None:
        self.presented = presented
        self.drawing = drawing
        self.asked: set[str] = set()

    def has(self, kind: str) -> bool:
        """Whether there are facts of `kind` with something to show."""
        self.asked.add(kind)
        return any(blocks for k, blocks in self.presented if k == kind)

    def show(self, kind: str) -> str:
        """Every fact of `kind`, drawn."""
        self.asked.add(kind)
        return self._draw(lambda k: k == kind)

    def show_others(self) -> str:
        """Facts of every kind the template did not ask about, drawn (after its own text)."""
        return self._draw(lambda k: k not in self.asked)

    def _draw(self, chosen: Callable[[str], bool]) -> str:
        blocks = [block for k, blocks in self.presented if chosen(k) for block in blocks]
        return self.drawing.blocks(blocks) if blocks else ""


def _render(
    template: str,
    language: str,
    presented: list[tuple[str, list[Block]]],
    shown: defaultdict[str, list[str]],
    context: dict[str, Any],
    *,
    as_html: bool,
) -> str:
    drawing = Drawing(language=language, html=as_html)
    placement = _Placement(presented, drawing)
    paragraph: Callable[[str], str] = (
        (lambda words: markup("<p>{}</p>", words)) if as_html else (lambda w: f"{w}\n")
    )
    environment = _environment(language, as_html=as_html)
    return environment.get_template(f"{template}.j2").render(
        context,
        layout="_layout.html.j2" if as_html else "_layout.txt.j2",
        has=placement.has,
        show=placement.show,
        show_others=placement.show_others,
        shown=defaultdict(list, shown),
        p=paragraph,
        ident=lambda text: drawing.value(Ident(text)),
    )


@functools.cache
def _environment(language: str, *, as_html: bool) -> Environment:
    """One environment per language and format: its catalog installed, HTML autoescaped."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=as_html,  # noqa: S701 - off only for the plain-text version of the reply.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Added by the i18n extension, so the type checker cannot see it.
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return environment


def safe_paragraph(text: str) -> str:
    """The model's paragraph as plain text: markup removed, links dropped, bounded.

    Templates escape it again on output; links are removed here because a reply never carries a
    link the model wrote (the verifier would hold such a reply anyway). Markup hidden behind
    entities (`&lt;img ...&gt;`) is removed too: cleaning repeats until unescaping reveals no more.
    """
    plain = text
    for _ in range(5):
        cleaned = html.unescape(nh3.clean(plain, tags=set(), attributes={}))
        if cleaned == plain:
            break
        plain = cleaned
    plain = _URL.sub("", plain)
    plain = " ".join(plain.split())
    return plain[:MAX_PARAGRAPH_CHARS]


def first_name(full_name: str | None) -> str | None:
    """The first word of a display name, if it looks like a name at all."""
    words = (full_name or "").strip().strip("\"'").split()
    word = words[0] if words else ""
    if not word or "@" in word or any(ch.isdigit() for ch in word) or len(word) > 40:
        return None
    if _DIRECTION_CONTROL.search(word):
        return None  # an override in a "name" reorders the greeting and the words after it
    if _DOMAIN_LIKE.search(word):
        return None  # "evil.com" or "https://..." is not a name, and must not become a link
    return word


def reply_subject(original: str, *, language: str) -> str:
    """'Re: ' + the original subject, once, on one line (no stacked 'Re: Re:' or 'AW:')."""
    subject = " ".join(_CONTROL.sub(" ", original).split())
    subject = _REPLY_PREFIX.sub("", subject)[:_MAX_SUBJECT_CHARS].rstrip()
    if not subject:
        return translations(template_language(language)).gettext("Re: your message")
    return f"Re: {subject}"


def plain_text_html(text: str, *, language: str) -> str:
    """A staff-written reply as HTML: the text escaped, in paragraphs, in the language's direction.

    Nothing a person types becomes markup or a link; the HTML only mirrors the text version.
    """
    lang = template_language(language)
    side = direction(lang)
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    align = "right" if side == "rtl" else "left"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="{side}">\n<head><meta charset="utf-8">'
        f"</head>\n<body style=\"font-family:-apple-system,'Segoe UI',Tahoma,Arial,sans-serif;"
        f'font-size:15px;line-height:1.5;color:#222;direction:{side};text-align:{align};">\n'
        f"{body}\n</body>\n</html>\n"
    )
