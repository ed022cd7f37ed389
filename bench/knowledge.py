"""Help-article search latency at 10,000 articles, on SQLite (FTS5) and PostgreSQL (GIN).

    python -m bench.knowledge [--postgres URL] [--articles N]

A store gets the demo store's help articles plus N - 10 generated ones (four paragraphs each,
words drawn with a Zipf-like skew from the demo articles' English and Persian words and 5,000
made-up words, so common words match thousands of passages as they do in a real help centre).
Then every labelled how-to question (`app/agent/howto.jsonl`) and as many generated questions
are searched through `StoreKnowledge.search_help`, the tool's own path (a read unit of work,
ranking, the best passage per article), one at a time. Target: <= 10 ms per query (p95).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.statuses import KnowledgeSource
from app.store.knowledge import DEMO_KNOWLEDGE, StoreKnowledge, import_demo_knowledge
from app.store.knowledge.articles import ArticleDraft
from app.store.knowledge.library import add_article
from app.store.knowledge.measure import load_how_to
from app.store.knowledge.text import words
from bench.harness import fresh_database

TARGET_MS = 10.0
BATCH = 500


def vocabulary(rng: random.Random) -> list[str]:
    """The demo articles' words, then made-up ones: earlier words are drawn more often."""
    seen: dict[str, None] = {}
    for path in sorted(DEMO_KNOWLEDGE.rglob("*.md")):
        for word in path.read_text(encoding="utf-8").split():
            if word.isalpha():
                seen.setdefault(word, None)
    made_up = [f"{rng.choice('bcdfgklmnprstvz')}{rng.choice('aeiou')}x{n}" for n in range(5000)]
    return list(seen) + made_up


def generated(n: int, vocab: list[str], rng: random.Random) -> list[ArticleDraft]:
    weights = [1 / (rank + 10) for rank in range(len(vocab))]
    now = datetime.now(UTC)

    def sentence(count: int) -> str:
        return " ".join(rng.choices(vocab, weights=weights, k=count))

    return [
        ArticleDraft(
            source=KnowledgeSource.STAFF,
            source_key=f"bench-{i}",
            title=sentence(4),
            body="\n\n".join(f"{sentence(55)}." for _ in range(4)),
            url=f"https://shop.example/pages/bench-{i}",
            language="en",
            updated_at=now,
        )
        for i in range(n)
    ]


async def measure_search(
    postgres: str | None,
    workdir: Path,
    *,
    articles: int = 10_000,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fill one store with `articles` articles and time each query; figures in ms."""
    rng = random.Random(17)
    url = await fresh_database(postgres, workdir)
    db = Database.connect(url)
    try:
        store = db.for_store(1)
        await import_demo_knowledge(store)
        vocab = vocabulary(rng)
        drafts = generated(articles - 10, vocab, rng)
        started = time.perf_counter()
        for start in range(0, len(drafts), BATCH):
            chunk = drafts[start : start + BATCH]

            def add(session: Session, chunk: list[ArticleDraft] = chunk) -> None:
                for draft in chunk:
                    add_article(session, draft)

            await store.unit(add)
        say(f"{articles} articles stored in {time.perf_counter() - started:.0f} s")
        if db.dialect == "postgresql":
            async with db.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE knowledge_passages")
        questions = [q.question for q in load_how_to()]
        questions += [" ".join(rng.sample(words(d.body), 5)) for d in drafts[: len(questions)]]
        library = StoreKnowledge(store)
        for question in questions[:5]:  # warm the caches and the connection pool
            await library.search_help(question, limit=3)
        times: list[float] = []
        found = 0
        for question in questions:
            began = time.perf_counter()
            result = await library.search_help(question, limit=3)
            times.append((time.perf_counter() - began) * 1000)
            found += bool(result)
        times.sort()
        p95 = times[int(len(times) * 0.95) - 1]
        return {
            "articles": articles,
            "queries": len(times),
            "answered": found,
            "mean_ms": round(statistics.fmean(times), 2),
            "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(times[-1], 2),
            "target_ms": TARGET_MS,
            "met": p95 <= TARGET_MS,
        }
    finally:
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (its database is emptied)")
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, default=Path("var/bench-knowledge"))
    args = parser.parse_args()
    targets: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.postgres:
        targets.append(("PostgreSQL", args.postgres))
    for name, url in targets:
        figures = asyncio.run(measure_search(url, args.workdir, articles=args.articles))
        print(f"{name}: {figures}")


if __name__ == "__main__":
    main()
