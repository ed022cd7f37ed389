"""Which passages a search ranks: the query's rarer words, so ranking stays within a budget.

Ranking costs time for every passage a query matches, and a word like "order" matches a large
share of a help centre. So before searching, each query word's passage count is looked up in
the database's own statistics, and the words are kept rarest first while their counts add up to
at most `MATCH_BUDGET` passages. Very common words say little about which article answers
(FTS5's bm25 already weighs them near zero; PostgreSQL's `ts_rank` has no such weight, so there
they used to drown the rare words), and leaving them out bounds the work. When even the rarest
word is over the budget, the passages holding every query word are ranked instead (a small
intersection). When that finds nothing, or the rare words are in no passage, the rarest word
not searched yet is searched alone (the one slow case left).

The counts are deployment-wide, as the indexes are (SQLite's FTS5 table holds every store's
passages, PostgreSQL's GIN index too): it is the number of index entries a word makes the
database read and filter by store, whatever store asks.

- SQLite: the `fts5vocab` table `knowledge_fts_vocab` gives each indexed word's passage count
  exactly; a prefix's count is the sum over the words it starts (an upper bound).
- PostgreSQL: ANALYZE's statistics of the stored `terms_vector` column (`pg_stats`: the most
  common words and the share of passages holding each, times the table's row estimate). Words
  not in the list are rarer than every one in it; before the first ANALYZE (autovacuum runs it
  after large imports) nothing is known and every word is kept, as before.

Words shorter than `PREFIX_FROM` letters ("m" for medium, "eu", "40") are matched whole: as
prefixes they matched every word starting with that letter.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import column
from sqlalchemy.sql.elements import ColumnClause

from app.db.knowledge import FTS_TABLE, FTS_VOCAB, TERMS_VECTOR, KnowledgePassage

CANDIDATES = 40
"""Passages ranked per search before keeping the best one per article."""
MATCH_BUDGET = 600
"""At most this many passages (by the statistics) are matched and ranked per search."""
COUNTED_FROM = 20
"""PostgreSQL: words in fewer passages than this are not kept from the statistics."""
STATS_SECONDS = 300.0
"""PostgreSQL: how long a process keeps the statistics it read."""
PREFIX_FROM = 3
"""Query words this long or longer match as prefixes; shorter ones match whole."""

_FTS = table(FTS_TABLE, column("rowid"), column("terms"))
_VOCAB = table(FTS_VOCAB, column("term"), column("doc"))
_SIMPLE: ColumnClause[Any] = literal_column("'simple'::regconfig")
_VECTOR: ColumnClause[Any] = literal_column(f"knowledge_passages.{TERMS_VECTOR}")
_LAST = "\U0010ffff"
"""Sorts after every character: `word <= term < word + _LAST` holds the terms `word` starts."""
_PG_COMMON = text(
    "SELECT s.word, s.share * c.reltuples "
    "FROM pg_stats AS st "
    "JOIN pg_class AS c ON c.oid = 'knowledge_passages'::regclass, "
    "unnest(st.most_common_elems::text::text[], st.most_common_elem_freqs) AS s(word, share) "
    "WHERE st.schemaname = current_schema() AND st.tablename = 'knowledge_passages' "
    "AND st.attname = :column AND s.share * c.reltuples >= :least"
)
_COMMON: dict[str, tuple[float, _Common]] = {}
"""Per database URL: until when, and the common words with their passage counts."""


@dataclass(frozen=True)
class Match:
    """The words a search matches, and whether a passage needs all of them or any."""

    words: tuple[str, ...]
    every: bool = False


def is_prefix(word: str) -> bool:
    """Whether a query word is matched as a prefix (see `PREFIX_FROM`)."""
    return len(word) >= PREFIX_FROM


def choose(wanted: Sequence[str], counts: Mapping[str, float]) -> Match:
    """The rarest words within `MATCH_BUDGET`, or every word when even the rarest is over it."""
    kept: list[str] = []
    total = 0.0
    for word in sorted(wanted, key=lambda w: counts.get(w, 0)):
        total += counts.get(word, 0)
        if total > MATCH_BUDGET:
            break
        kept.append(word)
    if not kept:
        return Match(tuple(wanted), every=len(wanted) > 1)
    return Match(tuple(w for w in wanted if w in kept))


def ranked(session: Session, wanted: Sequence[str]) -> list[tuple[int, int]]:
    """(passage id, article id) of the best-ranked passages, best first."""
    counts = passage_counts(session, wanted)
    match = choose(wanted, counts)
    found = _run(session, match)
    if not found:
        # Nothing had all the words, or the rare words are in no passage at all (a typo, a
        # word of no article): the rarest word not searched yet is the next best signal.
        left = [w for w in wanted if match.every or w not in match.words]
        if left:
            found = _run(session, Match((min(left, key=lambda w: counts.get(w, 0)),)))
    return found


def passage_counts(session: Session, wanted: Sequence[str]) -> dict[str, float]:
    """How many passages (deployment-wide) each query word matches, as far as it is known."""
    if session.get_bind().dialect.name == "sqlite":
        return _sqlite_counts(session, wanted)
    common = _pg_common(session)
    return {word: common.count(word) for word in wanted}


@dataclass(frozen=True)
class _Common:
    """Common words in order, with the running total of their passage counts."""

    words: list[str]
    totals: list[float]

    def count(self, word: str) -> float:
        start = bisect.bisect_left(self.words, word)
        end = bisect.bisect_left(self.words, word + _LAST) if is_prefix(word) else start
        if not is_prefix(word) and start < len(self.words) and self.words[start] == word:
            end = start + 1
        return self.totals[end] - self.totals[start]


def _pg_common(session: Session) -> _Common:
    """The common words of ANALYZE's statistics, read at most once per `STATS_SECONDS`.

    Reading `pg_stats` takes a few milliseconds (the view checks privileges and the list is
    stored as one array), as long as the search it would save, so each process keeps the list
    for a while: statistics change only when ANALYZE runs again anyway.
    """
    key = str(session.get_bind().engine.url)
    kept = _COMMON.get(key)
    now = time.monotonic()
    if kept is not None and kept[0] > now:
        return kept[1]
    rows = session.execute(_PG_COMMON, {"column": TERMS_VECTOR, "least": COUNTED_FROM}).all()
    # The frequency list is longer than the word list (it ends with three summary figures).
    pairs = sorted((str(word), float(n)) for word, n in rows if word is not None)
    common = _Common([w for w, _ in pairs], [0.0, *itertools.accumulate(n for _, n in pairs)])
    _COMMON[key] = (now + STATS_SECONDS, common)
    return common


def forget_statistics() -> None:
    """Read PostgreSQL's statistics afresh on the next search (after an ANALYZE, in tests)."""
    _COMMON.clear()


