"""Examples from staff-approved replies, on the database under test (SQLite or PostgreSQL).

Emails go through the real webhook and worker (demo store; the offline model, or OpenAI faked
at the HTTP boundary); staff approve through the API, and the send job keeps the example.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from app.admin.auth import CSRF_FIELD
from app.admin.staff import Staff, create_api_token, create_staff, start_session
from app.config import Settings
from app.db.engine import Database
from app.db.examples import ExampleMark, ReplyExample
from app.db.knowledge import KnowledgeArticle
from app.db.models import Reply, StaffUser
from app.db.scope import ALL_STORES
from app.db.statuses import TokenScope
from app.jobs.worker import Worker
from app.providers import Providers
from app.store.examples import find_examples
from app.store.examples.scrub import carries_no
from tests.agent.test_llm import RESPONSES
from tests.builders import IN_DEFAULT_STORE, make_eml
from tests.fakes import post_email
from tests.test_agent_limits import Service, confident_plan, make_service

__all__ = ["make_service"]  # The fixture, used by the leak test.

STAFF = "ida@shop.test"
# Customer A: a demo customer with order #1001 (shipping to Gärtnerstraße 12, 20253 Hamburg).
CUSTOMER_A = make_eml(
    sender="Sara Ahmadi <sara.ahmadi@example.com>",
    subject="Where is my order #1001?",
    body=(
        "Hi, where is my order #1001? It should go to Gärtnerstraße 12, 20253 Hamburg.\n"
        "You can call me on +49 151 2345 6789.\n\nThanks,\nSara\n"
    ),
    message_id="<status-1001@example.com>",
)
A_DATA = [
    "Sara",
    "Ahmadi",
    "sara.ahmadi",
    "1001",
    "Gärtnerstraße",
    "20253",
    "Hamburg",
    "2345 6789",
    "6150000001001",
    "3e7d0e089a7b",
]
# Customer B: another demo customer, order #1002 (Oliver Smith, 27 Mill Lane).
CUSTOMER_B = make_eml(
    sender="Oliver Smith <oliver.smith@example.org>",
    subject="Where is my order #1002?",
    body="Hello, where is my order #1002? It has not arrived yet.\n\nOliver\n",
    message_id="<status-1002@example.org>",
)


async def work(db: Database, settings: Settings, providers: Providers) -> None:
    await Worker(db=db, settings=settings, providers=providers).drain()


@pytest.fixture
async def staff_api(client: httpx.AsyncClient, db: Database) -> httpx.AsyncClient:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password="long password 123", name="Ida")
        token = await create_api_token(session, email=STAFF, name="tests")
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def latest_reply(db: Database, message_pk: int) -> Reply:
    async with db.read(ALL_STORES) as session:
        reply = await session.scalar(
            select(Reply).where(Reply.message_id == message_pk).order_by(Reply.id.desc())
        )
    assert reply is not None
    return reply


async def examples(db: Database) -> list[ReplyExample]:
    async with db.read(ALL_STORES) as session:
        return list((await session.execute(select(ReplyExample))).scalars())


async def approved(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers, eml: bytes
) -> Reply:
    """Post the email, let the worker draft it, approve the draft, let the worker send it."""
    domain = eml.split(b"@", 1)[1].split(b">", 1)[0].decode()
    pk = await post_email(api, eml, domain)
    await work(db, settings, providers)
    draft = await latest_reply(db, pk)
    assert draft.status == "draft", draft.status
    response = await api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert response.status_code == 200, response.text
    await work(db, settings, providers)
    return await latest_reply(db, pk)


@pytest.fixture
def drafting(make_settings: Callable[..., Settings]) -> Settings:
    # Every reply is a draft, so staff approve it.
    return make_settings(AUTO_SEND_INTENTS="")


async def test_an_approved_reply_is_kept_as_an_example_without_the_customers_data(
    staff_api: httpx.AsyncClient, db: Database, drafting: Settings, providers: Providers
) -> None:
    reply = await approved(staff_api, db, drafting, providers, CUSTOMER_A)

    [example] = await examples(db)
    assert reply.status == "sent"
    assert (example.reply_id, example.intent, example.language, example.mark) == (
        reply.id,
        "order_status",
        "en",
        ExampleMark.AUTO,
    )
    assert "Sara" in (reply.text_body or "") or "1001" in (reply.text_body or "")
    assert carries_no(A_DATA, example.customer_text), example.customer_text
    assert carries_no(A_DATA, example.reply_text), example.reply_text
    assert "[order]" in example.customer_text
    assert "[phone]" in example.customer_text
    assert "order" in example.terms.split()


async def test_a_draft_nobody_approved_is_no_example(
    staff_api: httpx.AsyncClient, db: Database, drafting: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, CUSTOMER_A, "example.com")
    await work(db, drafting, providers)
    draft = await latest_reply(db, pk)

    refused = await staff_api.post(f"/admin/api/replies/{draft.id}/example", json={"mark": "use"})

    assert refused.status_code == 409
    assert await examples(db) == []


async def test_similar_picks_the_same_intent_and_language_and_never_is_left_out(
    staff_api: httpx.AsyncClient, db: Database, drafting: Settings, providers: Providers
) -> None:
    status = await approved(staff_api, db, drafting, providers, CUSTOMER_A)
    returns = await approved(
        staff_api,
        db,
        drafting,
        providers,
        make_eml(
            sender="Lena Fischer <lena@example.de>",
            subject="Return for order #1007",
            body="Hello, the shoes from order #1007 are too small. Can I return them?\n",
            message_id="<return-1007@example.de>",
        ),
    )
    store = db.for_store(1)
    query = "Where is my order? It has not arrived"

    found = await find_examples(store, query=query, intent="order_status", language="en")
    other_language = await find_examples(store, query=query, intent="order_status", language="fa")
    kept = {e.reply_id: e for e in await examples(db)}
    assert set(kept) == {status.id, returns.id}
    assert [e.customer_text for e in found] == [kept[status.id].customer_text]
    assert other_language == ()

    never = await staff_api.post(f"/admin/api/replies/{status.id}/example", json={"mark": "never"})
    assert never.status_code == 200
    assert never.json()["mark"] == "never"
    assert await find_examples(store, query=query, intent="order_status", language="en") == ()


async def test_a_use_mark_comes_before_a_closer_auto_example(
    staff_api: httpx.AsyncClient, db: Database, drafting: Settings, providers: Providers
) -> None:
    close = await approved(staff_api, db, drafting, providers, CUSTOMER_A)
    far = await approved(
        staff_api,
        db,
        drafting,
        providers,
        make_eml(
            sender="Oliver Smith <oliver.smith@example.org>",
            subject="Order status",
            body="Any news on my order? Thank you.\n",
            message_id="<news-1002@example.org>",
        ),
    )
    store = db.for_store(1)
    query = "Where is my order? It should go to my flat in Hamburg"
    before = await find_examples(store, query=query, intent="order_status", language="en", limit=1)
    await staff_api.post(f"/admin/api/replies/{far.id}/example", json={"mark": "use"})
    after = await find_examples(store, query=query, intent="order_status", language="en", limit=1)

    kept = {e.reply_id: e.customer_text for e in await examples(db)}
    assert [e.customer_text for e in before] == [kept[close.id]]
    assert [e.customer_text for e in after] == [kept[far.id]]


async def test_another_customers_data_never_reaches_the_openai_request(
    staff_api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    drafting: Settings,
    providers: Providers,
    make_service: Callable[..., Service],
) -> None:
    await approved(staff_api, db, drafting, providers, CUSTOMER_A)
    service = make_service(RESPONSES, AUTO_SEND_INTENTS="")
    service.script.append(service.turn(("call_plan", "submit_reply_plan", confident_plan([]))))

    await post_email(client, CUSTOMER_B, "example.org")
    await work(db, service.settings, service.providers)

    [body] = service.bodies
    # The messages themselves: the tool schemas' own descriptions use "#1001" as a format.
    sent = json.dumps([body["instructions"], body["input"]], ensure_ascii=False)
    assert "<<<EXAMPLES" in sent  # A's example was given to the model...
    assert "[order]" in sent
    assert carries_no(A_DATA, sent), [v for v in A_DATA if v.lower() in sent.lower()]
    assert "Oliver" in sent
    assert "1002" in sent


async def test_promoting_a_reply_makes_a_staff_article_without_customer_data(
    staff_api: httpx.AsyncClient, db: Database, drafting: Settings, providers: Providers
) -> None:
    reply = await approved(staff_api, db, drafting, providers, CUSTOMER_A)

    response = await staff_api.post(
        f"/admin/api/replies/{reply.id}/promote",
        json={"title": "Where is my parcel?", "language": "en"},
    )
    again = await staff_api.post(
        f"/admin/api/replies/{reply.id}/promote", json={"title": "Again", "language": "en"}
    )

    assert response.status_code == 200, response.text
    assert again.status_code == 409
    async with db.read(ALL_STORES) as session:
        article = await session.get(KnowledgeArticle, response.json()["article_id"])
    assert article is not None
    assert (article.source, article.source_key, article.language) == (
        "staff",
        f"reply:{reply.id}",
        "en",
    )
    assert article.body.strip()
    assert carries_no(A_DATA, article.body), article.body
    assert "[" not in article.body, article.body


async def test_the_routes_need_a_login_a_review_token_and_the_csrf_field(
    staff_api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    db: Database,
    drafting: Settings,
    providers: Providers,
    settings: Settings,
) -> None:
    reply = await approved(staff_api, db, drafting, providers, CUSTOMER_A)
    path = f"/admin/api/replies/{reply.id}/example"
    async with db.write(IN_DEFAULT_STORE) as session:
        reader = await create_api_token(session, email=STAFF, scope=TokenScope.READ)
        staff_user = await session.scalar(select(StaffUser).where(StaffUser.email == STAFF))
        assert staff_user is not None
        cookie, csrf = await start_session(
            session, Staff(id=staff_user.id, email=STAFF, name="Ida"), hours=1
        )
    transport = httpx.ASGITransport(app=client._transport.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        nobody = await anonymous.post(path, json={"mark": "use"})
        read_only = await anonymous.post(
            path, json={"mark": "use"}, headers={"Authorization": f"Bearer {reader}"}
        )
        anonymous.cookies.set("support_admin_session", cookie)
        page = f"/admin/replies/{reply.id}/example"
        without_csrf = await anonymous.post(page, data={"mark": "use"})
        with_csrf = await anonymous.post(page, data={"mark": "use", CSRF_FIELD: csrf})
        missing = await anonymous.post(
            "/admin/replies/123456/example", data={"mark": "use", CSRF_FIELD: csrf}
        )
        promoted = await anonymous.post(
            f"/admin/replies/{reply.id}/promote",
            data={"title": "Parcels", "language": "en", CSRF_FIELD: csrf},
        )

    assert (nobody.status_code, read_only.status_code) == (401, 403)
    assert without_csrf.status_code == 403
    assert with_csrf.status_code == 303
    assert with_csrf.headers["location"] == f"/admin/messages/{reply.message_id}?done=example-use"
    assert missing.status_code == 404
    assert promoted.status_code == 303
    [example] = await examples(db)
    assert (example.mark, example.marked_by) == (ExampleMark.USE, STAFF)


def test_the_thread_partial_has_both_buttons_and_the_promote_form() -> None:
    partial = Path("app/admin/templates/thread/_example.html").read_text(encoding="utf-8")
    for needle in ('value="use"', 'value="never"', "/promote", "m.csrf()"):
        assert needle in partial
