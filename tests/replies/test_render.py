"""The reply renderer: one template per intent, every language from its catalog, facts from tool
results only, the model's paragraph reduced to bounded plain text, and a safe one-line subject.

Facts come from the bundled demo store through the real tool registry (as the agent gets them),
so every fact a test looks for is one a tool really returned.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel

from app.agent.plan import MAX_PARAGRAPH_CHARS, HandoverReason, Intent, ReplyPlan
from app.replies.catalogs import languages, template_language, translations
from app.replies.draw import excerpt, format_count, format_day, format_money
from app.replies.render import (
    RenderedReply,
    ReplyInputs,
    StoreIdentity,
    render_reply,
    reply_subject,
    safe_paragraph,
)
from app.store.demo import ANCHOR, DemoShop
from app.store.models import Money, OrderStatus
from app.tools import tool_registry
from app.tools.customers import CustomerProfileFacts
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.orders import CUSTOMER_STATUS_WORDS, OrderFacts, OrderListFacts, TrackingFacts
from app.tools.policies import PolicyFacts
from app.tools.products import ProductSearchFacts

SARA = "sara.ahmadi@example.com"
REZA = "reza@example.ir"
LENA = "lena@example.de"
OLIVER = "oliver.smith@example.org"
STORE = StoreIdentity(
    name="Demo Store",
    support_email="support@demo-store.example",
    signature="Open Monday to Friday, 9:00 to 17:00 CET",
)
LANGUAGES = tuple(sorted(languages()))
"""Every language with a catalog on disk."""
ORDER_INTENTS = (
    Intent.ORDER_STATUS,
    Intent.SHIPPING_PROBLEM,
    Intent.CANCEL_ORDER,
    Intent.CHANGE_ADDRESS,
    Intent.REFUND,
    Intent.RETURN_OR_EXCHANGE,
)
"""Intents whose reply falls back to asking about the order when no order was found."""
PRODUCT_INTENTS = (Intent.PRODUCT_QUESTION, Intent.STOCK_OR_PRICE)

# The shipped languages' own words for the fallbacks (a broken translation fails here).
ASK_FOR_NUMBER = {
    "en": "Could you tell us your order number?",
    "fa": "لطفاً شمارهٔ سفارش خود را برایمان بفرستید.",
    "es": "¿Podría indicarnos su número de pedido?",
    "de": "Könnten Sie uns Ihre Bestellnummer nennen?",
    "fr": "Pourriez-vous nous indiquer votre numéro de commande\u202f?",
}
WRITE_FROM_ORDER_ADDRESS = {
    "en": "Please write to us from that address",
    "fa": "لطفاً از همان نشانی برای ما بنویسید",
    "es": "Escríbanos desde esa dirección",
    "de": "Bitte schreiben Sie uns von dieser Adresse aus",
    "fr": "Écrivez-nous depuis cette adresse",
}
NOT_FOUND = {
    "en": "We could not find an order with that number",
    "fa": "سفارشی با این شماره برای نشانی ایمیل شما پیدا نکردیم.",
    "es": "No hemos encontrado ningún pedido con ese número",
    "de": "keine Bestellung mit dieser Nummer gefunden",
    "fr": "Nous n’avons trouvé aucune commande portant ce numéro",
}
NO_PRODUCT = {
    "en": "We could not find that product in our shop.",
    "fa": "این محصول را در فروشگاه پیدا نکردیم.",
    "es": "No hemos encontrado ese producto en nuestra tienda.",
    "de": "Dieses Produkt haben wir in unserem Shop nicht gefunden.",
    "fr": "Nous n’avons pas trouvé ce produit dans notre boutique.",
}
SHIPPED = tuple(ASK_FOR_NUMBER)
"""The languages this project ships (tests of their exact wording)."""


def status_words(language: str) -> dict[OrderStatus, str]:
    """Each order status in a customer's words in `language`, from its catalog."""
    catalog = translations(language)
    return {status: catalog.gettext(CUSTOMER_STATUS_WORDS[status]) for status in OrderStatus}


# --- Facts from the demo store, through the real tools -------------------------------------


async def _invoke(tool: str, email: str, arguments: str) -> BaseModel:
    ctx = ToolContext(
        shop=DemoShop(now=ANCHOR), sender=Sender(email=email), journal=MemoryJournal(), now=ANCHOR
    )
    result = await tool_registry().invoke(ctx, tool, arguments)
    assert result.outcome is CallOutcome.OK, result.content
    assert result.facts is not None
    return result.facts


