"""Help articles in the admin: staff write, edit and delete articles by page and API, and what
the assistant's `search_help` finds follows at once; imported articles stay read-only."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.admin.auth import CSRF_HEADER
from app.config import Settings
from app.db.engine import Database
from app.db.knowledge import KnowledgeArticle
from app.db.models import AuditEntry
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import KnowledgeSource, TokenScope
from app.db.stores import DEFAULT_STORE_ID, Store
from app.providers import Providers
from app.store.knowledge import StoreKnowledge
from app.store.knowledge.articles import ArticleDraft, SourceRead
from app.store.knowledge.imports import store_read
from app.store.knowledge.library import add_article
from app.tools.help import MAX_PASSAGES
from tests.admin.test_macros import api_token
from tests.admin.test_pages import Desk, log_in
from tests.conftest import SettingsFactory

SITE = "https://shop.example"
GIFT = {
    "title": "Gift wrapping",
    "body": "We wrap every parcel in recycled paper with a handwritten card.\n\n"
    "Choose gift wrapping at checkout; it costs nothing.",
    "language": "en",
    "url": f"{SITE}/pages/gift-wrapping",
    "tags": ["gifts", "Packaging"],
}


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # The default store's site: an article's URL must be on one of its hosts.
    return make_settings(STORE_URL=SITE)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


async def found(db: Database, query: str, store_id: int = DEFAULT_STORE_ID) -> list[str]:
    """The titles the `search_help` tool's library gives for `query`, best first."""
    passages = await StoreKnowledge(db.for_store(store_id)).search_help(query, limit=MAX_PASSAGES)
    return [p.title for p in passages]


async def passages(db: Database, query: str) -> list[str]:
    hits = await StoreKnowledge(db.for_store(DEFAULT_STORE_ID)).search_help(query, limit=3)
    return [p.text for p in hits]


def draft(title: str, body: str, *, source: KnowledgeSource, key: str) -> ArticleDraft:
    return ArticleDraft(
        source=source,
        source_key=key,
        title=title,
        body=body,
        language="en",
        updated_at=datetime(2026, 1, 5, tzinfo=UTC),
    )


async def imported(db: Database, store_id: int = DEFAULT_STORE_ID) -> int:
    """A Markdown article imported as `knowledge import` does; its id."""
    read = SourceRead(
        source=KnowledgeSource.MARKDOWN,
        articles=[
            draft(
                "Sizing",
                "Our shoes run small: order one size up.",
                source=KnowledgeSource.MARKDOWN,
                key="sizing.md",
            )
        ],
    )
    await store_read(db.for_store(store_id), read)
    return (await ids(db, store_id))["Sizing"]


async def staff_article(db: Database, title: str, body: str, *, store_id: int, key: str) -> int:
    """A staff article added by the library as promoting a reply does; its id."""
    the_draft = draft(title, body, source=KnowledgeSource.STAFF, key=key)
    return await db.unit(lambda s: add_article(s, the_draft), StoreScope.of(store_id))


async def ids(db: Database, store_id: int = DEFAULT_STORE_ID) -> dict[str, int]:
    async with db.read(StoreScope.of(store_id)) as session:
        rows = await session.execute(select(KnowledgeArticle.title, KnowledgeArticle.id))
        return {str(row[0]): int(row[1]) for row in rows.all()}


async def audited(db: Database) -> list[tuple[str, int | None]]:
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.target_id)
            .where(AuditEntry.target_type == "knowledge_article")
            .order_by(AuditEntry.id)
        )
        return [(action, target) for action, target in rows.all()]


async def other_store(db: Database) -> int:
    async with db.write(ALL_STORES) as session:
        store = Store(
            slug="beta",
            name="Beta",
            shop_domain="beta.myshopify.com",
            support_email="support@beta.test",
            support_addresses=["support@beta.test"],
        )
        session.add(store)
        await session.flush()
        return store.id


# --- the JSON API -------------------------------------------------------------------------------


