"""Filling a macro (a saved reply) with the facts of one email: a tiny, safe substitution.

Staff write macros as plain text with `{{ variable }}` placeholders. The text is never a
template: a single regular-expression pass swaps the known names below for facts and leaves
everything else as written, so `{{ 7*7 }}` or `{% if %}` stays literal and nothing staff write
can execute. A placeholder with no fact (or an unknown name) stays visible in the text and is
listed in `FilledMacro.missing`, so staff see what to fill in by hand before sending.

Customer facts come only from this email's own tool results (the latest finished agent run,
sender-scoped tools run for the verified sender), and only when the sender is verified: a
macro can never put another customer's order or name into a reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin.review import NotFound
from app.agent import exchange_log
from app.db.models import Message, Reply
from app.db.stores import Store
from app.db.workspace import Macro
from app.replies.catalogs import languages, template_language, translations
from app.tools import tool_registry
from app.tools.customers import CustomerProfileFacts
from app.tools.kit.context import CallOutcome
from app.tools.orders import CUSTOMER_STATUS_WORDS, OrderFacts, OrderListFacts

VARIABLES: dict[str, str] = {
    "customer_name": "the customer's first name (from their account)",
    "order_number": "the order's number, e.g. #1001",
    "order_status": "the order's status in the customer's words",
    "tracking_link": "the parcel's tracking link (else the order's status page)",
    "store_name": "the store's name",
}
"""The names a macro may use, and what each is filled with."""

# `{{ name }}`: anything between double braces that holds no brace, so one placeholder never
# swallows the next. Only exact known names are replaced; the rest is left as written.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


@dataclass(frozen=True, kw_only=True)
class FilledMacro:
    """A macro's text for one email, and the placeholders it could not fill."""

    macro_id: int
    name: str
    language: str
    """The macro's language ("" for one written for every language)."""
    text: str
    missing: list[str] = field(default_factory=list)
    """Placeholders left in the text: known names without a fact, and unknown names."""


def placeholders(body: str) -> list[str]:
    """The placeholder names in `body`, in order of first appearance."""
    return list(dict.fromkeys(found.group(1) for found in PLACEHOLDER.finditer(body)))


def unknown_placeholders(body: str) -> list[str]:
    """The placeholders in `body` that are not variables a macro can be filled with."""
    return [name for name in placeholders(body) if name not in VARIABLES]


def substitute(body: str, facts: dict[str, str]) -> tuple[str, list[str]]:
    """Replace known placeholders that have a fact; the text and what stayed unfilled.

    One pass over the staff's text: a fact that itself looks like `{{ x }}` (a customer named
    "{{order_number}}") is inserted as it is, never expanded again.
    """
    missing: list[str] = []

    def fill(found: re.Match[str]) -> str:
        name = found.group(1)
        value = facts.get(name) if name in VARIABLES else None
        if value:
            return value
        if name not in missing:
            missing.append(name)
        return found.group(0)

    return PLACEHOLDER.sub(fill, body), missing


def macro_language(tag: str | None) -> str:
    """The catalog language a macro for an email in `tag` is written in ("" when not known)."""
    if not tag or not tag.strip():
        return ""
    return template_language(tag)


async def email_language(session: AsyncSession, message: Message) -> str:
    """The email's language as a catalog tag: the plan's, else its latest reply's ("": unknown)."""
    plan = message.reply_plan or {}
    tag = plan.get("language") if isinstance(plan.get("language"), str) else None
    if not tag:
        statement = (
            select(Reply.language)
            .where(Reply.message_id == message.id, Reply.language.is_not(None))
            .order_by(Reply.id.desc())
            .limit(1)
        )
        tag = (await session.execute(statement)).scalar_one_or_none()
    return macro_language(tag)


def _status_words(status_text: str, language: str) -> str:
    """An order status in the customer's words, translated when the language has a catalog."""
    if language and language in languages():
        return translations(language).gettext(status_text)
    return status_text