@functools.cache
def _facts(tool: str, email: str, arguments: str) -> BaseModel:
    return asyncio.run(_invoke(tool, email, arguments))


def order(number: str, email: str = SARA) -> OrderFacts:
    facts = _facts("get_order", email, json.dumps({"order_number": number}))
    assert isinstance(facts, OrderFacts)
    return facts


def recent_orders(email: str = SARA) -> OrderListFacts:
    facts = _facts("list_my_orders", email, json.dumps({"limit": 5}))
    assert isinstance(facts, OrderListFacts)
    return facts


def products(query: str) -> ProductSearchFacts:
    facts = _facts("search_products", SARA, json.dumps({"query": query}))
    assert isinstance(facts, ProductSearchFacts)
    return facts


def policies(topic: str | None) -> PolicyFacts:
    facts = _facts("get_store_policies", SARA, json.dumps({"topic": topic}))
    assert isinstance(facts, PolicyFacts)
    return facts


def profile() -> CustomerProfileFacts:
    facts = _facts("get_customer_profile", SARA, "{}")
    assert isinstance(facts, CustomerProfileFacts)
    return facts


def every_kind_of_fact() -> tuple[BaseModel, ...]:
    return (order("#1001"), recent_orders(), products("linen"), policies(None), profile())


# --- Rendering helpers ---------------------------------------------------------------------


def plan(
    intent: Intent = Intent.ORDER_STATUS,
    *,
    language: str = "en",
    paragraph: str = "",
    proposals: tuple[int, ...] = (),
    needs_human: bool = False,
) -> ReplyPlan:
    return ReplyPlan(
        intent=intent,
        confidence=0.9,
        language=language,
        template=intent.value,
        paragraph=paragraph,
        proposals=proposals,
        needs_human=needs_human,
        handover_reason=HandoverReason.ANGER if needs_human else None,
    )


def render(
    reply_plan: ReplyPlan | None = None,
    *facts: BaseModel,
    verified: bool = True,
    lookup_missed: bool = False,
    sender_name: str | None = "Sara Ahmadi",
    subject: str = "Where is my order #1001?",
    store: StoreIdentity = STORE,
) -> RenderedReply:
    return render_reply(
        ReplyInputs(
            plan=reply_plan or plan(),
            facts=facts,
            sender_name=sender_name,
            sender_verified=verified,
            original_subject=subject,
            lookup_missed=lookup_missed,
        ),
        store=store,
    )


def visible(html: str) -> str:
    """The HTML's text, roughly as a reader sees it (for "appears in both versions" checks)."""
    text = re.sub(r"<[^>]+>", " ", html)
    return " ".join(text.replace("&amp;", "&").split())


def assert_well_formed(reply: RenderedReply) -> None:
    """Nothing a template left unfilled or printed from a missing value."""
    for body in (reply.html, reply.text):
        assert "{{" not in body
        assert "{%" not in body
        assert "None" not in body
        assert "Undefined" not in body
    assert reply.html.startswith("<!DOCTYPE html>")
    assert reply.html.rstrip().endswith("</html>")
    assert reply.text.endswith("\n")
    assert not reply.text.endswith("\n\n")
    assert "\n\n\n" not in reply.text


# --- Every intent, both languages ----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", list(Intent))
def test_every_intent_renders_with_every_kind_of_fact(intent: Intent, language: str) -> None:
    reply = render(plan(intent, language=language), *every_kind_of_fact())

    assert_well_formed(reply)
    assert reply.template == intent.value
    assert reply.language == language
    assert not reply.language_fallback
    assert f'<html lang="{language}"' in reply.html
    assert STORE.support_email in reply.html
    assert STORE.support_email in reply.text


@pytest.mark.parametrize("proposed", [(), (7,)])
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", list(Intent))
def test_every_intent_renders_without_any_facts(
    intent: Intent, language: str, proposed: tuple[int, ...]
) -> None:
    for verified, missed in [(True, False), (False, False), (True, True)]:
        reply = render(
            plan(intent, language=language, proposals=proposed),
            verified=verified,
            lookup_missed=missed,
        )
        assert_well_formed(reply)
        assert reply.template == intent.value


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", list(Intent))
def test_every_intent_shows_the_paragraph_in_both_versions(intent: Intent, language: str) -> None:
    reply = render(plan(intent, language=language, paragraph="We hope this helps, Sara."))

    assert "We hope this helps, Sara." in reply.html
    assert "We hope this helps, Sara." in reply.text


