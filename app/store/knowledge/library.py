"""The store's articles in the database: idempotent import by source, and full-text search.

Every function takes a store-scoped session (`app.db.scope` filters and stamps the rows), so
one store's import never touches another's articles and a search never returns them.

Import is by source: the articles a source gives replace that source's articles (matched by
`source_key`); unchanged ones are left alone, changed ones get new passages, and those the
source no longer has are deleted, except the ones the source could not read this time (a file
with broken front matter keeps what was imported from it before).

Search ranks passages with the database's own full-text ranking, on the same normalised words
(`text.terms`): SQLite's FTS5 `bm25`, PostgreSQL's `ts_rank` over the stored, GIN-indexed
`to_tsvector('simple', terms)`. Words are OR-ed (a customer's question rarely has every word of
the answer), very common ones left out (`matching`), and the best passage of each article is
returned, best first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, table
from sqlalchemy.orm import Session
from sqlalchemy.sql import column

from app.db.knowledge import FTS_TABLE, KnowledgeArticle, KnowledgePassage
from app.db.statuses import KnowledgeSource
from app.store.knowledge import matching
from app.store.knowledge.articles import ArticleDraft, SourceRead
from app.store.knowledge.text import passages, query_words, terms
from app.store.models import HelpPassage

_FTS = table(FTS_TABLE, column("rowid"), column("terms"))


@dataclass
class ImportCounts:
    """What one import did."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    problems: dict[str, str] = field(default_factory=dict)

    def __iadd__(self, other: ImportCounts) -> ImportCounts:
        return self + other

    def __add__(self, other: ImportCounts) -> ImportCounts:
        return ImportCounts(
            added=self.added + other.added,
            updated=self.updated + other.updated,
            unchanged=self.unchanged + other.unchanged,
            removed=self.removed + other.removed,
            problems={**self.problems, **other.problems},
        )

    def line(self) -> str:
        """One line for the command line and the logs."""
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.removed} removed, {len(self.problems)} not readable"
        )


def sync_source(session: Session, read: SourceRead, *, now: datetime | None = None) -> ImportCounts:
    """Make the store's articles from `read.source` what the source gave (see the module)."""
    now = now or datetime.now(UTC)
    counts = ImportCounts(problems=dict(read.problems))
    stored = {
        article.source_key: article
        for article in session.scalars(
            select(KnowledgeArticle).where(KnowledgeArticle.source == read.source)
        )
    }
    given: set[str] = set()
    for draft in read.articles:
        if draft.source_key in given:
            counts.problems[draft.source_key] = "given twice; the first one was kept"
            continue
        given.add(draft.source_key)
        article = stored.get(draft.source_key)
        if article is None:
            article = KnowledgeArticle(source=draft.source, source_key=draft.source_key)
            _fill(article, draft, now)
            session.add(article)
            session.flush()
            _index(session, article)
            counts.added += 1
        elif _same(article, draft):
            counts.unchanged += 1
        else:
            _fill(article, draft, now)
            _drop_passages(session, [article.id])
            _index(session, article)
            counts.updated += 1
    gone = [a for key, a in stored.items() if key not in given and key not in read.problems]
    if gone:
        _drop_passages(session, [a.id for a in gone])
        session.execute(
            delete(KnowledgeArticle).where(KnowledgeArticle.id.in_([a.id for a in gone]))
        )
        counts.removed = len(gone)
    return counts


def add_article(session: Session, draft: ArticleDraft) -> int:
    """Store one article and its passages (staff's own, or a benchmark's); returns its id."""
    article = KnowledgeArticle(source=draft.source, source_key=draft.source_key)
    _fill(article, draft, datetime.now(UTC))
    session.add(article)
    session.flush()
    _index(session, article)
    return article.id


def search(session: Session, query: str, *, limit: int = 3) -> list[HelpPassage]:
    """The best passage of each of the (at most `limit`) articles that best answer `query`."""
    wanted = query_words(query)
    if not wanted or limit <= 0:
        return []
    ranked = matching.ranked(session, wanted)
    best: dict[int, int] = {}
    for passage_id, article_id in ranked:
        best.setdefault(article_id, passage_id)
        if len(best) == limit:
            break
    if not best:
        return []
    rows = session.execute(
        select(KnowledgePassage.id, KnowledgePassage.text, KnowledgeArticle)
        .join(KnowledgeArticle, KnowledgeArticle.id == KnowledgePassage.article_id)
        .where(KnowledgePassage.id.in_(list(best.values())))
    ).all()
    found = {row[0]: (row[1], row[2]) for row in rows}
    return [
        HelpPassage(title=article.title, text=passage, url=article.url, language=article.language)
        for passage_id in best.values()
        if passage_id in found
        for passage, article in [found[passage_id]]
    ]


def count_articles(session: Session) -> int:
    """How many articles the store has."""
    return int(session.scalar(select(func.count()).select_from(KnowledgeArticle)) or 0)


def _fill(article: KnowledgeArticle, draft: ArticleDraft, now: datetime) -> None:
    article.title = draft.title
    article.body = draft.body
    article.url = draft.url
    article.language = draft.language
    article.tags = list(draft.tags)
    article.updated_at = draft.updated_at
    article.imported_at = now


def _same(article: KnowledgeArticle, draft: ArticleDraft) -> bool:
    return (
        article.title == draft.title
        and article.body == draft.body
        and article.url == draft.url
        and article.language == draft.language
        and list(article.tags or []) == list(draft.tags)
    )


def _index(session: Session, article: KnowledgeArticle) -> None:
    """Cut the article into passages and index their words (FTS5 rows on SQLite)."""
    heading = terms(article.title, " ".join(article.tags or []))
    rows = [
        KnowledgePassage(
            article_id=article.id,
            position=position,
            text=passage,
            terms=f"{heading} {terms(passage)}".strip(),
        )
        for position, passage in enumerate(passages(article.body) or [article.title])
    ]
    session.add_all(rows)
    session.flush()
    if _dialect(session) == "sqlite":
        session.execute(_FTS.insert(), [{"rowid": row.id, "terms": row.terms} for row in rows])


def _drop_passages(session: Session, article_ids: Iterable[int]) -> None:
    ids = list(article_ids)
    passage_ids = list(
        session.scalars(select(KnowledgePassage.id).where(KnowledgePassage.article_id.in_(ids)))
    )
    if _dialect(session) == "sqlite" and passage_ids:
        session.execute(_FTS.delete().where(_FTS.c.rowid.in_(passage_ids)))
    session.execute(delete(KnowledgePassage).where(KnowledgePassage.article_id.in_(ids)))


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


__all__ = [
    "ImportCounts",
    "KnowledgeSource",
    "add_article",
    "count_articles",
    "search",
    "sync_source",
]
