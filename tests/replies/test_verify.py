"""The verifier: code, not the model, decides what may leave.

Clean replies are rendered from real demo-store facts and must pass; each bad reply is a clean
one altered in exactly one way (or built directly), and must fail for that reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from decimal import Decimal

import pytest
from pydantic import BaseModel

from app.agent.plan import Intent, ReplyPlan
from app.replies.catalogs import languages
from app.replies.draw import format_money
from app.replies.render import RenderedReply, ReplyInputs, StoreIdentity, render_reply
from app.replies.verify import Evidence, gather_evidence, verify_reply
from app.store.demo import ANCHOR, DemoShop
from app.store.models import PolicyKind
from app.tools import tool_registry
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.orders import OrderFacts
from app.tools.policies import PolicyFacts, PolicyText

SARA = "sara.ahmadi@example.com"
SUPPORT = "support@demo-store.example"
STORE = StoreIdentity(name="Demo Store", support_email=SUPPORT, signature="Mon-Fri 9:00-17:00")
STORE_HOSTS = ("demo-store.example",)
OWN = frozenset({SUPPORT})
TRACKING = "00340434161094015902"
"""The tracking number the demo store has for Sara's order #1001."""
CUSTOMER_TEXT = "Where is my order #1001?\nHi, I ordered a linen shirt last week. Sara"
LANGUAGES = sorted(languages())
"""Every shipped language: each writes days, amounts and digits its own way."""


async def _invoke(tool: str, arguments: str) -> BaseModel:
    ctx = ToolContext(
        shop=DemoShop(now=ANCHOR), sender=Sender(email=SARA), journal=MemoryJournal(), now=ANCHOR
    )
    result = await tool_registry().invoke(ctx, tool, arguments)
    assert result.outcome is CallOutcome.OK, result.content
    assert result.facts is not None
    return result.facts


@functools.cache
def fetch(tool: str, arguments: str) -> BaseModel:
    return asyncio.run(_invoke(tool, arguments))


def order_1001() -> OrderFacts:
    facts = fetch("get_order", json.dumps({"order_number": "#1001"}))
    assert isinstance(facts, OrderFacts)
    return facts


def all_facts() -> tuple[BaseModel, ...]:
    return (
        order_1001(),
        fetch("list_my_orders", json.dumps({"limit": 5})),
        fetch("search_products", json.dumps({"query": "linen"})),
        fetch("get_store_policies", json.dumps({"topic": None})),
        fetch("get_customer_profile", "{}"),
    )


def as_tool_results(*facts: BaseModel) -> list[str]:
    """Tool results as the pipeline hands them over: the stored JSON of each result."""
    return [json.dumps(f.model_dump(mode="json"), ensure_ascii=False) for f in facts]


def evidence(*facts: BaseModel, customer_text: str = CUSTOMER_TEXT) -> Evidence:
    return gather_evidence(
        as_tool_results(*facts), customer_text=customer_text, store_hosts=STORE_HOSTS
    )


def rendered(
    *facts: BaseModel,
    intent: Intent = Intent.ORDER_STATUS,
    language: str = "en",
    paragraph: str = "",
) -> RenderedReply:
    reply_plan = ReplyPlan(
        intent=intent, confidence=0.9, language=language, template=intent.value, paragraph=paragraph
    )
    return render_reply(
        ReplyInputs(
            plan=reply_plan,
            facts=facts,
            sender_name="Sara Ahmadi",
            sender_verified=True,
            original_subject="Where is my order #1001?",
        ),
        store=STORE,
    )


def check(
    reply: RenderedReply,
    found: Evidence | None = None,
    *,
    recipient: str = SARA,
    verified_sender: str | None = SARA,
) -> list[str]:
    return verify_reply(
        reply,
        evidence=found if found is not None else evidence(order_1001()),
        recipient=recipient,
        verified_sender=verified_sender,
        own_addresses=OWN,
    )


def altered(reply: RenderedReply, old: str, new: str) -> RenderedReply:
    """The reply with `old` replaced by `new` in both bodies (as a tampered reply would be)."""
    assert old in reply.text
    assert old in reply.html
    return dataclasses.replace(
        reply, text=reply.text.replace(old, new), html=reply.html.replace(old, new)
    )