def test_every_order_status_has_words_in_every_language() -> None:
    assert set(CUSTOMER_STATUS_WORDS) == set(OrderStatus)
    english = status_words("en")
    assert english == CUSTOMER_STATUS_WORDS
    for language in LANGUAGES:
        words = status_words(language)
        assert all(word.strip() for word in words.values())
        assert len(set(words.values())) == len(OrderStatus)  # no two statuses read the same
        if language != "en":
            assert all(words[s] != english[s] for s in OrderStatus), language


# --- Fallback wording when facts are missing -----------------------------------------------


@pytest.mark.parametrize("language", SHIPPED)
@pytest.mark.parametrize("intent", ORDER_INTENTS)
def test_a_reply_without_an_order_asks_for_the_order_number(intent: Intent, language: str) -> None:
    reply = render(plan(intent, language=language))

    assert ASK_FOR_NUMBER[language] in reply.html
    assert ASK_FOR_NUMBER[language] in reply.text
    assert WRITE_FROM_ORDER_ADDRESS[language] not in reply.text
    assert NOT_FOUND[language] not in reply.text


@pytest.mark.parametrize("language", SHIPPED)
@pytest.mark.parametrize("intent", ORDER_INTENTS)
def test_an_unverified_sender_is_asked_to_write_from_the_order_address(
    intent: Intent, language: str
) -> None:
    reply = render(plan(intent, language=language), verified=False, lookup_missed=True)

    assert WRITE_FROM_ORDER_ADDRESS[language] in reply.html
    assert WRITE_FROM_ORDER_ADDRESS[language] in reply.text
    assert NOT_FOUND[language] not in reply.text
    assert ASK_FOR_NUMBER[language] not in reply.text


@pytest.mark.parametrize("language", SHIPPED)
@pytest.mark.parametrize("intent", ORDER_INTENTS)
def test_a_missed_lookup_says_the_order_could_not_be_found(intent: Intent, language: str) -> None:
    reply = render(plan(intent, language=language), lookup_missed=True)

    assert NOT_FOUND[language] in reply.html
    assert NOT_FOUND[language] in reply.text
    assert ASK_FOR_NUMBER[language] not in reply.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_an_order_number_the_recent_orders_are_listed(language: str) -> None:
    listed = recent_orders()
    reply = render(plan(language=language), listed)

    assert listed.orders
    for line in listed.orders:
        assert line.order_number in reply.text
        assert line.order_number in reply.html
        assert status_words(language)[line.status] in reply.text
        assert format_money(line.total, language) in reply.text
    assert ASK_FOR_NUMBER[language] not in reply.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unverified_sender_never_sees_order_facts_even_if_some_arrive(language: str) -> None:
    shown = order("#1001")
    reply = render(plan(language=language), shown, recent_orders(), profile(), verified=False)

    assert WRITE_FROM_ORDER_ADDRESS[language] in reply.text
    for body in (reply.html, reply.text):
        assert shown.order_number not in body
        assert "00340434161094015902" not in body
        for line in recent_orders().orders:
            assert line.order_number not in body
    assert "order" not in reply.shown
    assert "orders" not in reply.shown


@pytest.mark.parametrize("language", SHIPPED)
@pytest.mark.parametrize("intent", PRODUCT_INTENTS)
def test_a_product_reply_without_products_asks_which_product(intent: Intent, language: str) -> None:
    reply = render(plan(intent, language=language))

    assert NO_PRODUCT[language] in reply.html
    assert NO_PRODUCT[language] in reply.text


@pytest.mark.parametrize(
    ("intent", "wording"),
    [
        (Intent.CANCEL_ORDER, "We have passed your cancellation request for order #1001"),
        (Intent.CHANGE_ADDRESS, "We have passed your address change for order #1001"),
        (Intent.REFUND, "We have passed your refund request for order #1001"),
        (Intent.RETURN_OR_EXCHANGE, "We have passed your return request for order #1001"),
    ],
)
def test_a_proposed_store_change_is_described_as_passed_to_the_team(
    intent: Intent, wording: str
) -> None:
    with_proposal = render(plan(intent, proposals=(3,)), order("#1001"))
    without = render(plan(intent), order("#1001"))

    assert wording in with_proposal.text
    assert wording in visible(with_proposal.html)
    assert wording not in without.text


