"""The scrubber: a customer's data never survives, whether known from the email or not."""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from app.store.examples.scrub import PLACEHOLDERS, Known, carries_no, scrub

LATIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüéñ", min_size=3, max_size=10)
PERSIAN = st.text(alphabet="ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی", min_size=3, max_size=8)
PART = st.one_of(LATIN.map(str.capitalize), PERSIAN)
NAMES = st.lists(PART, min_size=1, max_size=3).map(" ".join)
ORDERS = st.integers(min_value=100, max_value=99_999_999).map(str)
EMAILS = st.builds(
    lambda local, domain: f"{local}@{domain}.com",
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+", min_size=2, max_size=12).filter(
        lambda s: s[0].isalnum() and s[-1].isalnum()
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10),
)
PLACEHOLDER_WORDS = {p.strip("[]") for p in PLACEHOLDERS}
TEMPLATES = [
    "Hi, this is {name}. Where is my order #{order}? Write to {email}.\n\nThanks,\n{name}",
    "Hello {name},\n\nyour order {order} left our warehouse. We wrote to {email}.",
    "سلام، من {name} هستم. سفارش {order} کجاست؟ ایمیل من {email} است.",
    "{name} ({email}) asked about Bestellung {order} today",
]


def as_word(value: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.I) is not None


@given(name=NAMES, order=ORDERS, email=EMAILS, template=st.sampled_from(TEMPLATES))
def test_a_known_name_email_and_order_number_never_survive(
    name: str, order: str, email: str, template: str
) -> None:
    assume(not {p.casefold() for p in name.split()} & PLACEHOLDER_WORDS)
    known = Known()
    known.add_sender(name, email)
    known.add(f"#{order}", "[order]")
    text = template.format(name=name, order=order, email=email)

    scrubbed = scrub(text, known)

    for part in [name, *name.split()]:
        assert not as_word(part, scrubbed), (part, scrubbed)
    assert carries_no([email, order], scrubbed), scrubbed


@given(order=ORDERS, email=EMAILS, template=st.sampled_from(TEMPLATES))
def test_an_unknown_email_and_order_number_are_caught_by_pattern(
    order: str, email: str, template: str
) -> None:
    assume(len(order) >= 4)
    text = template.format(name="Kim", order=order, email=email)

    scrubbed = scrub(text)

    assert carries_no([email, order], scrubbed), scrubbed


def test_tool_facts_give_names_addresses_tracking_and_amounts() -> None:
    known = Known()
    known.add_facts(
        {
            "order": {
                "name": "#1001",
                "customer_name": "Sara Ahmadi",
                "total": {"amount": "73.9", "currency": "EUR"},
                "status_page_url": "https://demo-store.example/orders/abc?key=3e7d0e08",
                "shipping_address": {
                    "name": "Sara Ahmadi",
                    "address1": "Gärtnerstraße 12",
                    "city": "Hamburg",
                    "zip": "20253",
                },
                "shipments": [{"tracking": [{"number": "1Z999AA10123456784", "url": None}]}],
            }
        }
    )
    text = (
        "Hi Sara, order #1001 (73.9 EUR) goes to Gärtnerstraße 12, 20253 Hamburg, tracking "
        "1Z999AA10123456784: https://demo-store.example/orders/abc?key=3e7d0e08"
    )

    scrubbed = scrub(text, known)

    assert carries_no(
        ["Sara", "1001", "73.9", "Gärtnerstraße", "20253", "Hamburg", "1Z999", "key="], scrubbed
    ), scrubbed
    assert "[order]" in scrubbed
    assert "[name]" in scrubbed
    assert "[address]" in scrubbed


def test_patterns_catch_phones_streets_amounts_links_and_a_signature() -> None:
    text = (
        "Please call +44 7700 900123 or ship to 221B Baker Street instead. I paid $49.99.\n"
        "Track: https://track.example/p?id=XYZ123456\nسفارش ۱۲۳۴۵ را به خیابان ولیعصر بفرستید\n\n"
        "Best regards,\nMirela Novak"
    )

    scrubbed = scrub(text)

    assert carries_no(
        ["7700", "900123", "Baker", "49.99", "XYZ123456", "12345", "ولیعصر", "Mirela"], scrubbed
    ), scrubbed
    assert "[phone]" in scrubbed
    assert "[amount]" in scrubbed
    assert "[link]" in scrubbed


def test_persian_letters_and_digits_are_matched_however_they_were_typed() -> None:
    known = Known()
    known.add_sender("رضا كريمي", None)  # Arabic kaf and yeh, as some keyboards type them.
    known.add("#1005", "[order]")

    scrubbed = scrub("سلام، رضا کریمی هستم. سفارش ۱۰۰۵ نرسیده", known)

    assert carries_no(["رضا", "کریمی", "1005", "۱۰۰۵"], scrubbed), scrubbed


def test_what_is_not_customer_data_stays() -> None:
    text = "The linen shirt runs true to size; wash it cold and hang it to dry."

    assert scrub(text) == text
