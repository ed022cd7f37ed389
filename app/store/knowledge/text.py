"""Words for search: one normalisation for documents and queries, and passages cut from articles.

Both databases index the words this module makes (`terms`), not the raw text: PostgreSQL with
the 'simple' configuration (no stemming, no stop words of its own) and SQLite's FTS5 with its
default tokenizer, so a query finds the same passages on either. The normalisation:

- Unicode compatibility forms folded (Arabic presentation forms, full-width Latin) and case
  folded; combining marks dropped, which removes Arabic diacritics (harakat) and Latin accents
  and turns آ, أ, إ into ا and ۀ, ة into ه;
- Arabic letters Persian writes differently made Persian: ي and ى → ی, ك → ک; tatweel dropped;
- the zero-width non-joiner (U+200C) becomes a space, so "کفش‌ها" is the words "کفش" and "ها"
  and a query for "کفش" finds it (people type the joiner, a space, or nothing: the space keeps
  the stem a word of its own in the first two cases); other zero-width characters are dropped;
- Persian and Arabic-Indic digits become ASCII digits;
- a light stemmer: English plurals and -ing/-ed endings, Persian plural endings ها/های written
  joined. Stop words are dropped from queries only (documents keep every word; ranking weighs
  common words down).

The 'english' configuration was not used: it would stem English on PostgreSQL alone, so the
two databases would rank differently, and its stop words would drop words in other languages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_LETTERS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ي Arabic yeh → ی Farsi yeh
        "\u0649": "\u06cc",  # ى alef maksura → ی
        "\u0643": "\u06a9",  # ك Arabic kaf → ک keheh
        "\u0629": "\u0647",  # ة teh marbuta → ه
        "\u06c0": "\u0647",  # ۀ heh with yeh above → ه (NFKD keeps it whole)
        "\u0640": None,  # tatweel (kashida), only stretches a line
        "\u200c": " ",  # zero-width non-joiner: a word boundary for search
        "\u200b": None,
        "\u200d": None,
        "\u200e": None,
        "\u200f": None,
        "\ufeff": None,
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
    }
)
_WORD = re.compile(r"[^\W_]+")
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
_VOWELS = set("aeiouy")
_DOUBLED = re.compile(r"([b-df-hj-np-tv-z])\1$")
MAX_QUERY_WORDS = 12

_STOP_WORDS = """
    a an and are as at be but by can could do does for from have how i if in is it me my of on
    or our please should so that the there this to us was we what when where which who why will
    with would you your yours hi hello thanks thank dear get got know want need tell
    hallo bitte ich und der die das wie ist ein eine mit für kann
    hola el la los las de que en por para como y un una mi es
    bonjour le les des du et est pour comment je une un mon ma
    و در به از که را با این آن است برای یک می ها های هم تا یا اگر من شما ما چه چطور چگونه
    آیا هست هستند بود کنم کنید کرد کنیم باید دارم دارید سلام ممنون لطفا خیلی
    توان توانم توانید میتوانم میتوانید خواهم خواهید میخواهم میخواهید شود بشود دهید بدهید
    بگویید بفرمایید کنیم چیست چی کجا کی چرا چند
    """.split()


def normalise(text: str) -> str:
    """The text as search sees it: folded, Persian letters unified, marks and joiners handled."""
    folded = unicodedata.normalize("NFKD", text.translate(_LETTERS)).casefold()
    without_marks = "".join(ch for ch in folded if unicodedata.category(ch) != "Mn")
    # Decomposition can bring back an Arabic yeh (ئ is yeh + hamza): unify once more.
    return unicodedata.normalize("NFC", without_marks).translate(_LETTERS)


def stem(word: str) -> str:
    """A light, language-blind stem: enough that "sizes" finds "size" and "کفشها" finds "کفش"."""
    if _ARABIC_SCRIPT.search(word):
        for ending in ("های", "ها"):
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                return word[: -len(ending)]
        return word
    if not word.isascii() or not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for ending in ("ing", "ed"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            base = word[: -len(ending)]
            if not _VOWELS & set(base):
                return word
            return base[:-1] if _DOUBLED.search(base) else base
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Every word of `text`, normalised and stemmed, in order."""
    return [stem(word) for word in _WORD.findall(normalise(text))]


def terms(*parts: str) -> str:
    """What the index stores for a passage: its words, separated by spaces."""
    return " ".join(word for part in parts for word in words(part))


def query_words(query: str) -> list[str]:
    """The words a query searches for: normalised, stemmed, without stop words or repeats.

    Each is matched as a prefix (`search_prefix`): "sizing" finds "size", "پشمی" finds "پشم".
    """
    kept: dict[str, None] = {}
    for word in _WORD.findall(normalise(query)):
        if word in STOP_WORDS:
            continue
        kept.setdefault(search_prefix(stem(word)), None)
    return list(kept)[:MAX_QUERY_WORDS]


_PERSIAN_ENDINGS = ("یید", "ید", "یم", "ند", "ی", "م", "ت", "ش")
"""Personal and adjectival endings: "بشویم" and "بشویید" share "بشوی", "پشمی" is "پشم"."""


def search_prefix(word: str) -> str:
    """The prefix a query word is searched by: its stem, less an inflection ending.

    A query word matches every indexed word that starts with this, so the query side may cut
    deeper than the documents' stemmer without losing the documents' own forms.
    """
    if _ARABIC_SCRIPT.search(word):
        for ending in _PERSIAN_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                return word[: -len(ending)]
        return word
    if word.isascii() and word.isalpha() and len(word) >= 5 and word[-1] in "eyi":
        return word[:-1]
    return word


STOP_WORDS = frozenset(normalise(word) for word in _STOP_WORDS)
"""Words that say nothing about what is asked, in the catalog languages (normalised)."""


# --- Passages ------------------------------------------------------------------------------------

MAX_PASSAGE_CHARS = 600
"""About a paragraph: what a reply quotes and the unit that is ranked."""
_MIN_PASSAGE_CHARS = 120
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s+")


def passages(body: str) -> list[str]:
    """The article cut into paragraph-sized passages, in order.

    A heading stays with the paragraph under it, short paragraphs are joined to the next while
    the two fit, and a long paragraph is cut where a sentence ends.
    """
    paragraphs = [_plain(p) for p in re.split(r"\n\s*\n", body.replace("\r\n", "\n"))]
    merged: list[str] = []
    carry = ""
    for paragraph in (p for p in paragraphs if p):
        text = f"{carry}\n{paragraph}" if carry else paragraph
        if len(text) < _MIN_PASSAGE_CHARS:
            carry = text
            continue
        carry = ""
        merged.extend(_cut(text))
    if carry:
        if merged and len(merged[-1]) + len(carry) < MAX_PASSAGE_CHARS:
            merged[-1] = f"{merged[-1]}\n{carry}"
        else:
            merged.append(carry)
    return merged


def _plain(paragraph: str) -> str:
    lines = [_HEADING.sub("", line).strip() for line in paragraph.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def _cut(text: str) -> Iterable[str]:
    if len(text) <= MAX_PASSAGE_CHARS:
        yield text
        return
    piece = ""
    for sentence in _SENTENCE_END.split(text):
        if piece and len(piece) + len(sentence) + 1 > MAX_PASSAGE_CHARS:
            yield piece
            piece = ""
        piece = f"{piece} {sentence}".strip()
        while len(piece) > MAX_PASSAGE_CHARS:
            yield piece[:MAX_PASSAGE_CHARS]
            piece = piece[MAX_PASSAGE_CHARS:]
    if piece:
        yield piece