def with_text(reply: RenderedReply, line: str) -> RenderedReply:
    """The reply with one more line in the text version only."""
    return dataclasses.replace(reply, text=f"{reply.text}{line}\n")


def with_html(reply: RenderedReply, fragment: str) -> RenderedReply:
    """The reply with one more fragment in the HTML version only."""
    return dataclasses.replace(reply, html=reply.html.replace("</body>", f"{fragment}\n</body>"))


def only(problems: list[str], prefix: str) -> None:
    assert problems, "the verifier found nothing"
    assert all(p.startswith(prefix) for p in problems), problems


# --- Clean replies pass --------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clean_order_status_reply_from_real_facts_passes(language: str) -> None:
    reply = rendered(order_1001(), language=language)
    assert TRACKING in reply.text
    assert "dhl.de" in reply.html

    assert check(reply) == []


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("intent", list(Intent))
def test_every_clean_reply_with_every_kind_of_fact_passes(intent: Intent, language: str) -> None:
    facts = all_facts()
    reply = rendered(*facts, intent=intent, language=language)

    assert check(reply, evidence(*facts)) == []


@pytest.mark.parametrize(
    "paragraph",
    [
        "Your order #1001 is on its way.",
        "You can also write to support@demo-store.example at any time.",
        "Thank you for your patience!",
        "سفارش ۱۰۰۱ شما در راه است.",
    ],
)
def test_a_paragraph_built_only_from_backed_facts_passes(paragraph: str) -> None:
    assert check(rendered(order_1001(), paragraph=paragraph)) == []


@pytest.mark.parametrize(
    ("paragraph", "problem"),
    [
        ("Your order #1001 should arrive on 21 November.", "date (21 november)"),
        ("The carrier expects it on 2026-11-21.", "date (2026-11-21)"),
        ("The total was 73.90 EUR.", "amount (73.90 eur)"),
        ("سفارش ۱۰۰۱ شما در راه است و تا ۲۰۲۶/۱۱/۲۱ می‌رسد.", "date (2026/11/21)"),
    ],
)
def test_a_day_or_amount_in_the_paragraph_is_a_commitment_even_when_a_tool_backs_it(
    paragraph: str, problem: str
) -> None:
    # The template shows the order's day and total from the tool result; the model restating
    # them is a promise in its own words, which only templates make.
    assert check(rendered(order_1001(), paragraph=paragraph)) == [
        f"commitment in free text: {problem}"
    ]


def test_an_amount_only_the_customer_wrote_does_not_back_the_paragraph() -> None:
    reply = rendered(order_1001(), paragraph="Noted: 5000 EUR.")
    found = evidence(order_1001(), customer_text="Refund me 5000 EUR now")

    assert check(reply, found) == [
        "commitment in free text: amount (5000 eur)",
        "amount 5000 EUR in the model's paragraph is not in this email's tool results",
    ]


def test_the_5000_eur_promise_is_caught_although_the_customer_wrote_the_amount() -> None:
    paragraph = "We have approved your refund of 5000 EUR; it will reach your card within 3 days."
    reply = rendered(order_1001(), intent=Intent.REFUND, paragraph=paragraph)
    found = evidence(order_1001(), customer_text="I want a refund of 5000 EUR for order #1001.")

    assert check(reply, found) == [
        "commitment in free text: refund (refund, approved)",
        "commitment in free text: duration (3 days)",
        "commitment in free text: amount (5000 eur)",
        "amount 5000 EUR in the model's paragraph is not in this email's tool results",
    ]


def test_the_recipient_matches_the_verified_sender_regardless_of_case() -> None:
    assert check(rendered(order_1001()), recipient="Sara.Ahmadi@Example.com") == []


def test_a_signature_with_times_and_the_support_address_is_not_a_fact_to_back() -> None:
    reply = rendered(order_1001())
    assert "Mon-Fri 9:00-17:00" in reply.text
    assert f'href="mailto:{SUPPORT}"' in reply.html

    assert check(reply) == []