async def email_facts(session: AsyncSession, message: Message, *, language: str) -> dict[str, str]:
    """The customer facts of this email's latest agent run (none for an unverified sender)."""
    if not message.sender_verified:
        return {}
    name: str | None = None
    orders: list[OrderFacts] = []
    listed: list[OrderListFacts] = []
    for call in await exchange_log.latest_run_calls(session, message.id):
        if call.result is None or call.outcome != CallOutcome.OK.value:
            continue
        typed = tool_registry().facts_from(call.tool, call.result)
        if isinstance(typed, CustomerProfileFacts) and typed.name and typed.name.split():
            name = name or typed.name.split()[0]
        elif isinstance(typed, OrderFacts):
            orders.append(typed)
        elif isinstance(typed, OrderListFacts):
            listed.append(typed)
    facts: dict[str, str] = {"customer_name": name} if name else {}
    if orders:
        # The first order looked up is the one the email is about.
        order = orders[0]
        facts["order_number"] = order.order_number
        facts["order_status"] = _status_words(CUSTOMER_STATUS_WORDS[order.status], language)
        links = [parcel.url for parcel in order.tracking if parcel.url]
        link = links[0] if links else order.status_page_url
        if link:
            facts["tracking_link"] = link
    elif listed and len(listed[0].orders) == 1:
        # A list of exactly one order names it; a longer list names none in particular.
        only = listed[0].orders[0]
        facts["order_number"] = only.order_number
        facts["order_status"] = _status_words(CUSTOMER_STATUS_WORDS[only.status], language)
    return facts


async def macros_for(session: AsyncSession, *, store_id: int, language: str | None) -> list[Macro]:
    """The store's active macros for an email in `language`, by name.

    A macro written in the email's language is offered instead of a same-named one for every
    language (""); with the language unknown, every active macro is offered.
    """
    statement = (
        select(Macro)
        .where(Macro.store_id == store_id, Macro.is_active.is_(True))
        .order_by(Macro.name, Macro.language, Macro.id)
    )
    wanted = macro_language(language)
    if wanted:
        statement = statement.where(Macro.language.in_((wanted, "")))
    found = list((await session.execute(statement)).scalars())
    if not wanted:
        return found
    localised = {m.name for m in found if m.language == wanted}
    return [m for m in found if m.language == wanted or m.name not in localised]


async def _store_name(session: AsyncSession, store_id: int) -> str | None:
    store = await session.get(Store, store_id)
    return store.name if store is not None else None


async def fill_macro(
    session: AsyncSession,
    *,
    store_id: int,
    macro_id: int,
    message_pk: int,
    store_name: str | None = None,
) -> FilledMacro:
    """The macro `macro_id` filled for the email `message_pk`, both of store `store_id`.

    A macro for every language gives way to its same-named version in the email's language.
    `store_name` is the name the page shows (the default store's comes from the settings);
    without it, the store row's name is used.

    Raises:
        NotFound: no such active macro, or no such email, in this store.
    """
    macro = await session.get(Macro, macro_id)
    if macro is None or macro.store_id != store_id or not macro.is_active:
        raise NotFound(f"no macro {macro_id}")
    message = await session.get(Message, message_pk)
    if message is None or message.store_id != store_id:
        raise NotFound(f"no email {message_pk}")
    language = await email_language(session, message)
    if language and macro.language == "":
        statement = select(Macro).where(
            Macro.store_id == store_id,
            Macro.name == macro.name,
            Macro.language == language,
            Macro.is_active.is_(True),
        )
        macro = (await session.execute(statement)).scalar_one_or_none() or macro
    facts = await email_facts(session, message, language=macro.language or language)
    name = store_name if store_name is not None else await _store_name(session, store_id)
    if name:
        facts["store_name"] = name
    text, missing = substitute(macro.body, facts)
    return FilledMacro(
        macro_id=macro.id, name=macro.name, language=macro.language, text=text, missing=missing
    )
