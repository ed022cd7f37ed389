"""Rendering a `ReplyPlan` into an email: Jinja2 templates per intent and language, HTML + text.

Facts come only from typed tool results (orders, products, policies); the model contributes one
short paragraph, which is reduced to plain text, escaped and bounded. Pure functions, no I/O:
`render_reply` is given everything it shows.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import nh3
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from pydantic import BaseModel

from app.agent.plan import MAX_PARAGRAPH_CHARS, Intent, ReplyPlan
from app.store.models import STATUS_WORDS as TOOL_STATUS_WORDS
from app.store.models import Money, OrderStatus
from app.tools.customers import CustomerProfileFacts
from app.tools.orders import OrderFacts, OrderListFacts
from app.tools.policies import PolicyFacts
from app.tools.products import ProductSearchFacts

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "fa")
RTL_LANGUAGES = frozenset({"fa", "ar", "he", "ur"})
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|vs|odp|wg|fw|fwd|回复|答复|پاسخ)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.I
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DOMAIN_LIKE = re.compile(r"[/:]|[A-Za-z0-9]\.[A-Za-z]{2,}")
_MAX_SUBJECT_CHARS = 200
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
POLICY_EXCERPT_CHARS = 700
_URL = re.compile(r"https?://\S+|www\.\S+", re.I)

STATUS_WORDS: dict[str, dict[OrderStatus, str]] = {
    # The tools' English wording, except where a customer needs different words than the model:
    # the model is told "not shipped yet" outright, the customer hears what happens next.
    "en": {**TOOL_STATUS_WORDS, OrderStatus.PROCESSING: "being prepared for shipping"},
    "fa": {
        OrderStatus.CANCELLED: "لغو شده",
        OrderStatus.REFUNDED: "بازپرداخت شده",
        OrderStatus.RETURNED: "مرجوع شده",
        OrderStatus.RETURN_IN_PROGRESS: "در حال مرجوعی",
        OrderStatus.DELIVERED: "تحویل داده شده",
        OrderStatus.OUT_FOR_DELIVERY: "امروز در مسیر تحویل",
        OrderStatus.DELAYED: "با تأخیر در راه",
        OrderStatus.IN_TRANSIT: "در راه",
        OrderStatus.SHIPPED: "ارسال شده",
        OrderStatus.PARTIALLY_SHIPPED: "بخشی از آن ارسال شده",
        OrderStatus.ON_HOLD: "در انتظار",
        OrderStatus.PROCESSING: "در حال آماده‌سازی برای ارسال",
    },
}
_MONTHS_EN = (
    "January February March April May June July August September October November December"
).split()


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
    """The typed results of the tool calls the plan shows, in order."""
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
    direction: str
    template: str
    paragraph: str = ""
    """The model's paragraph as it appears in the reply (checked on its own by the verifier)."""
    shown: dict[str, Any] = field(default_factory=dict)
    """What the reply shows, by kind, for the verifier and staff."""
    store_text: tuple[str, ...] = ()
    """The store's own words from settings (name, signature): no tool result needs to back them."""


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["day"] = format_day
    environment.filters["money"] = format_money
    environment.filters["excerpt"] = policy_excerpt
    return environment


def template_language(language: str) -> str:
    """The template language for a BCP 47 tag: its primary subtag if we have it, else English."""
    primary = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in LANGUAGES else "en"


def render_reply(inputs: ReplyInputs, *, store: StoreIdentity) -> RenderedReply:
    """Render the reply for a plan. Raises `TemplateNotFound` only for an unknown intent."""
    plan = inputs.plan
    language = template_language(plan.language)
    direction = "rtl" if language in RTL_LANGUAGES else "ltr"
    context = _context(inputs, store=store, language=language, direction=direction)
    template = plan.intent.value
    html_body = _render(language, template, "html", context)
    text = _render(language, template, "txt", context)
    return RenderedReply(
        subject=reply_subject(inputs.original_subject, language=language),
        text=_tidy_text(text),
        html=html_body,
        language=language,
        direction=direction,
        template=f"{language}/{template}",
        paragraph=context["paragraph"],
        shown=_shown(context),
        store_text=tuple(words for words in (store.name, store.signature) if words.strip()),
    )