def test_prices_and_phone_numbers_in_the_stores_own_signature_pass() -> None:
    store = StoreIdentity(
        name="Demo Store",
        support_email=SUPPORT,
        signature="Free shipping from €75 | Call +493012345678 | Ref SHOP-2026-DE",
    )
    reply = render_reply(
        ReplyInputs(
            plan=ReplyPlan(
                intent=Intent.ORDER_STATUS, confidence=0.9, language="en", template="order_status"
            ),
            facts=(order_1001(),),
            sender_name=None,
            sender_verified=True,
            original_subject="Order",
        ),
        store=store,
    )
    assert store.signature in reply.text

    assert check(reply) == []
    stripped = dataclasses.replace(reply, store_text=())
    assert "amount €75 is not in this email's tool results" in check(stripped)


def test_a_signature_does_not_excuse_a_foreign_link() -> None:
    reply = dataclasses.replace(
        with_text(rendered(order_1001()), "Follow us: https://social.example/demo"),
        store_text=("Demo Store", "Follow us: https://social.example/demo"),
    )

    assert check(reply) == ["link: social.example is not an allowed host"]


# --- Tracking numbers, order numbers and amounts -------------------------------------------


def test_the_verifier_catches_a_tracking_number_the_tools_never_returned() -> None:
    reply = altered(rendered(order_1001()), TRACKING, "00340434161094099999")

    problems = check(reply)

    assert any("00340434161094099999" in p for p in problems), problems
    assert any(p.startswith("reference ") for p in problems)


def test_a_letters_and_digits_tracking_number_the_tools_never_returned_is_caught() -> None:
    reply = with_text(rendered(order_1001()), "Tracking: UPS 1Z999AA10123456784")

    problems = check(reply)

    assert problems == ["reference 1Z999AA10123456784 is not in this email's tool results"]


def test_a_tracking_number_cut_short_is_not_backed_by_the_full_one() -> None:
    reply = altered(rendered(order_1001()), TRACKING, TRACKING[:-1])

    assert any(TRACKING[:-1] in p for p in check(reply))


def test_a_tracking_number_only_in_the_html_is_caught_too() -> None:
    reply = with_html(rendered(order_1001()), "<p>Tracking: 00340434161094099999</p>")

    assert any("00340434161094099999" in p for p in check(reply))


def test_a_tracking_number_the_customer_wrote_is_backed() -> None:
    reply = with_text(rendered(order_1001()), "Your reference: 00340434161094099999")
    found = evidence(order_1001(), customer_text="My other parcel is 00340434161094099999")

    assert check(reply, found) == []


def test_an_order_number_not_in_evidence_is_caught() -> None:
    reply = altered(rendered(order_1001()), "#1001", "#2002")

    problems = check(reply)

    assert "order number #2002 is not in this email's tool results" in problems


def test_an_order_number_that_is_only_part_of_a_real_one_is_caught() -> None:
    reply = with_text(rendered(order_1001()), "Your order #100 is on its way.")

    assert "order number #100 is not in this email's tool results" in check(reply)


def test_an_order_number_only_the_customer_named_is_not_backed_in_the_body() -> None:
    # The lookup for #1002 found nothing for this sender: it may be another customer's order.
    reply = rendered(order_1001(), paragraph="Order #1002 goes to Baker Street.")
    found = evidence(order_1001(), customer_text="Where are #1001 and #1002?")

    assert check(reply, found) == ["order number #1002 is not in this email's tool results"]


def test_the_subject_may_repeat_the_order_number_the_customer_wrote() -> None:
    reply = dataclasses.replace(rendered(), subject="Re: Where is my order #9999?")
    found = evidence(customer_text="Where is my order #9999?\nIt has not arrived.")

    assert check(reply, found) == []
    assert check(reply, evidence(customer_text="Hello")) == [
        "order number #9999 is not in this email's tool results"
    ]


def test_a_persian_subject_repeating_the_customers_order_number_passes() -> None:
    reply = dataclasses.replace(rendered(language="fa"), subject="Re: سفارش #۹۹۹۹ کجاست؟")
    found = evidence(customer_text="سفارش #۹۹۹۹ کجاست؟")

    assert check(reply, found) == []


