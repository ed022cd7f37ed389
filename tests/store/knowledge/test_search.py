"""Full-text search on the database under test (SQLite FTS5 or PostgreSQL), Persian included."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db.engine import Database
from app.store.knowledge import StoreKnowledge, import_demo_knowledge, import_folder
from app.store.knowledge.text import normalise, passages, query_words, words
from tests.store.knowledge.conftest import article, write


@pytest.fixture
async def demo(db: Database) -> StoreKnowledge:
    await import_demo_knowledge(db.for_store(1))
    return StoreKnowledge(db.for_store(1))


async def urls(library: StoreKnowledge, query: str, limit: int = 3) -> list[str | None]:
    return [p.url for p in await library.search_help(query, limit=limit)]


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("Can you gift wrap my order and add a message?", "pages/gift-wrapping"),
        ("how should I wash my merino sweater", "pages/care"),
        ("Do you ship to the United Kingdom? Will I pay customs?", "pages/international-shipping"),
        ("my shoe sole came loose, is that covered by the warranty", "pages/warranty"),
        ("I'm between two sizes for the linen shirt", "pages/size-guide"),
    ],
)
async def test_the_best_article_answers_an_english_question(
    demo: StoreKnowledge, query: str, page: str
) -> None:
    found = await urls(demo, query)
    assert found[0] == f"https://demo-store.example/{page}"


@pytest.mark.parametrize(
    ("query", "page"),
    [
        ("می‌توانید سفارشم را کادوپیچ کنید؟", "fa/pages/gift-wrapping"),
        ("لباس پشمی را چطور بشویم؟", "fa/pages/care"),
        ("آیا به بریتانیا ارسال دارید و گمرک باید بدهم؟", "fa/pages/international-shipping"),
        ("گارانتی کفش چرمی چند سال است", "fa/pages/warranty"),
        ("چه سایزی برای من مناسب است", "fa/pages/size-guide"),
    ],
)
async def test_the_best_article_answers_a_persian_question(
    demo: StoreKnowledge, query: str, page: str
) -> None:
    found = await urls(demo, query)
    assert found[0] == f"https://demo-store.example/{page}"


@pytest.mark.parametrize(
    "query",
    [
        "بسته‌بندی کادو",  # Persian letters, with a zero-width non-joiner
        "بسته بندی کادو",  # a space instead of the joiner
        "بستهبندی کادو",  # neither: "بسته" still matches after the joiner in the text
        "بسته\u200cبندي كادو",  # Arabic yeh and kaf, as an Arabic keyboard types them
        "بَسته‌بندی کادو",  # with a diacritic
    ],
)
async def test_persian_spelling_variants_find_the_same_article(
    demo: StoreKnowledge, query: str
) -> None:
    assert (await urls(demo, query))[0] == "https://demo-store.example/fa/pages/gift-wrapping"


async def test_arabic_letters_in_the_article_are_found_by_persian_queries(
    db: Database, folder: Path
) -> None:
    # The article is written with Arabic yeh and kaf; the customer types Persian letters.
    write(
        folder, "a.md", article("كيف چرمي", "كيف‌هاي چرمي را با كرم چرم تميز كنيد.", language="fa")
    )
    write(folder, "b.md", article("Other", "Nothing about bags here at all.", language="en"))
    await import_folder(db.for_store(1), folder)
    found = await StoreKnowledge(db.for_store(1)).search_help("کیف چرمی", limit=3)
    assert [p.title for p in found] == ["كيف چرمي"]


async def test_another_stores_articles_are_never_returned(
    db: Database, second_store: Database, folder: Path
) -> None:
    await import_demo_knowledge(db.for_store(1))
    write(folder, "secret.md", article("Gift wrapping at Second", "Second wraps gifts in gold."))
    await import_folder(second_store, folder)
    mine = await StoreKnowledge(db.for_store(1)).search_help("gift wrapping gold", limit=10)
    theirs = await StoreKnowledge(second_store).search_help("gift wrapping gold", limit=10)
    assert mine
    assert all("Second" not in p.title and "gold" not in p.text for p in mine)
    assert [p.title for p in theirs] == ["Gift wrapping at Second"]


async def test_one_passage_per_article_short_and_from_the_article(demo: StoreKnowledge) -> None:
    found = await demo.search_help("leather care cream suede brush", limit=3)
    assert len({p.url for p in found}) == len(found) <= 3
    assert found[0].url == "https://demo-store.example/pages/care"
    assert "suede" in found[0].text.lower()
    assert all(len(p.text) <= 600 for p in found)


async def test_a_query_of_stop_words_or_nothing_finds_nothing(demo: StoreKnowledge) -> None:
    assert await demo.search_help("how do I ... ?", limit=3) == []
    assert await demo.search_help("", limit=3) == []
    assert await demo.search_help("zzzqqq", limit=3) == []


async def test_search_syntax_in_a_query_is_only_words(demo: StoreKnowledge) -> None:
    # FTS5 and tsquery operators are not passed through: these are words, or nothing.
    for query in ('gift" OR "*', "gift & !care | (wash", "NEAR(gift wrap) :* -care", "'; --"):
        found = await demo.search_help(query, limit=3)
        assert all(p.url for p in found)


def test_normalisation_unifies_persian_letters_joiners_and_marks() -> None:
    assert normalise("كيك") == normalise("کیک") == "کیک"
    assert normalise("مي\u200cخواهم") == "می خواهم"
    assert normalise("کِتابِ") == "کتاب"
    assert normalise("۱۲۳") == "123"
    assert normalise("Café") == "cafe"
    assert words("کفش‌ها") == words("کفش ها") == ["کفش", "ها"]
    assert words("کفشها") == ["کفش"]
    assert words("Wrapping sizes policies") == ["wrap", "size", "policy"]
    assert query_words("How do I wash it?") == ["wash"]


def test_passages_are_paragraphs_with_their_heading() -> None:
    body = "# Title\n\n## Washing\n\n" + "Wash it gently. " * 10 + "\n\n" + "Dry flat. " * 100
    cut = passages(body)
    assert cut[0].startswith("Title\nWashing\nWash it gently.")
    assert all(len(p) <= 600 for p in cut)
    assert len(cut) >= 3
