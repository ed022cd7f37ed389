"""The store's help articles in the admin: their requests, responses and changes.

Staff write articles here (source `staff`, like the replies they promote); imported ones
(Markdown, Shopify pages and blog articles) are only listed, since their next import would undo
an edit made here. Writing goes through the knowledge library's own functions, so an article's
passages are indexed exactly as an import indexes them: `add_article` for a new one, and
`sync_source` over the store's whole `staff` source for an edit or a deletion (the source as it
is, with that one article changed or left out: the others compare unchanged and are untouched).

On PostgreSQL that unit of work reads at REPEATABLE READ, so the staff articles it lists and
the ones `sync_source` compares them with are the same snapshot: an article promoted by someone
else meanwhile is invisible to both, never taken for one the source "no longer has".

Every change is audited in the same transaction as the change itself.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, RootModel
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.admin.review import Blocked, Conflict, NotFound
from app.admin.schemas import FromRow, Schema, Timestamp
from app.admin.staff import Staff, audit
from app.db.engine import Database
from app.db.knowledge import KnowledgeArticle
from app.db.statuses import KnowledgeSource
from app.replies.catalogs import languages
from app.store.directory import StoreConfig
from app.store.knowledge import StoreKnowledge
from app.store.knowledge.articles import ArticleDraft, SourceRead
from app.store.knowledge.library import add_article, sync_source
from app.tools.help import MAX_PASSAGES

MAX_BODY_CHARS = 20_000
MAX_TAGS = 20
STAFF_KEY_PREFIX = "staff:"
"""Source keys of articles written here (promoted replies are `reply:<id>`)."""
CHANGED_MEANWHILE = "the article changed meanwhile: load it again and retry"
IMPORTED = "imported from its source: change it there (the next import would undo an edit here)"


def _title(value: str) -> str:
    title = " ".join(value.split())
    if not title:
        raise ValueError("the article needs a title")
    return title


def _body(value: str) -> str:
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValueError("the article's text is empty")
    return text


def _language(value: str) -> str:
    tag = value.strip()
    if tag not in languages():
        raise ValueError(f"unknown language {tag!r}: use one of {', '.join(sorted(languages()))}")
    return tag


def _tags(values: list[str]) -> list[str]:
    tags: list[str] = []
    for value in values:
        tag = " ".join(value.split()).lower()
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def _url(value: str | None) -> str | None:
    url = (value or "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the URL must be an https:// address")
    return url


Title = Annotated[str, Field(max_length=300), AfterValidator(_title)]
Body = Annotated[
    str,
    Field(
        max_length=MAX_BODY_CHARS, description="Markdown or plain text; paragraphs are passages."
    ),
    AfterValidator(_body),
]
Language = Annotated[
    str,
    Field(max_length=35, description='A catalog language ("en", "fa"...).'),
    AfterValidator(_language),
]
Tags = Annotated[
    list[Annotated[str, Field(max_length=40)]],
    Field(default_factory=list, description="Words searched with the article's own."),
    AfterValidator(_tags),
]
Url = Annotated[
    str | None,
    Field(
        default=None,
        max_length=2000,
        description="Where the article is published: https, on one of the store's hosts.",
    ),
    AfterValidator(_url),
]


class ArticleInput(Schema):
    """A whole staff article, as written or replaced."""

    title: Title
    body: Body
    language: Language
    url: Url = None
    tags: Tags


class ArticleView(FromRow):
    """One help article of the store."""

    id: int
    title: str
    body: str
    url: str | None
    language: str
    tags: list[str]
    source: KnowledgeSource
    """`staff` (written here or promoted from a reply), or the source it is imported from."""
    source_key: str
    updated_at: Timestamp
    imported_at: Timestamp
    """When it was last stored."""

    @property
    def editable(self) -> bool:
        """Whether staff change it here (imported ones are changed at their source)."""
        return self.source is KnowledgeSource.STAFF

    @property
    def promoted(self) -> bool:
        """Whether it was a sent reply staff promoted."""
        return self.source_key.startswith("reply:")


class ArticleList(RootModel[list[ArticleView]]):
    """The store's help articles, the most recently changed first."""


class PassageView(Schema):
    """A passage the assistant's `search_help` would be given, with its article."""

    title: str
    passage: str
    url: str | None
    language: str


class SearchView(Schema):
    """What `search_help` finds for a query, best first (at most one passage per article)."""

    query: str
    passages: list[PassageView]


def check_url_host(url: str | None, store: StoreConfig) -> None:
    """Refuse a link off the store's own hosts: a reply quoting the article links to it."""
    if url is None:
        return
    host = (urlsplit(url).hostname or "").lower()
    if not store.store_hosts:
        raise Blocked("set the store's URL before linking articles", problems=[f"url: {url}"])
    if host not in store.store_hosts:
        hosts = ", ".join(sorted(store.store_hosts))
        raise Blocked("the URL is not on the store's site", problems=[f"url: use one of {hosts}"])