# --- Language and direction ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en", "en"),
        ("en-GB", "en"),
        ("fa", "fa"),
        ("fa-IR", "fa"),
        ("FA-ir", "fa"),
        ("fa_IR", "fa"),
        (" fa ", "fa"),
        ("de", "de"),
        ("de-AT", "de"),
        ("es-MX", "es"),
        ("fr-CA", "fr"),
        ("pt-BR", "en"),
        ("ar", "en"),
        ("farsi", "en"),
        ("", "en"),
    ],
)
def test_the_reply_language_is_the_primary_subtag_with_a_catalog_else_english(
    tag: str, expected: str
) -> None:
    assert template_language(tag) == expected


def test_a_persian_reply_is_right_to_left_with_persian_words_and_dates() -> None:
    facts = order("#1001")
    assert facts.estimated_delivery == date(2026, 11, 21)
    reply = render(plan(language="fa"), facts)

    assert reply.direction == "rtl"
    assert reply.language == "fa"
    assert '<html lang="fa" dir="rtl">' in reply.html
    assert "direction:rtl" in reply.html
    assert "text-align:right" in reply.html
    assert "text-align:left" not in reply.html
    for body in (reply.html, reply.text):
        assert "۲۱ نوامبر ۲۰۲۶" in body  # the estimated delivery, in Persian digits
        assert "2026" not in body
        assert "November" not in body
        assert "۷۳٫۹۰" in body  # the total, with Persian digits and decimal mark
        assert status_words("fa")[OrderStatus.IN_TRANSIT] in body
        assert status_words("en")[OrderStatus.IN_TRANSIT] not in body
        assert "سلام Sara،" in body
        assert "پشتیبانی مشتریان Demo Store" in body
        assert "Hello" not in body
        assert "Best regards" not in body


def test_an_english_reply_is_left_to_right() -> None:
    reply = render(plan(language="en"), order("#1001"))

    assert reply.direction == "ltr"
    assert '<html lang="en" dir="ltr">' in reply.html
    assert "text-align:left" in reply.html
    assert "November 21, 2026" in reply.text
    assert "Hello Sara," in reply.text


@pytest.mark.parametrize("tag", ["it", "pt-BR", "ar", "xx-unknown", ""])
def test_a_language_without_a_catalog_gets_the_english_reply_and_says_so(tag: str) -> None:
    reply = render(plan(language=tag), order("#1001"))

    assert reply.language == "en"
    assert reply.requested_language == tag
    assert reply.language_fallback
    assert reply.direction == "ltr"
    assert reply.template == "order_status"
    assert '<html lang="en" dir="ltr">' in reply.html
    assert status_words("en")[OrderStatus.IN_TRANSIT] in reply.text


@pytest.mark.parametrize("tag", ["en", "en-GB", "EN", "fa-IR", "de-CH", "es", "fr-BE"])
def test_a_language_with_a_catalog_is_no_fallback(tag: str) -> None:
    reply = render(plan(language=tag), order("#1001"))

    assert reply.requested_language == tag
    assert not reply.language_fallback


def test_a_regional_persian_tag_gets_the_persian_reply() -> None:
    reply = render(plan(language="fa-IR"), order("#1001"))

    assert reply.language == "fa"
    assert reply.direction == "rtl"
    assert reply.template == "order_status"
    assert '<html lang="fa" dir="rtl">' in reply.html


# --- Facts come from the tool results ------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_order_status_reply_shows_the_order_as_the_tool_returned_it(language: str) -> None:
    facts = order("#1001")
    reply = render(plan(language=language), facts)
    parcel = facts.tracking[0]
    assert parcel.company == "DHL"
    assert parcel.number == "00340434161094015902"
    assert parcel.url is not None

    for body in (reply.html, reply.text):
        assert facts.order_number in body
        assert status_words(language)[facts.status] in body
        assert parcel.company in body
        assert parcel.number in body
        assert format_day(facts.estimated_delivery, language) in body
        assert format_day(facts.placed_on, language) in body
        assert format_money(facts.total, language) in body
        for item in facts.items:
            assert item.title in visible(body)
    assert f'<a href="{parcel.url.replace("&", "&amp;")}"' in reply.html
    assert parcel.url in reply.text
    assert reply.shown["order"] == ["#1001"]
    assert reply.shown["order_status"] == [facts.status.value]


