"""Proactive emails after the sale: rendered from templates in every catalog language.

A follow-up is not an answer: nothing the customer wrote backs it, so it shows only what was
read from the store when it was scheduled (an order's name and items, the returns policy's
opening) and the store's own settings, and the verifier checks it against exactly that. Every
follow-up carries its unsubscribe link in the body and in `List-Unsubscribe` (RFC 8058).
Pure functions: no I/O but reading templates and catalogs.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app.db.statuses import FollowUpKind
from app.replies.catalogs import direction, template_language, translations
from app.replies.draw import collapse_blank_lines, format_money
from app.replies.render import TEMPLATES, RenderedReply, StoreIdentity, first_name
from app.replies.verify import gather_evidence, verify_reply
from app.store.models import Money

SUBJECTS = {
    FollowUpKind.CHECKIN: "Did everything arrive well?",
    FollowUpKind.REVIEW: "Would you review us?",
}
"""Each kind's subject (extracted for the catalogs by the markers below)."""


def _(message: str) -> str:
    """Marks a message for extraction (`make messages`); translated when rendered."""
    return message


_("Did everything arrive well?")
_("Would you review us?")


@dataclass(frozen=True, kw_only=True)
class FollowUpInputs:
    """What one follow-up shows, all read when it was scheduled."""

    kind: FollowUpKind
    language: str
    customer_name: str | None
    detail: dict[str, Any]
    """`order` (its name), `items` (lines as "2 × Title (Variant)"), `returns` (the returns
    policy's opening), `review_url` (where to review the store)."""
    unsubscribe_url: str


def render_followup(inputs: FollowUpInputs, *, store: StoreIdentity) -> RenderedReply:
    """The email for one follow-up, in its language's catalog (English when there is none)."""
    language = template_language(inputs.language)
    side = direction(language)
    context: dict[str, Any] = {
        "language": language,
        "direction": side,
        "store": store,
        "name": first_name(inputs.customer_name),
        "paragraph": "",
        "order": str(inputs.detail.get("order") or ""),
        "items": [str(item) for item in inputs.detail.get("items") or []],
        "returns": str(inputs.detail.get("returns") or ""),
        "review_url": str(inputs.detail.get("review_url") or ""),
        "product": _product(inputs.detail.get("product"), language),
        "unsubscribe_url": inputs.unsubscribe_url,
        "show_others": lambda: "",
    }
    template = f"followup_{inputs.kind.value}"
    bodies = {}
    for as_html in (True, False):
        paragraph = (
            (lambda words: Markup("<p>{}</p>").format(words))
            if as_html
            else (lambda words: f"{words}\n")
        )
        bodies[as_html] = (
            _environment(language, as_html=as_html)
            .get_template(f"{template}.j2")
            .render(
                context,
                layout="_layout.html.j2" if as_html else "_layout.txt.j2",
                as_html=as_html,
                p=paragraph,
            )
        )
    subject = translations(language).gettext(SUBJECTS[inputs.kind])
    return RenderedReply(
        subject=subject,
        text=collapse_blank_lines(bodies[False]),
        html=bodies[True],
        language=language,
        direction=side,
        template=template,
        store_text=tuple(words for words in (store.name, store.signature) if words.strip()),
        requested_language=inputs.language,
    )


def _product(found: Any, language: str) -> dict[str, str] | None:
    """The suggested product of a check-in, its price written for the language (or None)."""
    if not isinstance(found, dict) or not found.get("link"):
        return None
    price = format_money(
        Money(amount=Decimal(found["amount"]), currency=found["currency"]), language
    )
    return {"title": str(found["title"]), "price": price, "link": str(found["link"])}


def check_followup(
    rendered: RenderedReply,
    inputs: FollowUpInputs,
    *,
    recipient: str,
    store_hosts: frozenset[str],
    own_addresses: frozenset[str],
) -> list[str]:
    """The verifier's problems with a follow-up: its facts are what was read when scheduled.

    The recipient is the order's own address (from Shopify), so it stands as verified; links
    may go to the store and to this service (the unsubscribe link).
    """
    service_host = urlsplit(inputs.unsubscribe_url).hostname or ""
    evidence = gather_evidence(
        [json.dumps(inputs.detail, ensure_ascii=False)],
        customer_text="",
        store_hosts={*store_hosts, service_host},
    )
    return verify_reply(
        rendered,
        evidence=evidence,
        recipient=recipient,
        verified_sender=recipient,
        own_addresses=own_addresses,
    )


@functools.cache
def _environment(language: str, *, as_html: bool) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=as_html,  # noqa: S701 - off only for the plain-text version.
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    return environment
