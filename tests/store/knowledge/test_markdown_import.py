"""Importing Markdown help articles: front matter, idempotent re-import, broken files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from app.db.engine import Database
from app.db.models import KnowledgeArticle, KnowledgePassage
from app.db.statuses import KnowledgeSource
from app.store.knowledge import DEMO_KNOWLEDGE, import_demo_knowledge, import_folder
from app.store.knowledge.markdown import FrontMatterError, parse, read_folder
from tests.builders import IN_DEFAULT_STORE
from tests.store.knowledge.conftest import article, write

GIFT = article(
    "Gift wrapping",
    "# Gift wrapping\n\nTick the gift box in the cart and we wrap every item.\n\n"
    "Write your message in the gift note field; we print it on a card.",
    url="https://shop.example/pages/gift-wrapping",
)


async def articles(db: Database) -> list[KnowledgeArticle]:
    async with db.read(IN_DEFAULT_STORE) as session:
        return list(
            (await session.scalars(select(KnowledgeArticle).order_by(KnowledgeArticle.id))).all()
        )


async def passage_count(db: Database) -> int:
    async with db.read(IN_DEFAULT_STORE) as session:
        return int(await session.scalar(select(func.count()).select_from(KnowledgePassage)) or 0)


async def test_front_matter_becomes_the_articles_fields(db: Database, folder: Path) -> None:
    write(folder, "gifts/wrapping.md", GIFT)
    counts = await import_folder(db.for_store(1), folder)
    assert (counts.added, counts.problems) == (1, {})
    (stored,) = await articles(db)
    assert stored.title == "Gift wrapping"
    assert stored.url == "https://shop.example/pages/gift-wrapping"
    assert (stored.language, stored.tags) == ("en", ["help"])
    assert (stored.source, stored.source_key) == (KnowledgeSource.MARKDOWN, "gifts/wrapping.md")
    assert stored.body.startswith("# Gift wrapping")
    assert stored.store_id == 1
    assert await passage_count(db) >= 1


async def test_reimport_is_idempotent_and_follows_changes(db: Database, folder: Path) -> None:
    write(folder, "wrapping.md", GIFT)
    write(folder, "care.md", article("Care", "Wash linen at 30 degrees on a gentle cycle."))
    first = await import_folder(db.for_store(1), folder)
    ids = [a.id for a in await articles(db)]
    passages = await passage_count(db)

    again = await import_folder(db.for_store(1), folder)
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    assert [a.id for a in await articles(db)] == ids
    assert await passage_count(db) == passages

    write(folder, "care.md", article("Care", "Wash wool by hand in cool water."))
    (folder / "wrapping.md").unlink()
    changed = await import_folder(db.for_store(1), folder)
    assert (changed.added, changed.updated, changed.unchanged, changed.removed) == (0, 1, 0, 1)
    (care,) = await articles(db)
    assert care.id in ids
    assert "wool by hand" in care.body
    assert first.added == 2


async def test_a_broken_file_is_reported_and_nothing_else_is_lost(
    db: Database, folder: Path
) -> None:
    write(folder, "wrapping.md", GIFT)
    write(folder, "care.md", article("Care", "Wash linen at 30 degrees."))
    await import_folder(db.for_store(1), folder)

    write(folder, "care.md", "---\ntitle: [unclosed\n---\nWash wool by hand.\n")
    write(folder, "new.md", "---\ntitle: Warranty\nurl: ftp://nope\n---\nTwo years.\n")
    write(folder, "shipping.md", article("Shipping", "We ship to the EU and the UK."))
    counts = await import_folder(db.for_store(1), folder)

    assert set(counts.problems) == {"care.md", "new.md"}
    assert "not valid YAML" in counts.problems["care.md"]
    assert "`url` must be an http" in counts.problems["new.md"]
    assert (counts.added, counts.unchanged, counts.removed) == (1, 1, 0)
    by_key = {a.source_key: a for a in await articles(db)}
    # The broken file keeps what was imported from it before; the others are imported.
    assert set(by_key) == {"wrapping.md", "care.md", "shipping.md"}
    assert "linen" in by_key["care.md"].body


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("---\ntitle: x\n", "not closed"),
        ("---\n- a\n- b\n---\nbody", "must be a mapping"),
        ("---\ntitle: x\nauthor: me\n---\nbody", "unknown front matter field(s): author"),
        ("---\ntitle: x\nlanguage: english please\n---\nbody", "language tag"),
        ("---\ntitle: x\ntags: {a: 1}\n---\nbody", "list of words"),
        ("---\nurl: https://a.example/x\n---\nno heading here", "no title"),
        ("---\ntitle: Empty\n---\n\n", "no text"),
    ],
)
def test_each_front_matter_problem_is_named(folder: Path, content: str, problem: str) -> None:
    write(folder, "bad.md", content)
    read = read_folder(folder)
    assert read.articles == []
    assert problem in read.problems["bad.md"]


def test_a_heading_stands_in_for_a_missing_title() -> None:
    meta, body = parse("# Sizing help\n\nMeasure your chest.")
    assert meta == {}
    assert body.startswith("# Sizing help")
    with pytest.raises(FrontMatterError):
        parse("---\ntitle: x: y: z\n---\n")


async def test_one_stores_import_leaves_another_stores_articles(
    db: Database, second_store: Database, folder: Path
) -> None:
    write(folder, "wrapping.md", GIFT)
    await import_folder(db.for_store(1), folder)
    (folder / "wrapping.md").unlink()
    write(folder, "other.md", article("Other", "Only the second store has this."))
    await import_folder(second_store, folder)
    assert [a.source_key for a in await articles(db)] == ["wrapping.md"]


async def test_the_demo_knowledge_has_each_topic_in_english_and_persian(db: Database) -> None:
    counts = await import_demo_knowledge(db.for_store(1))
    assert counts.problems == {}
    stored = await articles(db)
    assert {a.language for a in stored} == {"en", "fa"}
    topics = {Path(a.source_key).stem for a in stored}
    assert topics == {"sizing", "care", "shipping-abroad", "gift-wrapping", "warranty"}
    for language in ("en", "fa"):
        assert len([a for a in stored if a.language == language]) == 5
    assert all(a.url and a.url.startswith("https://demo-store.example/") for a in stored)
    persian = "".join(a.body for a in stored if a.language == "fa")
    # Written with Persian letters, never the Arabic look-alikes.
    assert "\u064a" not in persian
    assert "\u0643" not in persian
    assert len(list(DEMO_KNOWLEDGE.rglob("*.md"))) == 10


async def test_sqlite_keeps_its_fts_rows_in_step_with_the_passages(
    db: Database, folder: Path
) -> None:
    if db.dialect != "sqlite":
        pytest.skip("the FTS5 table exists on SQLite only")
    write(folder, "wrapping.md", GIFT)
    await import_folder(db.for_store(1), folder)
    write(folder, "wrapping.md", GIFT.replace("card", "postcard"))
    await import_folder(db.for_store(1), folder)
    async with db.read(IN_DEFAULT_STORE) as session:
        fts = (await session.execute(text("SELECT rowid FROM knowledge_fts"))).scalars().all()
        ids = (await session.scalars(select(KnowledgePassage.id))).all()
    assert sorted(fts) == sorted(ids)