@pytest.mark.parametrize(
    ("line", "amount"),
    [
        ("Total: 99.99 EUR", "99.99 EUR"),
        ("We refunded €12.50 to your card.", "€12.50"),
        ("We refunded 12,50 € to your card.", "12,50 €"),
        ("A voucher of $25 is on its way.", "$25"),
    ],
)
def test_an_amount_not_in_evidence_is_caught(line: str, amount: str) -> None:
    problems = check(with_text(rendered(order_1001()), line))

    assert f"amount {amount} is not in this email's tool results" in problems


def test_a_changed_total_is_caught_in_both_versions() -> None:
    reply = altered(rendered(order_1001()), "€73.90", "€37.90")

    assert check(reply) == ["amount €37.90 is not in this email's tool results"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_changed_total_is_caught_as_each_language_writes_it(language: str) -> None:
    """Persian digits, its decimal mark and the bidi marks around amounts hide nothing: only
    the cents change here (73.90 to 73.10), which a reader of "۷۳٫۹۰" must not miss."""
    facts = order_1001()
    total = format_money(facts.total, language)
    changed = format_money(facts.total.model_copy(update={"amount": Decimal("73.10")}), language)
    reply = altered(rendered(facts, language=language), total, changed)

    problems = check(reply)

    assert len(problems) == 1, problems
    assert problems[0].startswith("amount ")
    assert "73" in problems[0].translate(str.maketrans("۰۱۲۳۴۵۶۷۸۹", "0123456789"))


@pytest.mark.parametrize("written", ["CHF 12.50", "EUR 12,50", "USD\u00a012.50"])
def test_an_amount_written_with_its_currency_code_first_is_caught(written: str) -> None:
    problems = check(with_text(rendered(order_1001()), f"We refunded {written}."))

    assert [p for p in problems if p.startswith("amount ")] == [
        f"amount {written} is not in this email's tool results"
    ]


def test_a_currency_code_ending_a_line_does_not_swallow_the_next_lines_number() -> None:
    reply = with_text(rendered(order_1001()), "Prices are in EUR\n3 items ship together.")

    assert check(reply) == []


# --- Email addresses -----------------------------------------------------------------------


def test_an_email_address_that_is_not_ours_or_the_recipients_is_caught() -> None:
    problems = check(with_text(rendered(order_1001()), "Please write to refunds@evil.example."))

    assert problems == ["email address refunds@evil.example is not ours or the customer's"]


def test_an_email_address_only_in_the_customers_text_still_fails() -> None:
    reply = with_text(rendered(order_1001()), "We sent a copy to friend@example.net.")
    found = evidence(order_1001(), customer_text="Please also send it to friend@example.net")

    assert check(reply, found) == ["email address friend@example.net is not ours or the customer's"]


def test_our_address_and_the_recipients_pass() -> None:
    reply = with_text(rendered(order_1001()), f"Write to {SUPPORT.upper()} or from {SARA}.")

    assert check(reply) == []


def test_an_email_address_from_a_tool_result_passes() -> None:
    contact = PolicyFacts(
        policies=[
            PolicyText(
                kind=PolicyKind.CONTACT,
                title="Contact",
                text="For wholesale, write to trade@lindenhof.example.",
                url=None,
            )
        ]
    )
    reply = rendered(order_1001(), contact, intent=Intent.OTHER)
    assert "trade@lindenhof.example" in reply.text

    assert check(reply, evidence(order_1001(), contact)) == []
    assert check(reply) == ["email address trade@lindenhof.example is not ours or the customer's"]


def test_an_address_that_is_only_part_of_a_tool_address_is_caught() -> None:
    policy = fetch("get_store_policies", json.dumps({"topic": "returns"}))
    assert SUPPORT in json.dumps(policy.model_dump(mode="json"))
    reply = with_text(rendered(order_1001()), "Write to port@demo-store.example.")

    assert check(reply, evidence(order_1001(), policy)) == [
        "email address port@demo-store.example is not ours or the customer's"
    ]


def test_an_email_address_only_in_the_html_is_caught() -> None:
    reply = with_html(rendered(order_1001()), "<p>Write to refunds@evil.example</p>")

    assert "email address refunds@evil.example is not ours or the customer's" in check(reply)


# --- Links ---------------------------------------------------------------------------------


def test_a_link_to_a_foreign_host_in_the_html_is_caught() -> None:
    reply = with_html(rendered(order_1001()), '<a href="https://evil.example/refund">refund</a>')

    assert check(reply) == ["link: evil.example is not an allowed host"]


def test_a_bare_url_to_a_foreign_host_in_the_text_is_caught() -> None:
    reply = with_text(rendered(order_1001()), "Claim your refund at https://evil.example/refund")

    assert check(reply) == ["link: evil.example is not an allowed host"]


def test_a_www_address_in_the_text_is_caught() -> None:
    reply = with_text(rendered(order_1001()), "See www.evil.example for details")

    assert check(reply) == ["link: www.evil.example is not an allowed host"]


def test_a_tracking_link_swapped_for_a_lookalike_host_is_caught() -> None:
    reply = altered(
        rendered(order_1001()), "https://www.dhl.de/", "https://www.dhl.de.evil.example/"
    )

    only(check(reply), "link: www.dhl.de.evil.example")


def test_a_link_hiding_its_host_behind_user_info_is_caught() -> None:
    reply = altered(
        rendered(order_1001()), "https://www.dhl.de/", "https://www.dhl.de@evil.example/"
    )

    only(check(reply), "link: evil.example")


def test_a_link_host_only_in_the_customers_text_is_still_caught() -> None:
    reply = with_text(rendered(order_1001()), "https://evil.example/refund")
    found = evidence(order_1001(), customer_text="Please refund me via https://evil.example/refund")

    assert check(reply, found) == ["link: evil.example is not an allowed host"]


def test_links_to_the_store_and_to_tool_result_hosts_pass() -> None:
    reply = with_text(
        rendered(order_1001()),
        "Shop: https://demo-store.example/collections/all and https://www.dhl.de/help",
    )

    assert check(reply) == []


def test_a_script_link_is_caught() -> None:
    reply = with_html(rendered(order_1001()), '<a href="javascript:alert(1)">track</a>')

    only(check(reply), "link: ")


def test_a_url_in_an_html_style_is_caught() -> None:
    reply = with_html(
        rendered(order_1001()), "<p style=\"background:url('https://evil.example/p.gif')\">x</p>"
    )

    assert "link: evil.example is not an allowed host" in check(reply)


def test_a_mailto_to_a_foreign_address_is_caught() -> None:
    reply = with_html(rendered(order_1001()), '<a href="mailto:refunds@evil.example">mail us</a>')

    assert check(reply) == ["link: mailto refunds@evil.example is not ours or the customer's"]


def test_a_mailto_to_our_address_or_the_recipient_passes() -> None:
    reply = with_html(rendered(order_1001()), f'<a href="mailto:{SARA}?subject=hi">you</a>')

    assert check(reply) == []


def test_a_bare_domain_in_the_models_paragraph_is_caught() -> None:
    reply = rendered(order_1001(), paragraph="Claim your refund at evil-refunds.example/now")

    assert check(reply) == [
        "link: evil-refunds.example in the model's paragraph is not an allowed host"
    ]


def test_the_store_domain_in_the_models_paragraph_passes() -> None:
    reply = rendered(order_1001(), paragraph="Browse more at demo-store.example, e.g. shirts.")

    assert check(reply) == []


def test_each_problem_is_reported_once() -> None:
    reply = with_text(
        rendered(order_1001()), "https://evil.example/a https://evil.example/b refunds@evil.example"
    )
    reply = with_text(reply, "refunds@evil.example again")

    problems = check(reply)

    assert problems == [
        "link: evil.example is not an allowed host",
        "email address refunds@evil.example is not ours or the customer's",
    ]


# --- Content that must never be in a reply -------------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    [
        '<img src="https://demo-store.example/pixel.gif">',
        '<IMG SRC="https://demo-store.example/pixel.gif">',
        '<iframe src="https://demo-store.example/"></iframe>',
        '<form action="https://demo-store.example/refund"><input name="iban"></form>',
        "<script>alert(1)</script>",
        "< script>alert(1)</script>",
        "<style>p{color:red}</style>",
        '<object data="https://demo-store.example/x"></object>',
        '<embed src="https://demo-store.example/x">',
        '<meta http-equiv="refresh" content="0">',
    ],
)
def test_images_frames_forms_and_scripts_are_caught(fragment: str) -> None:
    reply = with_html(rendered(order_1001()), fragment)

    assert "content: the reply contains an image, frame, form or script" in check(reply)