async def test_an_article_written_through_the_api_is_found_edited_and_deleted(
    desk: Desk,
) -> None:
    headers = await api_token(desk.db)
    assert await found(desk.db, "gift wrapping") == []

    created = await desk.http.post("/admin/api/knowledge", json=GIFT, headers=headers)

    assert created.status_code == 200, created.text
    article = created.json()
    assert article["source"] == "staff"
    assert article["tags"] == ["gifts", "packaging"]
    assert article["url"] == GIFT["url"]
    assert await found(desk.db, "can you gift wrap my order") == ["Gift wrapping"]
    searched = await desk.http.get(
        "/admin/api/knowledge/search", params={"q": "gift wrap"}, headers=headers
    )
    assert searched.status_code == 200
    assert [p["title"] for p in searched.json()["passages"]] == ["Gift wrapping"]
    assert searched.json()["passages"][0]["url"] == GIFT["url"]

    changed = {**GIFT, "title": "Engraving", "body": "We engrave a name on any watch strap."}
    put = await desk.http.put(
        f"/admin/api/knowledge/{article['id']}", json=changed, headers=headers
    )

    assert put.status_code == 200, put.text
    assert put.json()["id"] == article["id"]
    assert await found(desk.db, "engrave watch strap") == ["Engraving"]
    assert await passages(desk.db, "recycled paper handwritten card") == []

    deleted = await desk.http.delete(f"/admin/api/knowledge/{article['id']}", headers=headers)

    assert deleted.status_code == 200
    assert deleted.json()["title"] == "Engraving"
    assert await found(desk.db, "engrave watch strap") == []
    listed = await desk.http.get("/admin/api/knowledge", headers=headers)
    assert listed.json() == []
    assert await audited(desk.db) == [
        ("create_article", article["id"]),
        ("edit_article", article["id"]),
        ("delete_article", article["id"]),
    ]


async def test_editing_one_staff_article_leaves_the_others_as_they_were(desk: Desk) -> None:
    headers = await api_token(desk.db)
    promoted = await staff_article(
        desk.db,
        "Warranty",
        "Two years of warranty on every pair.",
        store_id=DEFAULT_STORE_ID,
        key="reply:7",
    )
    created = await desk.http.post("/admin/api/knowledge", json=GIFT, headers=headers)
    article = created.json()
    other = (
        await desk.http.post(
            "/admin/api/knowledge",
            json={**GIFT, "title": "Care", "body": "Wash by hand."},
            headers=headers,
        )
    ).json()

    await desk.http.put(
        f"/admin/api/knowledge/{article['id']}", json={**GIFT, "body": "Paper."}, headers=headers
    )
    await desk.http.delete(f"/admin/api/knowledge/{article['id']}", headers=headers)

    assert await ids(desk.db) == {"Warranty": promoted, "Care": other["id"]}
    assert await found(desk.db, "warranty") == ["Warranty"]
    assert await found(desk.db, "wash by hand") == ["Care"]
    listed = (await desk.http.get("/admin/api/knowledge", headers=headers)).json()
    assert {a["source_key"] for a in listed} >= {"reply:7"}


async def test_an_imported_article_is_refused_409_and_stays_found(desk: Desk) -> None:
    headers = await api_token(desk.db)
    sizing = await imported(desk.db)

    put = await desk.http.put(f"/admin/api/knowledge/{sizing}", json=GIFT, headers=headers)
    deleted = await desk.http.delete(f"/admin/api/knowledge/{sizing}", headers=headers)

    assert put.status_code == 409
    assert "imported" in put.json()["detail"]
    assert deleted.status_code == 409
    assert await found(desk.db, "shoes run small") == ["Sizing"]
    assert await audited(desk.db) == []


async def test_an_unknown_id_is_a_404_before_the_body_is_read(desk: Desk) -> None:
    headers = await api_token(desk.db)

    put = await desk.http.put("/admin/api/knowledge/4242", json={"nonsense": 1}, headers=headers)
    deleted = await desk.http.delete("/admin/api/knowledge/4242", headers=headers)

    assert put.status_code == 404
    assert deleted.status_code == 404


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"url": "http://shop.example/pages/gift"}, "https"),
        ({"url": "https://evil.example/pages/gift"}, "shop.example"),
        ({"language": "xx"}, "language"),
        ({"title": "  "}, "title"),
        ({"body": "\n\n"}, "empty"),
    ],
)
async def test_a_refused_article_says_why_and_is_not_stored(
    desk: Desk, change: dict[str, str], problem: str
) -> None:
    headers = await api_token(desk.db)

    response = await desk.http.post(
        "/admin/api/knowledge", json={**GIFT, **change}, headers=headers
    )

    assert response.status_code == 422
    assert problem in response.text
    assert await ids(desk.db) == {}


async def test_without_credentials_it_is_401_and_a_read_token_only_reads(
    desk: Desk, app: FastAPI
) -> None:
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    async with anonymous:
        assert (await anonymous.get("/admin/api/knowledge")).status_code == 401
        assert (await anonymous.post("/admin/api/knowledge", json=GIFT)).status_code == 401
        assert (await anonymous.get("/admin/knowledge")).status_code in {303, 401}
    reader = await api_token(desk.db, TokenScope.READ)

    assert (await desk.http.get("/admin/api/knowledge", headers=reader)).status_code == 200
    refused = await desk.http.post("/admin/api/knowledge", json=GIFT, headers=reader)
    assert refused.status_code == 403
    assert await ids(desk.db) == {}


async def test_a_session_must_send_the_csrf_header_to_write(desk: Desk) -> None:
    refused = await desk.http.post("/admin/api/knowledge", json=GIFT)
    sent = await desk.http.post("/admin/api/knowledge", json=GIFT, headers={CSRF_HEADER: desk.csrf})

    assert refused.status_code == 403
    assert sent.status_code == 200


