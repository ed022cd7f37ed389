"""Common query words left out by the databases' own statistics; short words matched whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.engine import Database
from app.store.knowledge import StoreKnowledge, import_folder, matching
from app.store.knowledge.matching import Match, choose
from tests.store.knowledge.conftest import article, write


def test_the_rarest_words_are_kept_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matching, "MATCH_BUDGET", 100)
    counts = {"order": 5000.0, "merino": 30.0, "wash": 60.0}
    assert choose(["order", "merino", "wash"], counts) == Match(("merino", "wash"))
    assert choose(["order", "merino"], {"order": 5000.0}) == Match(("merino",))


def test_when_every_word_is_common_a_passage_needs_them_all() -> None:
    counts = {"order": 50_000.0, "ship": 40_000.0}
    assert choose(["order", "ship"], counts) == Match(("order", "ship"), every=True)
    assert choose(["order"], counts) == Match(("order",))


async def _library(db: Database, folder: Path) -> StoreKnowledge:
    for n in range(30):
        write(folder, f"p{n}.md", article(f"Parcel {n}", f"Your parcel number {n} leaves soon."))
    write(folder, "z.md", article("Zebra print", "The zebra print scarf is silk."))
    write(folder, "m.md", article("Merino", "Merino wool in size m and l."))
    await import_folder(db.for_store(1), folder)
    if db.dialect == "postgresql":
        async with db.engine.begin() as connection:
            await connection.execute(text("ANALYZE knowledge_passages"))
    matching.forget_statistics()
    return StoreKnowledge(db.for_store(1))


async def test_the_statistics_count_a_words_passages(db: Database, folder: Path) -> None:
    await _library(db, folder)
    async with db.for_store(1).read() as session:
        counts = await session.run_sync(lambda s: matching.passage_counts(s, ["parcel", "zebra"]))
    assert counts["parcel"] >= 25
    assert counts["zebra"] < counts["parcel"]


async def test_a_common_word_is_left_out_of_the_search(
    db: Database, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = await _library(db, folder)
    found = [p.title for p in await library.search_help("zebra parcel", limit=3)]
    assert len(found) == 3  # "parcel" matched too: no word is over the budget
    monkeypatch.setattr(matching, "MATCH_BUDGET", 5)
    assert [p.title for p in await library.search_help("zebra parcel", limit=3)] == ["Zebra print"]


async def test_a_one_letter_word_is_matched_whole(db: Database, folder: Path) -> None:
    library = await _library(db, folder)
    assert [p.title for p in await library.search_help("m", limit=3)] == ["Merino"]


async def test_a_common_word_is_searched_when_the_rare_ones_match_nothing(
    db: Database, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = await _library(db, folder)
    monkeypatch.setattr(matching, "MATCH_BUDGET", 5)
    found = await library.search_help("parcel qwzx", limit=3)
    assert [p.title.split()[0] for p in found] == ["Parcel"] * 3