def _sqlite_counts(session: Session, wanted: Sequence[str]) -> dict[str, float]:
    # One SELECT per word, so that each reads the vocabulary's term range rather than all of it.
    parts = [
        select(literal(n), func.coalesce(func.sum(_VOCAB.c.doc), 0)).where(
            and_(_VOCAB.c.term >= word, _VOCAB.c.term < word + _LAST)
            if is_prefix(word)
            else _VOCAB.c.term == word
        )
        for n, word in enumerate(wanted)
    ]
    rows = session.execute(union_all(*parts)).all()
    return {wanted[int(n)]: float(count) for n, count in rows}


def _run(session: Session, match: Match) -> list[tuple[int, int]]:
    passage = select(KnowledgePassage.id, KnowledgePassage.article_id)
    if session.get_bind().dialect.name == "sqlite":
        joiner = " AND " if match.every else " OR "
        expression = joiner.join(f'"{w}"*' if is_prefix(w) else f'"{w}"' for w in match.words)
        statement = (
            passage.join(_FTS, _FTS.c.rowid == KnowledgePassage.id)
            .where(text(f"{FTS_TABLE} MATCH :match").bindparams(match=expression))
            .order_by(text(f"bm25({FTS_TABLE})"), KnowledgePassage.id)
        )
    else:
        joiner = " & " if match.every else " | "
        words = joiner.join(f"{w}:*" if is_prefix(w) else w for w in match.words)
        tsquery = func.to_tsquery(_SIMPLE, bindparam("words", words))
        statement = passage.where(_VECTOR.op("@@")(tsquery)).order_by(
            func.ts_rank(_VECTOR, tsquery, 1).desc(), KnowledgePassage.id
        )
    return [(row[0], row[1]) for row in session.execute(statement.limit(CANDIDATES))]