# --- Recipient -----------------------------------------------------------------------------


def test_a_recipient_other_than_the_verified_sender_is_caught() -> None:
    problems = check(rendered(order_1001()), recipient="someone.else@example.com")

    assert problems == ["recipient: someone.else@example.com is not the verified sender"]


def test_an_unverified_sender_is_caught() -> None:
    problems = check(rendered(order_1001()), verified_sender=None)

    assert problems == ["recipient: the sender is not verified"]


# --- The model's paragraph -----------------------------------------------------------------


def test_a_number_in_the_paragraph_that_no_tool_backs_is_caught() -> None:
    reply = rendered(order_1001(), paragraph="Your parcel left our warehouse in 4711 boxes.")

    assert check(reply) == ["the model's paragraph states 4711, which no tool result backs"]


def test_a_number_the_customer_gave_backs_the_paragraph() -> None:
    reply = rendered(order_1001(), paragraph="You mentioned 4711 boxes.")
    found = evidence(order_1001(), customer_text="I received 4711 boxes")

    assert check(reply, found) == []


def test_persian_digits_in_the_paragraph_are_compared_as_numbers() -> None:
    reply = rendered(order_1001(), language="fa", paragraph="بسته در ۴۷۱۱ جعبه ارسال شد.")

    assert check(reply) == ["the model's paragraph states 4711, which no tool result backs"]


