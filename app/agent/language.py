"""Which language an email is written in, for the catalog languages (en, fa, de, es, fr).

No language-identification library is installed, so this is a small, honest detector: the
script first (Arabic script is Persian when Persian-only letters appear, else Arabic), then, for
Latin text, counts of each language's commonest short words plus the letters only it uses. It
is tuned for what support emails are: short, informal, often without accents, sometimes mixing
a few English words into another language.
"""

from __future__ import annotations

import re

DEFAULT = "en"
_ARABIC_SCRIPT = re.compile(r"[\u0600-\u06ff]")
_PERSIAN_LETTERS = re.compile(r"[پچژگکی]")
_LATIN_LETTER = re.compile(r"[a-zà-ÿ]")
_WORD = re.compile(r"[a-zà-ÿß]+(?:'[a-zà-ÿ]+)?")
_MIN_SCRIPT_SHARE = 0.2
"""Arabic-script letters must be at least this share of the letters: a Persian name quoted in
an English email does not make it Persian, but English words in a Persian email do not make it
English either."""

# The commonest function words and greetings of each Latin-script catalog language; words two
# languages share ("la", "me", "die") are left out of the one they are rarer in.
COMMON_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are to of my it you your for with this that have has was not can could "
        "would please thanks thank hi hello dear order when where what how i me we our from "
        "be been will just still any about yet".split()
    ),
    "de": frozenset(
        "und ich nicht meine mein bitte danke ist der die das ein eine sie mir mich wir "
        "haben habe auch noch wie wann wo warum können könnten hallo guten tag viele grüße "
        "gruß liebe dank vielen mit für zu auf aber oder ob schon heute".split()
    ),
    "es": frozenset(
        "el los las mi mis pedido quiero gracias por favor está esta es del una "
        "hola buenas podéis podeis puedo tengo teneis tenéis cuánto cuanto cómo como dónde "
        "donde cuándo cuando ya pero muy con sin para saludo saludos abrazo también".split()
    ),
    "fr": frozenset(
        "je ma mon mes commande merci est pour vous bonjour le les des une du et qui "
        "pas ne sur avec dans votre vos svp s'il plaît plait j'ai c'est n'ai où ou cordialement "
        "bien aussi encore quand comment".split()
    ),
}
_OWN_LETTERS: dict[str, re.Pattern[str]] = {
    "de": re.compile(r"[äöüß]"),
    "es": re.compile(r"[ñ¿¡]"),
    "fr": re.compile(r"[çèêëàâîïôûœ]"),
}
"""Letters (and marks) that one catalog language uses and the others do not."""
_OWN_LETTER_WEIGHT = 2


def detect_language(text: str) -> str:
    """A BCP 47 primary tag for `text`: fa, ar, de, es, fr, or en (the default)."""
    lowered = text.lower()
    arabic = len(_ARABIC_SCRIPT.findall(lowered))
    latin = len(_LATIN_LETTER.findall(lowered))
    if arabic and arabic >= _MIN_SCRIPT_SHARE * (arabic + latin):
        return "fa" if _PERSIAN_LETTERS.search(lowered) else "ar"
    scores = language_scores(lowered)
    best = max(scores, key=lambda language: scores[language])
    return best if scores[best] > scores[DEFAULT] else DEFAULT


def language_scores(text: str) -> dict[str, int]:
    """Each Latin-script catalog language's score for `text` (lower-cased)."""
    words = _WORD.findall(text)
    scores = {
        language: sum(1 for word in words if word in common)
        for language, common in COMMON_WORDS.items()
    }
    for language, letters in _OWN_LETTERS.items():
        scores[language] += _OWN_LETTER_WEIGHT * min(3, len(letters.findall(text)))
    return scores