async def list_articles(db: Database) -> list[ArticleView]:
    """Every article of the store, the most recently changed first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(KnowledgeArticle).order_by(
                KnowledgeArticle.updated_at.desc(), KnowledgeArticle.id.desc()
            )
        )
        return [ArticleView.model_validate(row) for row in rows]


async def get_article(db: Database, article_pk: int) -> ArticleView:
    """One article of the store."""
    async with db.read() as session:
        row = await session.get(KnowledgeArticle, article_pk)
        if row is None:
            raise NotFound(f"no article {article_pk}")
        return ArticleView.model_validate(row)


async def search_articles(db: Database, query: str) -> SearchView:
    """What the `search_help` tool finds for `query` (the same search, the same limit)."""
    found = await StoreKnowledge(db).search_help(query, limit=MAX_PASSAGES)
    return SearchView(
        query=query,
        passages=[
            PassageView(title=p.title, passage=p.text, url=p.url, language=p.language)
            for p in found
        ],
    )


def _draft(new: ArticleInput, key: str) -> ArticleDraft:
    return ArticleDraft(
        source=KnowledgeSource.STAFF,
        source_key=key,
        title=new.title,
        body=new.body,
        url=new.url,
        language=new.language,
        tags=tuple(new.tags),
        updated_at=datetime.now(UTC),
    )


def _as_draft(row: KnowledgeArticle) -> ArticleDraft:
    return ArticleDraft(
        source=row.source,
        source_key=row.source_key,
        title=row.title,
        body=row.body,
        url=row.url,
        language=row.language,
        tags=tuple(str(tag) for tag in row.tags or []),
        updated_at=row.updated_at,
    )


def _resync(session: Session, article_pk: int, replacement: ArticleDraft | None) -> None:
    """The staff source as stored, with one article replaced (or, for None, left out)."""
    row = session.get(KnowledgeArticle, article_pk)
    if row is None:
        raise NotFound(f"no article {article_pk}")
    if row.source is not KnowledgeSource.STAFF:
        raise Conflict(f"article {article_pk} is {IMPORTED}")
    stored = session.scalars(
        select(KnowledgeArticle).where(KnowledgeArticle.source == KnowledgeSource.STAFF)
    )
    drafts = [_as_draft(other) for other in stored if other.id != article_pk]
    if replacement is not None:
        drafts.append(replacement)
    sync_source(session, SourceRead(source=KnowledgeSource.STAFF, articles=drafts))


async def _snapshot(db: Database, session: AsyncSession) -> None:
    """Read the whole unit of work at one snapshot on PostgreSQL (see the module)."""
    if db.dialect == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _audit_detail(new: ArticleInput) -> dict[str, object]:
    return {"title": new.title, "language": new.language, "url": new.url}


async def create_article(
    db: Database, staff: Staff, store: StoreConfig, new: ArticleInput
) -> ArticleView:
    """Write a new staff article, indexed at once for `search_help`."""
    check_url_host(new.url, store)
    draft = _draft(new, f"{STAFF_KEY_PREFIX}{uuid.uuid4().hex}")
    async with db.write() as session:
        article_pk = await session.run_sync(lambda s: add_article(s, draft))
        audit(
            session,
            staff,
            "create_article",
            target_type="knowledge_article",
            target_id=article_pk,
            detail=_audit_detail(new),
        )
    return await get_article(db, article_pk)


async def change_article(
    db: Database, staff: Staff, store: StoreConfig, article_pk: int, new: ArticleInput
) -> ArticleView:
    """Replace a staff article's title, text, URL, language and tags; re-indexed at once."""
    check_url_host(new.url, store)
    try:
        async with db.write() as session:
            await _snapshot(db, session)
            key = await session.scalar(
                select(KnowledgeArticle.source_key).where(KnowledgeArticle.id == article_pk)
            )
            draft = _draft(new, key or "")
            await session.run_sync(lambda s: _resync(s, article_pk, draft))
            audit(
                session,
                staff,
                "edit_article",
                target_type="knowledge_article",
                target_id=article_pk,
                detail=_audit_detail(new),
            )
    except DBAPIError as exc:
        if _serialization_failure(exc):
            raise Conflict(CHANGED_MEANWHILE) from exc
        raise
    return await get_article(db, article_pk)


async def delete_article(db: Database, staff: Staff, article_pk: int) -> ArticleView:
    """Delete a staff article and its passages; returns it as it was."""
    gone = await get_article(db, article_pk)
    try:
        async with db.write() as session:
            await _snapshot(db, session)
            await session.run_sync(lambda s: _resync(s, article_pk, None))
            audit(
                session,
                staff,
                "delete_article",
                target_type="knowledge_article",
                target_id=article_pk,
                detail={"title": gone.title, "source_key": gone.source_key},
            )
    except DBAPIError as exc:
        if _serialization_failure(exc):
            raise Conflict(CHANGED_MEANWHILE) from exc
        raise
    return gone


def _serialization_failure(exc: DBAPIError) -> bool:
    """Whether PostgreSQL refused the snapshot because someone changed the article meanwhile."""
    return "could not serialize" in str(exc.orig)