def test_a_persian_tracking_number_no_tool_returned_is_caught() -> None:
    reply = with_text(rendered(order_1001(), language="fa"), "کد رهگیری: ۰۰۳۴۰۴۳۴۱۶۱۰۹۴۰۹۹۹۹۹")

    assert "reference 00340434161094099999 is not in this email's tool results" in check(reply)


def test_a_persian_copy_of_the_real_tracking_number_passes() -> None:
    persian = TRACKING.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    reply = with_text(rendered(order_1001(), language="fa"), f"کد رهگیری: {persian}")

    assert check(reply) == []


def test_persian_digits_in_a_tool_result_back_the_same_number_in_the_reply() -> None:
    policy = PolicyFacts(
        policies=[
            PolicyText(
                kind=PolicyKind.SHIPPING,
                title="ارسال",
                text="ارسال سفارش‌های بالای ۷۵ یورو رایگان است. شمارهٔ ثبت: ۱۲۳۴۵۶۷۸۹۰۱۲",
                url=None,
            )
        ]
    )
    reply = rendered(order_1001(), language="fa", paragraph="ارسال سفارش‌های بالای 75 رایگان است.")
    reply = with_text(reply, "شمارهٔ ثبت: 123456789012")

    assert check(reply, evidence(order_1001(), policy)) == []
    assert check(reply) == [
        "reference 123456789012 is not in this email's tool results",
        "the model's paragraph states 75, which no tool result backs",
    ]


# --- Evidence ------------------------------------------------------------------------------


def test_evidence_link_hosts_are_the_stores_and_the_tool_results_never_the_customers() -> None:
    found = gather_evidence(
        as_tool_results(order_1001()),
        customer_text="see https://evil.example/x and www.other.example",
        store_hosts=["Demo-Store.example", ""],
    )

    assert found.link_hosts == {"demo-store.example", "www.dhl.de"}


def test_evidence_numbers_come_from_tool_results_and_the_customers_text() -> None:
    found = gather_evidence(
        ['{"total": "73.90", "placed_on": "2026-11-17"}'],
        customer_text="I ordered ۳ shirts",
        store_hosts=[],
    )

    assert {"73.90", "2026", "11", "17", "3"} <= {str(n) for n in found.numbers}
    assert "3" in found.customer_text
    assert "73.90" in found.tool_text