@pytest.mark.parametrize(
    ("number", "email", "status"),
    [
        ("#1001", SARA, OrderStatus.IN_TRANSIT),
        ("#1002", OLIVER, OrderStatus.PROCESSING),
        ("#1005", REZA, OrderStatus.DELAYED),
        ("#1007", LENA, OrderStatus.DELIVERED),
        ("#1010", SARA, OrderStatus.CANCELLED),
        ("#1013", LENA, OrderStatus.REFUNDED),
        ("#1019", SARA, OrderStatus.RETURNED),
    ],
)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_status_is_given_in_the_customers_words(
    number: str, email: str, status: OrderStatus, language: str
) -> None:
    facts = order(number, email)
    assert facts.status is status
    reply = render(plan(language=language), facts)

    words = status_words(language)[status]
    assert words in reply.text
    assert words in reply.html
    assert status.value not in reply.text.replace(words, "")


@pytest.mark.parametrize(
    ("language", "apology"),
    [
        ("en", "We are sorry for the delay."),
        ("fa", "بابت تأخیر پوزش"),
        ("es", "Sentimos el retraso."),
        ("de", "Bitte entschuldigen Sie die Verzögerung."),
        ("fr", "Nous sommes désolés pour ce retard."),
    ],
)
def test_a_delayed_order_gets_an_apology_and_an_on_time_one_does_not(
    language: str, apology: str
) -> None:
    delayed = render(plan(language=language), order("#1005", REZA))
    on_time = render(plan(language=language), order("#1001"))

    assert apology in delayed.text
    assert apology in delayed.html
    assert apology not in on_time.text


def test_a_delivered_order_shows_the_delivery_day_not_an_estimate() -> None:
    facts = order("#1007", LENA)
    assert facts.delivered_on is not None
    reply = render(plan(), facts)

    assert f"Delivered: {format_day(facts.delivered_on)}" in reply.text
    assert "Expected" not in reply.text
    assert "Expected" not in reply.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_refunds_are_shown_with_amount_and_day(language: str) -> None:
    facts = order("#1014")
    assert facts.refunds
    reply = render(plan(Intent.REFUND, language=language), facts)

    for refund in facts.refunds:
        for body in (reply.text, reply.html):
            assert format_money(refund.amount, language) in body
            assert format_day(refund.refunded_on, language) in body


def test_a_parcel_with_a_link_but_no_number_is_offered_as_a_link() -> None:
    facts = order("#1001").model_copy(
        update={
            "tracking": [
                TrackingFacts(company="DHL", number=None, url="https://www.dhl.de/track?id=x"),
                TrackingFacts(company="UPS", number=None, url=None),
            ]
        }
    )
    for language, link_text in [("en", "track your parcel"), ("fa", "پیگیری مرسوله")]:
        reply = render(plan(language=language), facts)

        assert_well_formed(reply)
        assert f">{link_text}</a>" in reply.html
        assert "https://www.dhl.de/track?id=x" in reply.text
        assert "UPS" not in reply.text  # nothing to show for a parcel without number or link
        assert "UPS" not in reply.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", PRODUCT_INTENTS)
def test_products_are_shown_with_variants_prices_and_availability(
    intent: Intent, language: str
) -> None:
    found = products("linen shirt")
    shirt = found.products[0]
    assert shirt.title == "Linen Shirt"
    reply = render(plan(intent, language=language), found)

    catalog = translations(language)
    available, sold_out = catalog.gettext("available"), catalog.gettext("currently sold out")
    for body in (reply.text, reply.html):
        assert shirt.title in body
        for variant in shirt.variants:
            assert variant.title in body
            assert format_money(variant.price, language) in body
        assert sold_out in body
        assert available in body
    in_stock = next(v for v in shirt.variants if v.available and v.in_stock)
    sold = next(v for v in shirt.variants if not v.available)
    line = next(line for line in reply.text.splitlines() if f"{in_stock.title}" in line)
    assert f"({format_count(in_stock.in_stock or 0, language)} " in line
    line = next(line for line in reply.text.splitlines() if f"{sold.title}" in line)
    assert sold_out in line
    assert shirt.url is not None
    assert f'href="{shirt.url}"' in reply.html
    assert reply.shown["products"] == [p.title for p in found.products]


def test_a_product_without_a_shop_page_has_no_link() -> None:
    shirt = products("linen shirt").products[0].model_copy(update={"url": None})
    reply = render(plan(Intent.STOCK_OR_PRICE), ProductSearchFacts(products=[shirt]))

    assert "Linen Shirt" in reply.text
    assert "<a href=" not in reply.html.replace('<a href="mailto:', "")
    assert "https://" not in reply.text


