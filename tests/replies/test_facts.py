"""Facts present themselves: the renderer draws any `Facts` subclass's blocks, in any language,
and knows no tool."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel

from app.agent.plan import Intent, ReplyPlan
from app.replies.catalogs import languages
from app.replies.facts import (
    Amount,
    Block,
    Bullets,
    Count,
    Day,
    Facts,
    Ident,
    Link,
    Paragraph,
    Phrase,
    Presenter,
    Quote,
    Row,
    Strong,
    Table,
    Text,
)
from app.replies.render import RenderedReply, ReplyInputs, StoreIdentity, render_reply
from app.store.models import Money
from app.tools.customers import CustomerProfileFacts
from app.tools.orders import OrderFacts, OrderListFacts
from app.tools.policies import PolicyFacts
from app.tools.products import ProductSearchFacts

STORE = StoreIdentity(name="Demo Store", support_email="support@demo-store.example")
NO_OTHER_FACTS = {Intent.HUMAN_REQUESTED, Intent.PRAISE_OR_FEEDBACK, Intent.SPAM_OR_IRRELEVANT}
"""Intents whose reply shows no facts at all (a person answers, or there is nothing to tell)."""


class LoyaltyPointsFacts(Facts):
    """A tool nobody's template knows: its facts still reach the reply."""

    customer_data = False

    points: int
    card: str
    expires_on: date
    voucher: Money

    def present(self, t: Presenter) -> list[Block]:
        return [
            Table(
                [
                    Row(t.gettext("Points"), Strong(Count(self.points))),
                    Row(t.gettext("Card"), Ident(self.card)),
                    Row(t.gettext("Expires"), Day(self.expires_on)),
                    Row(t.gettext("Voucher"), Amount(self.voucher)),
                ]
            )
        ]

    def shown(self) -> dict[str, list[str]]:
        return {"loyalty_card": [self.card]}


class SecretFacts(Facts):
    """Facts that do not say they are public: customer data by default."""

    note: str

    def present(self, t: Presenter) -> list[Block]:
        return [Paragraph(Text(self.note))]


def loyalty() -> LoyaltyPointsFacts:
    return LoyaltyPointsFacts(
        points=1250,
        card="LC-2041",
        expires_on=date(2026, 12, 31),
        voucher=Money(amount=Decimal("15.00"), currency="EUR"),
    )


def render(
    *facts: BaseModel,
    intent: Intent = Intent.OTHER,
    language: str = "en",
    verified: bool = True,
) -> RenderedReply:
    return render_reply(
        ReplyInputs(
            plan=ReplyPlan(intent=intent, confidence=0.9, language=language, template="x"),
            facts=facts,
            sender_name="Sara",
            sender_verified=verified,
            original_subject="Points",
        ),
        store=STORE,
    )


# --- The base class ------------------------------------------------------------------------


def test_a_kind_defaults_to_the_class_name_without_facts() -> None:
    assert LoyaltyPointsFacts.kind == "loyalty_points"
    assert SecretFacts.kind == "secret"


def test_the_shipped_facts_name_their_kinds_and_whether_they_hold_customer_data() -> None:
    kinds: dict[type[Facts], tuple[str, bool]] = {
        OrderFacts: ("order", True),
        OrderListFacts: ("orders", True),
        CustomerProfileFacts: ("customer_profile", True),
        ProductSearchFacts: ("products", False),
        PolicyFacts: ("policies", False),
    }
    for facts, (kind, customer_data) in kinds.items():
        assert (facts.kind, facts.customer_data) == (kind, customer_data), facts


def test_facts_hold_customer_data_unless_they_say_otherwise() -> None:
    assert SecretFacts.customer_data
    reply = render(SecretFacts(note="The door code is 4711."), verified=False)

    assert "4711" not in reply.text
    assert "4711" not in reply.html
    assert render(SecretFacts(note="The door code is 4711."), verified=True).text.count("4711") == 1


def test_a_phrase_without_a_value_for_a_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match="no value for"):
        Phrase("%(count)s × %(title)s", {"count": Count(2)})


