"""The reply languages are the catalogs on disk: each complete, the template current with the
sources, and a new catalog is all a new language needs."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import CommandLineInterface, parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from app.agent.plan import Intent, ReplyPlan
from app.replies import catalogs, render
from app.replies.catalogs import (
    LOCALES,
    SOURCE_LANGUAGE,
    catalog_path,
    digits,
    direction,
    languages,
    translations,
)
from app.replies.render import ReplyInputs, StoreIdentity, render_reply

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = LOCALES / "messages.pot"
SHIPPED = {"en", "fa", "es", "de", "fr"}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

MessageId = str | tuple[str, ...]


def read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as po:
        return read_po(po, locale=language)


def ids(catalog: Catalog) -> set[MessageId]:
    return {key(message.id) for message in catalog if message.id}


def key(message_id: str | tuple[str, ...] | list[str]) -> MessageId:
    """A message's id as a set member: the text, or (singular, plural)."""
    return message_id if isinstance(message_id, str) else tuple(message_id)


def extracted_ids() -> set[MessageId]:
    """What `make messages` would extract from the sources today (same mapping file)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)  # type: ignore[no-untyped-call]
    found: set[MessageId] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=DEFAULT_KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        found.add(key(message))
    return found


def catalog_problems(path: Path, language: str) -> list[str]:
    """Every way `language`'s catalog falls short of the template: a missing, empty or fuzzy
    translation, a message the template no longer has, or placeholders that do not match."""
    template = read(TEMPLATE)
    catalog = read(path, language)
    problems = [f"missing: {m!r}" for m in ids(template) - ids(catalog)]
    problems += [f"obsolete: {m!r}" for m in ids(catalog) - ids(template)]
    for message in catalog:
        if not message.id:
            continue
        raw = message.string
        forms = [str(f or "") for f in raw] if isinstance(raw, tuple | list) else [str(raw or "")]
        source = key(message.id)
        wanted = set(_PLACEHOLDER.findall(source if isinstance(source, str) else source[-1]))
        if message.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        if not all(form and form.strip() for form in forms):
            problems.append(f"untranslated: {message.id!r}")
            continue
        for form in forms:
            if set(_PLACEHOLDER.findall(form)) != wanted:
                problems.append(f"placeholders differ: {message.id!r} -> {form!r}")
            elif "%" in _PLACEHOLDER.sub("", form).replace("%%", ""):
                problems.append(f"a stray % in: {form!r}")
    return problems


@pytest.fixture
def fresh_catalogs() -> Iterator[None]:
    """Forget every loaded catalog and environment before and after the test."""

    def forget() -> None:
        catalogs.languages.cache_clear()
        catalogs.translations.cache_clear()
        render._environment.cache_clear()

    forget()
    yield
    forget()


# --- The catalogs on disk ------------------------------------------------------------------


def test_the_languages_are_the_catalogs_on_disk() -> None:
    on_disk = {path.name for path in LOCALES.iterdir() if catalog_path(path.name).is_file()}

    assert languages() == on_disk
    assert SHIPPED <= on_disk
    assert SOURCE_LANGUAGE in on_disk


def test_the_template_is_up_to_date_with_the_sources() -> None:
    """Fails when a message was added or changed without `make messages`."""
    assert extracted_ids() == ids(read(TEMPLATE))


@pytest.mark.parametrize("language", sorted(languages()))
def test_every_catalog_translates_every_message(language: str) -> None:
    """Fails when a catalog misses a message, or has one empty, fuzzy or with wrong placeholders."""
    assert catalog_problems(catalog_path(language), language) == []


def test_the_english_catalog_mirrors_the_source_wording() -> None:
    for message in read(catalog_path(SOURCE_LANGUAGE), SOURCE_LANGUAGE):
        if message.id:
            assert message.string == message.id


def test_the_completeness_check_finds_each_kind_of_gap(tmp_path: Path) -> None:
    catalog = read(catalog_path("es"), "es")
    messages = [m for m in catalog if m.id and isinstance(m.id, str)]
    messages[0].string = ""
    messages[1].flags.add("fuzzy")
    messages[2].string = f"{messages[2].string} %(oops)s"
    catalog.delete(messages[3].id)
    catalog.add("A message nobody wrote", "Un mensaje")
    path = tmp_path / "messages.po"
    with path.open("wb") as po:
        write_po(po, catalog)

    problems = catalog_problems(path, "es")

    kinds = sorted({problem.split(":")[0] for problem in problems})
    assert kinds == ["fuzzy", "missing", "obsolete", "placeholders differ", "untranslated"]


# --- Loading -------------------------------------------------------------------------------


def test_catalogs_are_read_from_the_po_files_and_fuzzy_entries_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogs: None
) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    monkeypatch.setattr(catalogs, "LOCALES", locales)
    path = locales / "es" / "LC_MESSAGES" / "messages.po"
    catalog = read(path, "es")
    catalog["Thank you for your message."].string = "¡Gracias de nuevo!"
    catalog["Hello,"].flags.add("fuzzy")
    with path.open("wb") as po:
        write_po(po, catalog)

    spanish = translations("es")

    assert spanish.gettext("Thank you for your message.") == "¡Gracias de nuevo!"
    assert spanish.gettext("Hello,") == "Hello,"  # a fuzzy guess is never sent to a customer


def test_a_language_without_a_catalog_has_no_translations() -> None:
    with pytest.raises(KeyError, match="no message catalog"):
        translations("it")


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fa", "rtl"), ("fa-IR", "rtl"), ("ar", "rtl"), ("he", "rtl"), ("en", "ltr"), ("de", "ltr")],
)
def test_the_direction_comes_from_the_locale(language: str, expected: str) -> None:
    assert direction(language) == expected


def test_an_unknown_language_reads_left_to_right() -> None:
    assert direction("xx-unknown") == "ltr"
    assert direction("") == "ltr"


def test_digits_come_from_the_locales_numbering_system() -> None:
    assert "2026".translate(digits("fa")) == "۲۰۲۶"
    assert "2026".translate(digits("en")) == "2026"
    assert "2026".translate(digits("de")) == "2026"


# --- Adding a language ---------------------------------------------------------------------


def test_adding_a_catalog_adds_a_reply_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogs: None
) -> None:
    """What the README's "Adding a language" says: `pybabel init`, translate, done."""
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    monkeypatch.setattr(catalogs, "LOCALES", locales)
    CommandLineInterface().run(  # type: ignore[no-untyped-call]
        ["pybabel", "-q", "init", "-i", str(locales / "messages.pot"), "-d", str(locales)]
        + ["-l", "it"]
    )
    path = locales / "it" / "LC_MESSAGES" / "messages.po"
    italian = read(path, "it")
    assert catalog_problems(path, "it")  # just made: nothing translated yet
    for message in italian:
        if message.id:  # A stand-in translation that keeps every placeholder.
            source = message.id if isinstance(message.id, tuple) else (message.id,)
            message.string = tuple(f"[it] {source[-1]}" for _ in range(italian.num_plurals))
            if isinstance(message.id, str):
                message.string = f"[it] {message.id}"
    italian["Hello %(name)s,"].string = "Ciao %(name)s,"
    with path.open("wb") as po:
        write_po(po, italian)
    assert catalog_problems(path, "it") == []

    reply = render_reply(
        ReplyInputs(
            plan=ReplyPlan(
                intent=Intent.ORDER_STATUS, confidence=0.9, language="it-IT", template="x"
            ),
            facts=(),
            sender_name="Giulia Rossi",
            sender_verified=True,
            original_subject="Ordine",
        ),
        store=StoreIdentity(name="Demo Store", support_email="support@demo-store.example"),
    )

    assert "it" in catalogs.languages()
    assert reply.language == "it"
    assert not reply.language_fallback
    assert reply.text.startswith("Ciao Giulia,\n")
    assert "[it] Could you tell us your order number?" in reply.text
    assert '<html lang="it" dir="ltr">' in reply.html
