"""An article as a source gives it, before it is stored: what every importer produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.db.statuses import KnowledgeSource


@dataclass(frozen=True, kw_only=True)
class ArticleDraft:
    """One article read from a source; `source_key` names it within that source."""

    source: KnowledgeSource
    source_key: str
    title: str
    body: str
    url: str | None = None
    language: str = ""
    tags: tuple[str, ...] = ()
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class SourceRead:
    """What one source gave: its articles, and the ones it could not read (with why)."""

    source: KnowledgeSource
    articles: list[ArticleDraft] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    """Source key → what is wrong with it. Their stored articles are kept as they were."""
