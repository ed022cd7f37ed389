"""Properties of clean text: new lines the customer wrote are never lost, and nothing raises.

Customer lines are sentences from a shop-support vocabulary (no colon at the end, no sign-off
word first), so every one of them is text the rules promise to keep; quoted history is any text,
attributed by any client's line.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from app.mail.cleantext import MAX_CLEAN_CHARS, clean_text

WORDS = (
    "order parcel size blue jacket refund return label tracking number arrived damaged please"
    " change address street colour scarf M L 1001 #1002 today tomorrow was is not yet my the"
).split()
ATTRIBUTIONS = (
    "On Mon, 23 Nov 2026 at 09:14, Demo Store <support@demo-store.example> wrote:",
    "Am 23.11.2026 um 09:14 schrieb Demo Store <support@demo-store.example>:",
    "Le 23 nov. 2026 à 09:14, Demo Store <support@demo-store.example> a écrit :",
    "El 23 nov 2026, a las 9:14, Demo Store <support@demo-store.example> escribió:",
    "در تاریخ ۲۳ نوامبر ۲۰۲۶، Demo Store <support@demo-store.example> نوشت:",
    "23.11.2026, 09:14, Demo Store <support@demo-store.example> пишет:",
    "",
)

sentences = st.lists(st.sampled_from(WORDS), min_size=2, max_size=12).map(
    lambda words: words[0].capitalize() + " " + " ".join(words[1:]) + "."
)
customer_lines = st.lists(sentences, min_size=1, max_size=4)
history_lines = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=80), min_size=1, max_size=5
)


def quoted(lines: list[str]) -> str:
    return "\n".join(f"> {line}" for line in lines)


@given(customer_lines, st.sampled_from(ATTRIBUTIONS), history_lines)
@example(["Hi, size M please."], ATTRIBUTIONS[0], ["Which size?"])
def test_every_line_above_a_quote_is_kept(
    new: list[str], attribution: str, history: list[str]
) -> None:
    body = "\n".join(new) + f"\n\n{attribution}\n" + quoted(history) + "\n"

    cleaned = clean_text(text=body, html="")

    for line in new:
        assert line in cleaned


@given(
    st.lists(st.tuples(history_lines, customer_lines), min_size=1, max_size=4),
    st.sampled_from(ATTRIBUTIONS),
    st.booleans(),
)
def test_inline_answers_between_quoted_lines_are_kept(
    exchange: list[tuple[list[str], list[str]]], attribution: str, greeting: bool
) -> None:
    parts = ["Hello team,", ""] if greeting else []
    parts.append(attribution)
    for question, answers in exchange:
        parts.append(quoted(question))
        parts.extend(answers)
    body = "\n".join(parts) + "\n"

    cleaned = clean_text(text=body, html="")

    for _, answers in exchange:
        for line in answers:
            assert line in cleaned


@given(st.text(max_size=3000), st.text(max_size=3000))
def test_clean_text_never_raises_on_arbitrary_text_or_html(text: str, html: str) -> None:
    cleaned = clean_text(text=text, html=html)

    assert isinstance(cleaned, str)
    assert len(cleaned) <= MAX_CLEAN_CHARS


@given(
    st.lists(
        st.sampled_from(
            ["<blockquote>", "</blockquote>", "<hr>", "<p>", "</p>", "<div>", "</div>", "<br>"]
        )
        | st.text(max_size=40),
        max_size=60,
    )
)
@example(["\x1b<?", "<blockquote>", "0"])
@example(["<hr>", "\x08"])
def test_clean_text_never_raises_on_quote_markup_soup(pieces: list[str]) -> None:
    assert isinstance(clean_text(text="", html="".join(pieces)), str)
