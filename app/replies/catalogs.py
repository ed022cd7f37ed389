"""The reply languages: one Babel message catalog per language under `locales/<lang>/`.

The languages a reply can be written in are exactly the catalogs on disk
(`locales/<lang>/LC_MESSAGES/messages.po`); English, the language the messages are written in,
is the fallback. Catalogs are compiled from the `.po` files in memory when first used, so no
compiled `.mo` file can ever be stale. Direction and digits come from the language's Babel
locale (CLDR), never from a list of our own.

`python -m app.replies.catalogs fill-source` copies every message into the English catalog
(`make messages` runs it after `pybabel update`): English wording lives in the templates and
the code, and the English catalog only mirrors it.
"""

from __future__ import annotations

import functools
import gettext
import sys
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"
"""The language the messages are written in, and every reply's fallback."""

# The digits of the CLDR numbering systems a locale may use by default: Babel knows a locale's
# numbering system by name (Persian: "arabext") but formats with Latin digits, so each name maps
# to its zero digit here; the other nine follow it in Unicode.
_ZERO_DIGITS = {
    "arab": "\u0660",
    "arabext": "\u06f0",
    "beng": "\u09e6",
    "deva": "\u0966",
    "mymr": "\u1040",
    "tibt": "\u0f20",
}


def catalog_path(language: str) -> Path:
    """Where `language`'s catalog lives."""
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def languages() -> frozenset[str]:
    """The languages replies can be written in: one per catalog on disk."""
    return frozenset(path.parent.parent.name for path in LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def template_language(tag: str) -> str:
    """The catalog for a BCP 47 tag.

    The tag with its region if such a catalog exists ("pt_BR" for "pt-BR"), else its primary
    subtag ("fa" for "fa-IR"), else English.
    """
    parts = [part for part in tag.strip().replace("_", "-").split("-") if part]
    if not parts:
        return SOURCE_LANGUAGE
    primary = parts[0].lower()
    candidates = [f"{primary}_{parts[1].upper()}"] if len(parts) > 1 else []
    candidates.append(primary)
    return next((c for c in candidates if c in languages()), SOURCE_LANGUAGE)


@functools.cache
def translations(language: str) -> gettext.GNUTranslations:
    """The compiled catalog of a shipped language (fuzzy entries left out, as gettext does).

    Raises:
        KeyError: there is no catalog for `language`.
    """
    if language not in languages():
        raise KeyError(f"no message catalog for {language!r}")
    with catalog_path(language).open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@functools.cache
def locale(language: str) -> Locale:
    """The Babel locale of a language tag ("en" for anything Babel does not know)."""
    try:
        return Locale.parse(language.strip().replace("-", "_") or SOURCE_LANGUAGE)
    except (ValueError, UnknownLocaleError):
        return Locale.parse(SOURCE_LANGUAGE)


def direction(language: str) -> str:
    """The writing direction, "rtl" or "ltr", of `language`, from its Babel locale."""
    return "rtl" if locale(language).character_order == "right-to-left" else "ltr"


@functools.cache
def digits(language: str) -> dict[int, int]:
    """A `str.translate` table from Latin digits to the language's own (empty if Latin)."""
    zero = _ZERO_DIGITS.get(locale(language).default_numbering_system or "latn")
    if zero is None:
        return {}
    return str.maketrans("0123456789", "".join(chr(ord(zero) + n) for n in range(10)))


def fill_source_catalog() -> int:
    """Make the English catalog mirror the source wording: each message translated as itself.

    Returns how many messages it holds.
    """
    path = catalog_path(SOURCE_LANGUAGE)
    with path.open("rb") as po:
        catalog = read_po(po, locale=SOURCE_LANGUAGE)
    for message in catalog:
        if not message.id:
            continue
        message.string = message.id
        message.flags.discard("fuzzy")
        message.previous_id = []
    with path.open("wb") as po:
        write_po(po, catalog, width=100, sort_by_file=True, ignore_obsolete=True)
    return sum(1 for message in catalog if message.id)


def main(argv: list[str]) -> int:
    """`python -m app.replies.catalogs fill-source`."""
    if argv != ["fill-source"]:
        sys.stderr.write("usage: python -m app.replies.catalogs fill-source\n")
        return 2
    count = fill_source_catalog()
    sys.stdout.write(f"{catalog_path(SOURCE_LANGUAGE)}: {count} messages\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