def test_an_oversold_variant_says_available_without_a_negative_count() -> None:
    found = products("linen shirt")
    variant = found.products[0].variants[0].model_copy(update={"in_stock": -3, "available": True})
    oversold = ProductSearchFacts(
        products=[found.products[0].model_copy(update={"variants": [variant]})]
    )
    reply = render(plan(Intent.STOCK_OR_PRICE), oversold)

    assert f"{variant.title}: €69.00, available\n" in reply.text
    assert "-3" not in reply.text
    assert "-3" not in reply.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_policy_excerpts_come_from_the_store_policy(language: str) -> None:
    found = policies("returns")
    policy = found.policies[0]
    reply = render(plan(Intent.RETURN_OR_EXCHANGE, language=language), found)

    # The excerpt starts with the rule itself: the policy's opening heading is left out.
    first_words = " ".join(excerpt(policy.text).split()[:8])
    assert first_words.startswith("Changed your mind?")
    assert policy.title in reply.text
    assert policy.title in reply.html
    assert first_words in " ".join(reply.text.split())
    assert first_words in visible(reply.html)
    assert reply.shown["policies"] == [p.kind.value for p in found.policies]


def test_a_long_policy_is_cut_to_an_excerpt() -> None:
    found = policies("returns")
    policy = found.policies[0]
    assert len(policy.text) > 800
    reply = render(plan(Intent.RETURN_OR_EXCHANGE), found)

    shown = reply.text.split(f"{policy.title}:\n", 1)[1].split("\n\nBest regards", 1)[0]
    assert len(shown) <= 705
    assert shown.endswith(". …")  # Cut where a sentence ends, and marked as cut.
    assert " ".join(shown[:-2].split()) in " ".join(policy.text.split())
    assert policy.text[-40:] not in reply.text


def test_a_policy_excerpt_drops_the_heading_and_never_cuts_mid_word() -> None:
    text = "Returns\n\n" + "You can return items. " * 60 + "Thanks"
    cut = excerpt(text, limit=100)
    assert cut.startswith("You can return items.")
    assert cut.endswith("items. …")
    assert len(cut) <= 102
    assert excerpt("Short rule: 14 days.") == "Short rule: 14 days."
    assert excerpt("A" + " word" * 40, limit=50).endswith("word …")


# --- The model's paragraph -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Your parcel is on its way.", "Your parcel is on its way."),
        ("<b>Bold</b> and <i>italic</i>", "Bold and italic"),
        ("Hi <script>alert(1)</script>there", "Hi there"),
        ('Hi <img src=x onerror="alert(1)">there', "Hi there"),
        ("Hi &lt;img src=x onerror=alert(1)&gt;there", "Hi there"),
        ("Hi &lt;script&gt;alert(1)&lt;/script&gt;there", "Hi there"),
        ("Hi &amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;there", "Hi there"),
        ("See https://evil.example/refund?x=1 now", "See now"),
        ("See http://evil.example now", "See now"),
        ("See www.evil.example/x now", "See now"),
        ('<a href="https://evil.example">click</a> here', "click here"),
        ("A\n\n  lot\tof \r\n  space ", "A lot of space"),
        ("Sizes < 40 & > 36", "Sizes < 40 & > 36"),
        ("Fish &amp; chips", "Fish & chips"),
    ],
)
def test_the_paragraph_is_reduced_to_plain_text_without_links(raw: str, expected: str) -> None:
    assert safe_paragraph(raw) == expected


def test_the_paragraph_is_bounded() -> None:
    assert len(safe_paragraph("word " * 1000)) == MAX_PARAGRAPH_CHARS
    assert safe_paragraph("x" * (MAX_PARAGRAPH_CHARS + 50)) == "x" * MAX_PARAGRAPH_CHARS


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_markup_from_the_paragraph_reaches_the_html(language: str) -> None:
    hostile = (
        '<img src=x onerror="alert(1)"> &lt;script&gt;steal()&lt;/script&gt; 1 < 2 '
        "<a href='https://evil.example'>refund</a> &#60;iframe&#62; \"quoted\" 'single'"
    )
    quiet = render(plan(language=language), order("#1001"))
    loud = render(plan(language=language, paragraph=hostile), order("#1001"))

    # The only new markup is the paragraph's own <p>...</p>.
    assert loud.html.count("<") == quiet.html.count("<") + 2
    assert loud.html.count(">") == quiet.html.count(">") + 2
    for body in (loud.html, loud.text):
        assert "onerror" not in body
        assert "steal()" not in body
        assert "evil.example" not in body
    assert "1 &lt; 2" in loud.html
    assert "1 < 2" in loud.text
    assert "refund" in loud.text
    assert loud.paragraph in loud.text


