"""Measuring retrieval: recall@k of `search` on a labelled set of how-to questions.

Each question names the article that answers it; a question is a hit when that article is among
the first k results. The measure runs on a fresh SQLite database with the demo store's articles,
the same search the `search_help` tool uses.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.db.engine import Database
from app.db.migrate import upgrade_database
from app.store.knowledge.imports import StoreKnowledge, import_demo_knowledge

HOW_TO_SET = Path(__file__).parents[2] / "agent" / "howto.jsonl"
"""The labelled how-to questions (English and Persian) with the demo article that answers each."""


@dataclass(frozen=True, kw_only=True)
class HowTo:
    """One labelled question."""

    id: str
    language: str
    question: str
    article: str
    """The URL of the article that answers it."""


@dataclass(frozen=True, kw_only=True)
class RetrievalResult:
    """What the search returned for one question."""

    question: HowTo
    found: tuple[str | None, ...]

    @property
    def hit(self) -> bool:
        return self.question.article in self.found


def load_how_to(path: Path = HOW_TO_SET) -> list[HowTo]:
    """The labelled questions, one JSON object a line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [HowTo(**json.loads(line)) for line in lines if line.strip()]


def recall(results: Sequence[RetrievalResult]) -> float | None:
    """The share of questions whose article was found (None for no questions)."""
    return sum(r.hit for r in results) / len(results) if results else None


async def measure_retrieval(
    questions: Sequence[HowTo] | None = None, *, k: int = 3
) -> list[RetrievalResult]:
    """Search each question on a fresh database holding the demo store's articles."""
    chosen = list(load_how_to() if questions is None else questions)
    with tempfile.TemporaryDirectory() as folder:
        db = Database.connect(f"sqlite+aiosqlite:///{Path(folder) / 'howto.sqlite3'}")
        try:
            await upgrade_database(db)
            store = db.for_store(1)
            await import_demo_knowledge(store)
            library = StoreKnowledge(store)
            results = []
            for question in chosen:
                found = await library.search_help(question.question, limit=k)
                results.append(
                    RetrievalResult(question=question, found=tuple(p.url for p in found))
                )
            return results
        finally:
            await db.dispose()


def format_retrieval(results: Sequence[RetrievalResult], *, k: int = 3) -> str:
    """Lines for the eval report: recall@k overall and per language, and the misses."""
    share = recall(results)
    lines = [
        f"retrieval recall@{k} on the how-to set: {_percent(share)} "
        f"({sum(r.hit for r in results)} of {len(results)} questions; "
        f"first result right: {_percent(_first(results))})"
    ]
    for language in sorted({r.question.language for r in results}):
        mine = [r for r in results if r.question.language == language]
        lines.append(
            f"  language {language:<4} n={len(mine):<4} recall@{k} {_percent(recall(mine))}"
        )
    for r in results:
        if not r.hit:
            lines.append(
                f"  miss {r.question.id}: expected {r.question.article}, got {list(r.found)}"
            )
    return "\n".join(lines)


def _first(results: Sequence[RetrievalResult]) -> float | None:
    right = [r for r in results if r.found and r.found[0] == r.question.article]
    return len(right) / len(results) if results else None


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
