"""Search values: email text reduced to plain words, quoted emails, normalised order numbers."""

from __future__ import annotations

import pytest

from app.store.shopify.queries import order_name_query, quoted_email, search_words
from tests.store.shopify.wire import SARA


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('shirt" OR email:* (tag:x)', "shirt email tag x"),
        ("linen shirt", "linen shirt"),
        ("t-shirt size M", "t-shirt size M"),
        # A leading "-" negates a term: "-zzz" would match every product but zzz.
        ("-zzz", "zzz"),
        ("-- -shirt --", "shirt"),
        # Shopify quotes with single quotes too: an open quote could swallow status:ACTIVE.
        ("shirt' status:DRAFT", "shirt status DRAFT"),
        ("NOT red AND blue", "red blue"),
        ("vendor:acme title:*", "vendor acme title"),
        ("back\\slash", "back slash"),
        ("größe café", "größe café"),
    ],
)
def test_search_words(text: str, expected: str) -> None:
    assert search_words(text) == expected


def test_search_words_never_cuts_a_word_into_an_operator() -> None:
    # 77 letters, a space, then "ORANGE": cutting at 80 characters used to leave "... OR".
    words = search_words("a" * 77 + " ORANGE")

    assert words == "a" * 77
    assert len(search_words("word " * 40)) <= 80
    assert len(search_words("x" * 200)) == 80


def test_quoted_email_cannot_escape_its_quotes() -> None:
    assert quoted_email(SARA) == '"sara@example.com"'
    assert quoted_email('sara"@example.com OR "x\\') == '"sara@example.comORx"'


def test_order_name_query_accepts_only_normalised_numbers() -> None:
    assert order_name_query("1001-A") == "name:1001-A OR name:#1001-A"
    for hostile in ("1001 OR name:*", "#1001", "1001)", "", "x" * 31):
        with pytest.raises(ValueError, match="normalised"):
            order_name_query(hostile)