def test_the_rendered_paragraph_is_recorded_for_the_verifier() -> None:
    reply = render(plan(paragraph="<b>Thanks</b>,   see https://evil.example"), order("#1001"))

    assert reply.paragraph == "Thanks, see"
    assert "<p>Thanks, see</p>" in reply.html


def test_without_a_paragraph_there_is_no_empty_paragraph() -> None:
    reply = render(plan(paragraph=""), order("#1001"))

    assert reply.paragraph == ""
    assert "<p></p>" not in reply.html


# --- Subject -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Where is my order #1001?", "Re: Where is my order #1001?"),
        ("Re: Where is my order?", "Re: Where is my order?"),
        ("RE: re: Re:Where is my order?", "Re: Where is my order?"),
        ("Re: Fwd: AW: Where is my order?", "Re: Where is my order?"),
        ("AW: Wo ist meine Bestellung?", "Re: Wo ist meine Bestellung?"),
        ("SV: Vs: Antw: Odp: WG: FW: Hello", "Re: Hello"),
        ("Re[2]: Where is my order?", "Re: Where is my order?"),
        ("回复：我的订单", "Re: 我的订单"),
        ("پاسخ: سفارش من", "Re: سفارش من"),
        ("  Re :   spaced   out  ", "Re: spaced out"),
        ("Order re: #1001", "Re: Order re: #1001"),
        ("Return request", "Re: Return request"),
    ],
)
def test_the_subject_gets_one_re_prefix(original: str, expected: str) -> None:
    assert reply_subject(original, language="en") == expected


@pytest.mark.parametrize(
    "original",
    [
        "Hello\r\nBcc: victim@example.com",
        "Hello\nBcc: victim@example.com",
        "Hello\rBcc: victim@example.com",
        "Hello\u2028Bcc: victim@example.com",
        "Hello\x85Bcc: victim@example.com",
        "Hello\x00\x0bBcc: victim@example.com",
    ],
)
def test_the_subject_is_one_line(original: str) -> None:
    subject = reply_subject(original, language="en")

    assert subject == "Re: Hello Bcc: victim@example.com"
    assert not any(ch in subject for ch in "\r\n\x00\x0b\x85\u2028")


@pytest.mark.parametrize(
    ("original", "language", "expected"),
    [
        ("", "en", "Re: your message"),
        ("   ", "en", "Re: your message"),
        ("Re:", "en", "Re: your message"),
        ("Re: Fwd: ", "en", "Re: your message"),
        ("", "fa", "پاسخ: پیام شما"),
        ("پاسخ:", "fa", "پاسخ: پیام شما"),
        ("", "fa-IR", "پاسخ: پیام شما"),
        ("", "de", "Re: Ihre Nachricht"),
        ("", "es", "Re: su mensaje"),
        ("", "fr", "Re\u00a0: votre message"),
        ("", "pt-BR", "Re: your message"),
    ],
)
def test_an_empty_subject_gets_a_fallback_in_the_replys_language(
    original: str, language: str, expected: str
) -> None:
    assert reply_subject(original, language=language) == expected


def test_the_subject_is_bounded() -> None:
    subject = reply_subject("Re: " + "word " * 400, language="en")

    assert subject.startswith("Re: word")
    assert len(subject) <= 204
    assert subject == subject.strip()


def test_the_rendered_reply_uses_the_subject_fallback_of_its_language() -> None:
    assert render(plan(language="fa"), subject="").subject == "پاسخ: پیام شما"
    assert render(plan(language="pt-BR"), subject="").subject == "Re: your message"
    assert render(plan(language="es"), subject="").subject == "Re: su mensaje"
    assert render(plan(), subject="Re: Re: Order").subject == "Re: Order"


# --- Store identity and greeting -----------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_store_name_support_address_and_signature_appear(language: str) -> None:
    store = StoreIdentity(
        name="Lindenhof Goods", support_email="help@lindenhof.example", signature="Mon-Fri 9-17"
    )
    reply = render(plan(language=language), order("#1001"), store=store)

    for body in (reply.html, reply.text):
        assert "Lindenhof Goods" in body
        assert "help@lindenhof.example" in body
        assert "Mon-Fri 9-17" in body
        assert "Demo Store" not in body
    assert '<a href="mailto:help@lindenhof.example"' in reply.html
    assert "<title>Lindenhof Goods</title>" in reply.html
    assert reply.store_text == ("Lindenhof Goods", "Mon-Fri 9-17")


