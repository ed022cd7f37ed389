"""The offline model detects every catalog language, from short and informal emails too."""

from __future__ import annotations

import pytest

from app.agent.language import COMMON_WORDS, DEFAULT, detect_language
from app.replies.catalogs import languages

SAMPLES: dict[str, tuple[str, ...]] = {
    "en": (
        "Hi, where is my order? I haven't heard anything since Tuesday. Thanks, Sara",
        "hey quick q, is it coming today? im out until 6pm",
        "Hello, I ordered from Lucía García's shop before and loved it. Is the bag in stock?",
    ),
    "fa": (
        "سلام، سفارشم کجاست؟ ممنون",
        "سلام وقت بخیر\norder #1001 من کی میرسه؟ tracking رو چک کردم ولی آپدیت نشده.",
    ),
    "de": (
        "Hallo, wo bleibt meine Bestellung? Danke und Gruß, Jonas",
        "Guten Tag, könnten Sie bitte die Lieferadresse ändern? Vielen Dank",
        "hallo, ist die jacke noch auf lager? danke",
    ),
    "es": (
        "Hola, ¿dónde está mi pedido? Gracias",
        "buenas, cuanto cuesta la chaqueta encerada y teneis la talla L?",
        "Quiero cancelar mi pedido por favor",
    ),
    "fr": (
        "Bonjour, où en est ma commande ? Merci beaucoup",
        "bonjour, ou en est ma comande 1026 svp ? je n'ai pas recu de mail de suivi. merci bcp",
        "Je voudrais retourner la robe, est-ce encore possible ?",
    ),
}


def test_every_catalog_language_has_samples_and_a_word_table() -> None:
    """A new message catalog needs its detection (and these samples) before it ships."""
    assert set(SAMPLES) >= languages()
    latin = {language for language in languages() if language != "fa"}
    assert set(COMMON_WORDS) >= latin


@pytest.mark.parametrize(
    ("language", "text"),
    [(language, text) for language, texts in SAMPLES.items() for text in texts],
)
def test_each_catalog_language_is_detected(language: str, text: str) -> None:
    assert detect_language(text) == language


def test_arabic_without_persian_letters_is_arabic() -> None:
    assert detect_language("مرحبا، أين طلبي؟") == "ar"


def test_a_persian_name_in_an_english_email_keeps_it_english() -> None:
    text = "Hello, my friend رضا recommended your shop. Do you ship the overcoat to Canada?"
    assert detect_language(text) == "en"


def test_text_with_no_known_words_is_the_default_language() -> None:
    assert detect_language("1004??") == DEFAULT == "en"