def _render(language: str, template: str, fmt: str, context: dict[str, Any]) -> str:
    try:
        return _ENV.get_template(f"{language}/{template}.{fmt}.j2").render(context)
    except TemplateNotFound:
        if language == "en":
            raise
        return _ENV.get_template(f"en/{template}.{fmt}.j2").render(context)


def _context(
    inputs: ReplyInputs, *, store: StoreIdentity, language: str, direction: str
) -> dict[str, Any]:
    facts = inputs.facts
    order = next((f for f in facts if isinstance(f, OrderFacts)), None)
    orders = next((f for f in facts if isinstance(f, OrderListFacts)), None)
    products = next((f for f in facts if isinstance(f, ProductSearchFacts)), None)
    policies = next((f for f in facts if isinstance(f, PolicyFacts)), None)
    profile = next((f for f in facts if isinstance(f, CustomerProfileFacts)), None)
    if not inputs.sender_verified:
        # Customer data only for a verified sender (the tools refuse anyway; this holds even
        # if facts arrive by mistake): the reply asks them to write from the order's address.
        order, orders, profile = None, None, None
    return {
        "language": language,
        "direction": direction,
        "store": store,
        "name": first_name(inputs.sender_name),
        "verified": inputs.sender_verified,
        "order": order,
        "orders": orders.orders if orders and orders.orders else [],
        "products": products.products if products else [],
        "policies": policies.policies if policies else [],
        "profile": profile,
        "proposed": bool(inputs.plan.proposals),
        "handover": inputs.plan.needs_human,
        "not_found": inputs.lookup_missed,
        "paragraph": safe_paragraph(inputs.plan.paragraph),
        "status_words": STATUS_WORDS[language],
        "intent": inputs.plan.intent,
        "Intent": Intent,
    }


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
    if _DOMAIN_LIKE.search(word):
        return None  # "evil.com" or "https://..." is not a name, and must not become a link
    return word


def reply_subject(original: str, *, language: str) -> str:
    """'Re: ' + the original subject, once, on one line (no stacked 'Re: Re:' or 'AW:')."""
    subject = " ".join(_CONTROL.sub(" ", original).split())
    subject = _REPLY_PREFIX.sub("", subject)[:_MAX_SUBJECT_CHARS].rstrip()
    if not subject:
        return "پاسخ: پیام شما" if template_language(language) == "fa" else "Re: your message"
    return f"Re: {subject}"


def format_day(value: date | None, language: str = "en") -> str:
    """A date as a customer reads it: "21 November 2026", or ۲۰۲۶/۱۱/۲۱ in Persian."""
    if value is None:
        return ""
    if language == "fa":
        return f"{value.year}/{value.month:02d}/{value.day:02d}".translate(_PERSIAN_DIGITS)
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def policy_excerpt(text: str, limit: int = POLICY_EXCERPT_CHARS) -> str:
    """The start of a policy for a reply: its opening heading dropped, cut at a sentence end.

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


def format_money(value: Money) -> str:
    """An amount with its currency code ("69.00 EUR"); digits stay Latin in every language.

    Always two decimals, as `Money` prints itself: Shopify sends amounts like "69.0".
    """
    return f"{value.amount:.2f} {value.currency}".strip()


_ENV = _environment()


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return tidy + "\n"


def _shown(context: dict[str, Any]) -> dict[str, Any]:
    order: OrderFacts | None = context["order"]
    return {
        "order": order.order_number if order else None,
        "orders": [line.order_number for line in context["orders"]],
        "products": [product.title for product in context["products"]],
        "policies": [policy.kind.value for policy in context["policies"]],
    }


def plain_text_html(text: str, *, language: str) -> str:
    """A staff-written reply as HTML: the text escaped, in paragraphs, in the language's direction.

    Nothing a person types becomes markup or a link; the HTML only mirrors the text version.
    """
    lang = template_language(language)
    direction = "rtl" if lang in RTL_LANGUAGES else "ltr"
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    body = "\n".join(
        "<p>" + "<br>\n".join(html.escape(line) for line in p.splitlines()) + "</p>"
        for p in paragraphs
    )
    align = "right" if direction == "rtl" else "left"
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}" dir="{direction}">\n<head><meta charset="utf-8">'
        f"</head>\n<body style=\"font-family:-apple-system,'Segoe UI',Tahoma,Arial,sans-serif;"
        f'font-size:15px;line-height:1.5;color:#222;direction:{direction};text-align:{align};">\n'
        f"{body}\n</body>\n</html>\n"
    )