def test_without_a_signature_the_reply_ends_with_the_support_address() -> None:
    store = StoreIdentity(name="Demo Store", support_email="support@demo-store.example")
    reply = render(plan(), order("#1001"), store=store)

    assert reply.store_text == ("Demo Store",)
    assert reply.text.endswith("support@demo-store.example\n")
    assert "support@demo-store.example</a></p>" in reply.html


def test_store_identity_is_escaped_in_the_html() -> None:
    store = StoreIdentity(
        name="Tom & Jerry <Shop>", support_email="support@demo-store.example", signature="<b>hi</b>"
    )
    reply = render(plan(), store=store)

    assert "Tom &amp; Jerry &lt;Shop&gt;" in reply.html
    assert "<b>hi</b>" not in reply.html
    assert "Tom & Jerry <Shop>" in reply.text


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Sara Ahmadi", "Hello Sara,"),
        ('"Sara Ahmadi"', "Hello Sara,"),
        ("Sara", "Hello Sara,"),
        (None, "Hello,"),
        ("", "Hello,"),
        ('""', "Hello,"),
        ("' '", "Hello,"),
        ("sara@example.com", "Hello,"),
        ("R2D2 Droid", "Hello,"),
        ("evil.example Smith", "Hello,"),
        ("https://evil.example", "Hello,"),
        ("x" * 41, "Hello,"),
    ],
)
def test_the_greeting_uses_a_first_name_only_when_it_looks_like_one(
    name: str | None, greeting: str
) -> None:
    reply = render(plan(), sender_name=name)

    assert reply.text.startswith(f"{greeting}\n")
    assert f"<p>{greeting}</p>" in reply.html


def test_a_name_with_markup_is_escaped_in_the_greeting() -> None:
    reply = render(plan(), sender_name="<img src=x onerror=alert(1)>")

    assert "<img" not in reply.html
    assert "&lt;img" in reply.html


def test_a_persian_greeting_uses_the_persian_name() -> None:
    reply = render(plan(language="fa"), sender_name="سارا احمدی")

    assert reply.text.startswith("سلام سارا،\n")


# --- Small formatters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        (date(2026, 11, 21), "en", "November 21, 2026"),
        (date(2026, 1, 5), "en", "January 5, 2026"),
        (date(2026, 11, 21), "fa", "۲۱ نوامبر ۲۰۲۶"),
        (date(2026, 1, 5), "fa", "۵ ژانویه ۲۰۲۶"),
        (date(2026, 11, 21), "es", "21 de noviembre de 2026"),
        (date(2026, 11, 21), "de", "21. November 2026"),
        (date(2026, 11, 21), "fr", "21 novembre 2026"),
        (None, "en", ""),
        (None, "fa", ""),
    ],
)
def test_days_are_written_for_the_reader(value: date | None, language: str, expected: str) -> None:
    assert format_day(value, language) == expected


@pytest.mark.parametrize(
    ("amount", "language", "expected"),
    [
        ("73.90", "en", "€73.90"),
        ("69.0", "en", "€69.00"),
        ("69", "en", "€69.00"),
        ("1234.5", "en", "€1234.50"),
        ("1234.5", "de", "1234,50\u00a0€"),
        ("1234.5", "es", "1234,50\u00a0€"),
        ("1234.5", "fr", "1234,50\u00a0€"),
        ("1234.5", "fa", "\u200e€\u00a0۱۲۳۴٫۵۰"),
    ],
)
def test_amounts_have_two_decimals_the_currency_and_no_grouping(
    amount: str, language: str, expected: str
) -> None:
    assert format_money(Money(amount=Decimal(amount), currency="EUR"), language) == expected


def test_counts_use_the_languages_digits() -> None:
    assert format_count(12, "en") == "12"
    assert format_count(12, "fa") == "۱۲"
    assert format_count(12345, "de") == "12345"


def test_the_text_version_has_no_runs_of_blank_lines() -> None:
    for intent in Intent:
        reply = render(plan(intent, paragraph="Thanks."), *every_kind_of_fact())
        assert "\n\n\n" not in reply.text
        assert all(line == line.rstrip() for line in reply.text.splitlines())
