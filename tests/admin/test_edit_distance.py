"""How much staff rewrote a draft: word-level edit distance, correct on short and 16 kB texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.admin.composer import word_edit_distance

# A few short words, so that random texts share words and the distances are interesting.
WORDS = st.lists(st.sampled_from(["a", "b", "c", "order", "سفارش", "#1001"]), max_size=12)
SPACES = st.sampled_from([" ", "  ", "\n", "\t", " \n "])


def reference_distance(before: list[str], after: list[str]) -> int:
    """Textbook Levenshtein over words (what the service computed by hand before rapidfuzz)."""
    previous = list(range(len(after) + 1))
    for i, word in enumerate(before, start=1):
        current = [i]
        for j, other in enumerate(after, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1]


@settings(database=None, max_examples=300)
@given(before=WORDS, after=WORDS, space=SPACES)
def test_matches_the_textbook_algorithm_on_short_texts(
    before: list[str], after: list[str], space: str
) -> None:
    expected = reference_distance(before, after)
    assert word_edit_distance(space.join(before), space.join(after)) == expected
    # Any run of whitespace separates words; the distance is symmetric.
    assert word_edit_distance(" ".join(before), "\n".join(after)) == expected
    assert word_edit_distance(" ".join(after), " ".join(before)) == expected


def test_known_values() -> None:
    assert word_edit_distance("", "") == 0
    assert word_edit_distance("", "one two") == 2
    assert word_edit_distance("your order shipped", "your order has shipped") == 1
    assert word_edit_distance("your order shipped", "your parcel shipped") == 1
    assert word_edit_distance("a b c", "c b a") == 2


def sixteen_kb_of_words(prefix: str) -> list[str]:
    """Distinct words, about 16 kB once joined with spaces."""
    words: list[str] = []
    while sum(len(word) + 1 for word in words) < 16 * 1024:
        words.append(f"{prefix}{len(words)}")
    return words


def test_a_16_kb_partial_rewrite_counts_each_replaced_word() -> None:
    before = sixteen_kb_of_words("w")
    after = list(before)
    replaced = range(0, len(after), 7)
    for index in replaced:
        after[index] = f"new{index}"
    assert len(" ".join(before)) >= 16 * 1024
    # Every word is distinct and each replacement is a new word, so each needs one edit and
    # nothing cheaper exists: the distance is exactly the number of replaced words.
    assert word_edit_distance(" ".join(before), " ".join(after)) == len(replaced)


def test_a_16_kb_complete_rewrite_costs_the_longer_text() -> None:
    before = sixteen_kb_of_words("old")
    after = sixteen_kb_of_words("new")[: len(before) // 2]
    # No word in common: every word of the shorter text is a substitution, the rest deletions.
    assert word_edit_distance(" ".join(before), " ".join(after)) == len(before)