def test_a_result_that_is_not_facts_shows_nothing() -> None:
    class Plain(BaseModel):
        secret: str

    reply = render(Plain(secret="hidden words"))

    assert "hidden words" not in reply.text
    assert reply.shown == {}


# --- A kind no template knows --------------------------------------------------------------


@pytest.mark.parametrize("intent", sorted(set(Intent) - NO_OTHER_FACTS))
def test_facts_of_a_new_kind_follow_the_intents_text(intent: Intent) -> None:
    reply = render(loyalty(), intent=intent)

    for body in (reply.text, reply.html):
        assert "Points" in body
        assert "1250" in body
        assert "LC-2041" in body
        assert "December 31, 2026" in body
        assert "€15.00" in body
    assert "Points:  1250" in reply.text
    assert reply.text.index("LC-2041") < reply.text.index("Best regards")
    assert reply.shown == {"loyalty_card": ["LC-2041"]}


@pytest.mark.parametrize("intent", sorted(NO_OTHER_FACTS))
def test_intents_without_facts_show_no_new_kind_either(intent: Intent) -> None:
    reply = render(loyalty(), intent=intent)

    assert "LC-2041" not in reply.text
    assert "LC-2041" not in reply.html


@pytest.mark.parametrize("language", sorted(languages()))
def test_a_new_kind_is_formatted_for_every_language(language: str) -> None:
    reply = render(loyalty(), language=language)

    assert reply.language == language
    assert "LC-2041" in reply.text


def test_in_persian_identifiers_are_isolated_and_numbers_use_persian_digits() -> None:
    reply = render(loyalty(), language="fa")

    assert "\u2066LC-2041\u2069" in reply.text  # left-to-right isolate ... pop
    assert '<bdi dir="ltr">LC-2041</bdi>' in reply.html
    assert "۱۲۵۰" in reply.text
    assert "۳۱ دسامبر ۲۰۲۶" in reply.text
    assert "۱۵٫۰۰" in reply.text
    assert "1250" not in reply.text


def test_every_kind_of_block_draws_in_html_and_text_with_values_escaped() -> None:
    class ShowcaseFacts(Facts):
        customer_data = False

        def present(self, t: Presenter) -> list[Block]:
            return [
                Paragraph(Phrase("Fish & chips for %(who)s", {"who": Text("<Tom>")})),
                Bullets([Text("<b>one</b>"), "two & three"], heading=Strong("Options")),
                Quote(Text("Returns"), "Returns\n\n" + "Keep the receipt. " * 3, limit=30),
                Table([Row("Lines", [Text("a"), Text("b")])]),
                Bullets([Link('https://shop.example/x?a=1&b="2"', Text("the page"))]),
            ]

    reply = render(ShowcaseFacts())

    assert "<p>Fish &amp; chips for <bdi>&lt;Tom&gt;</bdi></p>" in reply.html
    assert "<li><bdi>&lt;b&gt;one&lt;/b&gt;</bdi></li>" in reply.html
    assert "<li>two &amp; three</li>" in reply.html
    assert "<p><strong>Options</strong></p>" in reply.html
    assert "<blockquote" in reply.html
    assert "<bdi>a</bdi><br><bdi>b</bdi>" in reply.html
    assert 'href="https://shop.example/x?a=1&amp;b=&#34;2&#34;"' in reply.html
    assert "Fish & chips for <Tom>\n" in reply.text
    assert "Options\n\n  - <b>one</b>\n  - two & three\n" in reply.text
    assert "Returns:\nKeep the receipt. …\n" in reply.text
    assert "Lines:\n  a\n  b\n" in reply.text
    assert '- the page - https://shop.example/x?a=1&b="2"\n' in reply.text


# --- The renderer knows no tool ------------------------------------------------------------


def test_the_renderer_imports_no_tool_module() -> None:
    code = (
        "import sys, app.replies.render, app.replies.verify, app.replies.policy;"
        "print(sorted(m for m in sys.modules if m.startswith('app.tools')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

    assert loaded == "[]"