async def test_another_stores_articles_are_neither_listed_found_nor_changed(desk: Desk) -> None:
    headers = await api_token(desk.db)
    beta = await other_store(desk.db)
    theirs = await staff_article(
        desk.db, "Beta returns", "Beta takes returns for ninety days.", store_id=beta, key="staff:b"
    )

    listed = await desk.http.get("/admin/api/knowledge", headers=headers)
    searched = await desk.http.get(
        "/admin/api/knowledge/search", params={"q": "returns ninety days"}, headers=headers
    )
    put = await desk.http.put(f"/admin/api/knowledge/{theirs}", json=GIFT, headers=headers)
    deleted = await desk.http.delete(f"/admin/api/knowledge/{theirs}", headers=headers)
    created = await desk.http.post("/admin/api/knowledge", json=GIFT, headers=headers)

    assert listed.json() == []
    assert searched.json()["passages"] == []
    assert put.status_code == 404
    assert deleted.status_code == 404
    assert created.status_code == 200
    assert await found(desk.db, "returns ninety days", store_id=beta) == ["Beta returns"]
    assert await found(desk.db, "gift wrapping", store_id=beta) == []
    assert await ids(desk.db, beta) == {"Beta returns": theirs}


# --- the page -----------------------------------------------------------------------------------


def page_form(desk: Desk, **values: str) -> dict[str, str]:
    form = {
        "csrf_token": desk.csrf,
        "title": str(GIFT["title"]),
        "body": str(GIFT["body"]),
        "language": "en",
        "url": str(GIFT["url"]),
        "tags": "gifts, packaging",
    }
    return {**form, **values}


async def test_the_page_writes_edits_and_deletes_an_article_the_search_then_finds(
    desk: Desk,
) -> None:
    created = await desk.http.post("/admin/knowledge", data=page_form(desk))

    assert created.status_code == 303
    assert created.headers["location"] == "/admin/knowledge?done=created"
    pk = (await ids(desk.db))["Gift wrapping"]
    page = await desk.http.get("/admin/knowledge", params={"q": "gift wrap"})
    assert page.status_code == 200
    assert '<a href="/admin/knowledge" class="current">Help articles</a>' in page.text
    assert f'data-article-id="{pk}"' in page.text
    assert "recycled paper" in page.text  # The passage the search found.
    assert await found(desk.db, "gift wrap") == ["Gift wrapping"]

    edit = await desk.http.get("/admin/knowledge", params={"edit": pk})
    assert f'data-editing="{pk}"' in edit.text
    saved = await desk.http.post(
        f"/admin/knowledge/{pk}", data=page_form(desk, title="Engraving", body="We engrave straps.")
    )
    assert saved.status_code == 303
    assert await found(desk.db, "engrave straps") == ["Engraving"]
    assert await found(desk.db, "recycled paper") == []

    deleted = await desk.http.post(f"/admin/knowledge/{pk}/delete", data={"csrf_token": desk.csrf})
    assert deleted.status_code == 303
    assert await found(desk.db, "engrave straps") == []
    assert [action for action, _ in await audited(desk.db)] == [
        "create_article",
        "edit_article",
        "delete_article",
    ]


async def test_a_page_post_without_the_csrf_field_is_refused(desk: Desk) -> None:
    form = page_form(desk)
    del form["csrf_token"]

    response = await desk.http.post("/admin/knowledge", data=form)

    assert response.status_code == 403
    assert await ids(desk.db) == {}


async def test_a_refused_page_post_keeps_the_staff_text_and_says_why(desk: Desk) -> None:
    response = await desk.http.post(
        "/admin/knowledge",
        data=page_form(desk, url="https://elsewhere.example/x", body="My careful words."),
    )

    assert response.status_code == 422
    assert "not on the store" in response.text
    assert "My careful words." in response.text
    assert await ids(desk.db) == {}


async def test_the_page_shows_imported_articles_read_only(desk: Desk) -> None:
    sizing = await imported(desk.db)
    promoted = await staff_article(
        desk.db, "Warranty", "Two years.", store_id=DEFAULT_STORE_ID, key="reply:3"
    )

    page = await desk.http.get("/admin/knowledge")
    edit = await desk.http.get("/admin/knowledge", params={"edit": sizing})
    post = await desk.http.post(f"/admin/knowledge/{sizing}", data=page_form(desk))

    assert "read-only (imported)" in page.text
    assert f'href="/admin/knowledge?edit={sizing}"' not in page.text
    assert f'href="/admin/knowledge?edit={promoted}"' in page.text
    assert "promoted reply" in page.text
    assert edit.status_code == 409
    assert post.status_code == 409
    assert await found(desk.db, "shoes run small") == ["Sizing"]
