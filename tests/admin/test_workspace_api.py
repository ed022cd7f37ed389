"""The workspace's JSON API: the needs-action inbox, replying to and closing any email,
assignment, notes, presence, and the draft revision that makes a second approval ask first.

Emails are the demo's samples through the real webhook and worker (demo store, offline model,
log transport); staff act with bearer tokens. Runs on SQLite, and on PostgreSQL with
TEST_DATABASE_URL.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from app.admin import views
from app.admin.staff import create_api_token, create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, Message, Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.segments import CustomerSegment
from app.db.statuses import TokenScope
from app.db.workspace import Presence
from app.jobs.worker import Worker
from app.providers import Providers
from tests.admin.conftest import PASSWORD, STAFF
from tests.admin.workspace_desk import (
    INJECTION,
    NEWSLETTER,
    ORDER_STATUS,
    SPOOF,
    STOCK,
    UNVERIFIED,
    message_row,
    post_sample,
    replies_of,
)
from tests.builders import IN_DEFAULT_STORE

COLLEAGUE = "bo@shop.test"


async def work(db: Database, settings: Settings, providers: Providers) -> None:
    await Worker(db=db, settings=settings, providers=providers).drain()


@pytest.fixture
async def api(http: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    http.headers["Authorization"] = f"Bearer {token}"
    return http


@pytest.fixture
async def colleague(app: object, db: Database, token: str) -> httpx.AsyncClient:
    """A second staff member of the same store, with their own token and client."""
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=COLLEAGUE, password=PASSWORD, name="Bo")
        secret = await create_api_token(session, email=COLLEAGUE, name="tests")
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {secret}"},
    )


def sent_emails(settings: Settings) -> list[bytes]:
    return [p.read_bytes() for p in sorted(Path(settings.MAIL_LOG_DIR).glob("*.eml"))]


async def me(api: httpx.AsyncClient, db: Database) -> int:
    async with db.read(ALL_STORES) as session:
        from app.db.models import StaffUser

        found = (
            await session.execute(select(StaffUser.id).where(StaffUser.email == STAFF))
        ).scalar()
    assert found is not None
    return int(found)


# --- the inbox --------------------------------------------------------------------------------


async def test_needs_action_lists_held_work_oldest_first_with_plain_reasons_and_counts(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    spoof = await post_sample(api, SPOOF)
    newsletter = await post_sample(api, NEWSLETTER)
    injection = await post_sample(api, INJECTION)
    unverified = await post_sample(api, UNVERIFIED)
    await work(db, settings, providers)
    body = (await api.get("/admin/api/messages", params={"view": "needs_action"})).json()
    ids = [item["id"] for item in body["items"]]
    assert ids == [spoof, injection, unverified]  # oldest first; the newsletter is not work
    assert body["view"] == "needs_action"
    assert body["counts"]["needs_action"] == 3
    assert body["counts"]["skipped"] == 1
    assert body["counts"]["all"] == 4
    assert body["counts"]["unassigned"] == 3
    assert body["counts"]["mine"] == 0
    items = {item["id"]: item for item in body["items"]}
    assert any("looks forged (shows as" in r for r in items[spoof]["reasons"])
    assert "the email tries to instruct the assistant" in items[injection]["reasons"]
    assert (
        "sender could not be verified — reply only if you are sure who this is"
        in items[unverified]["reasons"]
    )
    assert items[unverified]["first_line"].startswith("Hi there, is the canvas tote")
    skipped = (await api.get("/admin/api/messages", params={"view": "skipped"})).json()
    assert [item["id"] for item in skipped["items"]] == [newsletter]
    everything = (await api.get("/admin/api/messages")).json()
    assert [item["id"] for item in everything["items"]] == [
        unverified,
        injection,
        newsletter,
        spoof,
    ]
    mine = await api.get(
        "/admin/api/messages", params={"view": "all", "customer": "TOM@example.co.uk"}
    )
    assert [item["id"] for item in mine.json()["items"]] == [unverified]
    # The filters of old keep working, by the statuses' names and by the former words.
    for word in ("drafted", "draft"):
        drafted = await api.get("/admin/api/messages", params={"status": word})
        assert drafted.status_code == 200
        assert {i["status"] for i in drafted.json()["items"]} == {"drafted"}
    assert (await api.get("/admin/api/messages", params={"view": "later"})).status_code == 422


async def test_the_oldest_first_views_page_on_with_after_id(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    first = await post_sample(api, UNVERIFIED)
    second = await post_sample(api, INJECTION)
    await work(db, settings, providers)
    page = (
        await api.get("/admin/api/messages", params={"view": "needs_action", "limit": 1})
    ).json()
    assert [i["id"] for i in page["items"]] == [first]
    assert page["next_after_id"] == first
    more = await api.get(
        "/admin/api/messages",
        params={"view": "needs_action", "limit": 1, "after_id": page["next_after_id"]},
    )
    assert [i["id"] for i in more.json()["items"]] == [second]


# --- replying ---------------------------------------------------------------------------------


async def test_a_reply_to_a_held_email_without_a_draft_is_checked_confirmed_and_sent_once(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    spoof = await post_sample(api, SPOOF)
    pk = await post_sample(api, UNVERIFIED)
    await work(db, settings, providers)
    # A forged From has no address to answer at all.
    text = "Hello,\n\nplease write to us from your own address so we can help.\n\nThe shop\n"
    nobody = await api.post(
        f"/admin/api/messages/{spoof}/reply", json={"text": text, "confirm_unverified": True}
    )
    assert nobody.status_code == 422
    assert nobody.json()["detail"] == "there is no sender address to answer"
    # The unverified question, its draft set aside and the email reopened: held, no draft.
    await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "duplicate"})
    await api.post(f"/admin/api/messages/{pk}/reopen")
    held = await message_row(db, pk)
    assert held.status == "needs_human"
    assert [r.status for r in await replies_of(db, pk)] == ["rejected"]
    url = f"/admin/api/messages/{pk}/reply"
    refused = await api.post(url, json={"text": text})
    assert refused.status_code == 409
    assert "could not be verified" in refused.json()["detail"]
    invented = await api.post(
        url, json={"text": text + "Your order #4242 shipped.\n", "confirm_unverified": True}
    )
    assert invented.status_code == 422
    assert any("#4242" in p for p in invented.json()["problems"])
    assert len(await replies_of(db, pk)) == 1
    sent = await api.post(url, json={"text": text, "confirm_unverified": True})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "queued"
    assert sent.json()["message_id"] == pk
    await work(db, settings, providers)
    [_rejected, reply] = await replies_of(db, pk)
    assert (reply.status, reply.author, reply.is_automated) == ("sent", STAFF, False)
    assert reply.to_address == held.from_address
    assert (await message_row(db, pk)).status == "answered"
    [raw] = sent_emails(settings)
    email = message_from_bytes(raw, policy=policy.default)
    assert email["In-Reply-To"] == held.message_id
    assert "please write to us" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    async with db.read(ALL_STORES) as session:
        actions = list((await session.execute(select(AuditEntry.action))).scalars())
    assert "staff_reply" in actions


async def test_replying_to_an_email_with_a_draft_approves_that_draft_with_the_text(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, STOCK)
    await work(db, settings, providers)
    [draft] = await replies_of(db, pk)
    assert draft.status == "draft"
    text = (draft.text_body or "") + "\nThanks for asking!\n"
    response = await api.post(f"/admin/api/messages/{pk}/reply", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == draft.id
    [after] = await replies_of(db, pk)
    assert after.status == "queued"
    assert "Thanks for asking!" in (after.text_body or "")


async def test_approving_a_draft_someone_else_changed_asks_first(
    api: httpx.AsyncClient,
    colleague: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
) -> None:
    pk = await post_sample(api, STOCK)
    await work(db, settings, providers)
    [draft] = await replies_of(db, pk)
    edited = (draft.text_body or "") + "\nBo was here.\n"
    saved = await colleague.post(
        f"/admin/api/replies/{draft.id}/save", json={"text": edited, "revision": 0}
    )
    assert saved.json() == {"id": draft.id, "status": "draft", "revision": 1}
    stale = await colleague.post(
        f"/admin/api/replies/{draft.id}/save", json={"text": "older", "revision": 0}
    )
    assert stale.status_code == 409
    for body in ({}, {"revision": 0}):
        refused = await api.post(f"/admin/api/replies/{draft.id}/approve", json=body)
        assert refused.status_code == 409, body
        assert COLLEAGUE in refused.json()["detail"]
    refused = await api.post(
        f"/admin/api/messages/{pk}/reply", json={"text": draft.text_body, "revision": 0}
    )
    assert refused.status_code == 409
    approved = await api.post(f"/admin/api/replies/{draft.id}/approve", json={"revision": 1})
    assert approved.status_code == 200, approved.text
    [after] = await replies_of(db, pk)
    assert "Bo was here." in (after.text_body or "")
    assert (after.revision, after.revised_by) == (1, COLLEAGUE)


async def test_approving_a_draft_to_an_unverified_sender_needs_confirmation(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, UNVERIFIED)
    await work(db, settings, providers)
    [draft] = await replies_of(db, pk)
    refused = await api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert refused.status_code == 409
    assert (await replies_of(db, pk))[0].status == "draft"
    confirmed = await api.post(
        f"/admin/api/replies/{draft.id}/approve", json={"confirm_unverified": True}
    )
    assert confirmed.status_code == 200, confirmed.text


# --- closing, reopening -----------------------------------------------------------------------


async def test_closing_sets_the_draft_aside_and_reopening_brings_the_email_back(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, INJECTION)
    await work(db, settings, providers)
    bad = await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "draft_rejected"})
    assert bad.status_code == 400
    assert (
        await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "meh"})
    ).status_code == 422
    closed = await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "spam"})
    assert closed.json() == {"id": pk, "status": "closed", "closed_reason": "spam"}
    again = await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "spam"})
    assert again.status_code == 409
    message = await message_row(db, pk)
    assert (message.closed_reason, message.closed_by) == ("spam", STAFF)
    [draft] = await replies_of(db, pk)
    assert draft.status == "rejected"
    counts = (await api.get("/admin/api/messages", params={"view": "closed"})).json()
    assert [i["id"] for i in counts["items"]] == [pk]
    assert counts["counts"]["needs_action"] == 0
    reopened = await api.post(f"/admin/api/messages/{pk}/reopen")
    assert reopened.json() == {"id": pk, "status": "needs_human", "closed_reason": None}
    assert (await api.post(f"/admin/api/messages/{pk}/reopen")).status_code == 409
    inbox = (await api.get("/admin/api/messages", params={"view": "needs_action"})).json()
    assert [i["id"] for i in inbox["items"]] == [pk]
    assert sent_emails(settings) == []


async def test_a_skipped_newsletter_can_be_reopened_and_closed(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, NEWSLETTER)
    await work(db, settings, providers)
    assert (await api.post(f"/admin/api/messages/{pk}/reopen")).status_code == 200
    closed = await api.post(f"/admin/api/messages/{pk}/close", json={"reason": "no_reply_needed"})
    assert closed.status_code == 200


# --- assignment, notes, presence --------------------------------------------------------------


async def test_assigning_to_me_a_colleague_or_nobody_and_the_views_that_follow(
    api: httpx.AsyncClient,
    colleague: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
) -> None:
    pk = await post_sample(api, INJECTION)
    await work(db, settings, providers)
    my_id = await me(api, db)
    assigned = await api.post(f"/admin/api/messages/{pk}/assign", json={"staff_id": my_id})
    assert assigned.json()["assigned_to"]["email"] == STAFF
    counts = (await api.get("/admin/api/messages", params={"view": "mine"})).json()
    assert [i["id"] for i in counts["items"]] == [pk]
    assert counts["counts"]["unassigned"] == 0
    theirs = (await colleague.get("/admin/api/messages", params={"view": "mine"})).json()
    assert theirs["items"] == []
    stranger = await api.post(f"/admin/api/messages/{pk}/assign", json={"staff_id": 999_999})
    assert stranger.status_code == 400
    colleague_id = (await colleague.get("/admin/api/me")).json()
    assert colleague_id["email"] == COLLEAGUE
    async with db.read(ALL_STORES) as session:
        from app.db.models import StaffUser

        bo = (
            await session.execute(select(StaffUser.id).where(StaffUser.email == COLLEAGUE))
        ).scalar()
    handed = await api.post(f"/admin/api/messages/{pk}/assign", json={"staff_id": bo})
    assert handed.json()["assigned_to"]["name"] == "Bo"
    detail = (await api.get(f"/admin/api/messages/{pk}")).json()
    assert detail["assigned_to"]["email"] == COLLEAGUE
    assert detail["message"]["assigned_to_id"] == bo
    nobody = await api.post(f"/admin/api/messages/{pk}/assign", json={"staff_id": None})
    assert nobody.json() == {"id": pk, "assigned_to": None}
    assert (await message_row(db, pk)).assigned_to_id is None


async def test_notes_are_kept_on_the_email_and_never_sent(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, INJECTION)
    await work(db, settings, providers)
    note = await api.post(f"/admin/api/messages/{pk}/notes", json={"text": "Called her back."})
    assert note.status_code == 200, note.text
    assert (note.json()["author"], note.json()["body"]) == (STAFF, "Called her back.")
    assert (await api.post(f"/admin/api/messages/{pk}/notes", json={"text": ""})).status_code == 422
    blank = await api.post(f"/admin/api/messages/{pk}/notes", json={"text": "   \n"})
    assert blank.status_code == 400
    missing = await api.post("/admin/api/messages/999999/notes", json={"text": "x"})
    assert missing.status_code == 404
    detail = (await api.get(f"/admin/api/messages/{pk}")).json()
    assert [n["body"] for n in detail["notes"]] == ["Called her back."]
    assert "add_note" in [a["action"] for a in detail["audit"]]
    assert sent_emails(settings) == []


async def test_presence_shows_colleagues_on_the_email_until_their_heartbeat_is_stale(
    api: httpx.AsyncClient,
    colleague: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
) -> None:
    pk = await post_sample(api, INJECTION)
    await work(db, settings, providers)
    url = f"/admin/api/messages/{pk}/presence"
    assert (await colleague.post(url, json={"kind": "editing"})).json() == []
    others = (await api.post(url, json={"kind": "viewing"})).json()
    assert [(o["staff_name"], o["kind"]) for o in others] == [("Bo", "editing")]
    detail = (await api.get(f"/admin/api/messages/{pk}")).json()
    assert [o["staff_name"] for o in detail["presence"]] == ["Bo"]
    async with db.write(ALL_STORES) as session:
        await session.execute(update(Presence).values(seen_at=utcnow() - timedelta(seconds=90)))
    assert (await api.post(url, json={})).json() == []
    assert (await api.post("/admin/api/messages/999999/presence", json={})).status_code == 404
    assert (await api.post(url, json={"kind": "typing"})).status_code == 422


async def test_a_read_only_token_cannot_act(
    http: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers, token: str
) -> None:
    pk = await post_sample(http, ORDER_STATUS)
    await work(db, settings, providers)
    async with db.write(IN_DEFAULT_STORE) as session:
        reader = await create_api_token(session, email=STAFF, scope=TokenScope.READ)
    headers = {"Authorization": f"Bearer {reader}"}
    for path, body in (
        (f"/admin/api/messages/{pk}/reply", {"text": "hi"}),
        (f"/admin/api/messages/{pk}/close", {"reason": "spam"}),
        (f"/admin/api/messages/{pk}/reopen", {}),
        (f"/admin/api/messages/{pk}/assign", {"staff_id": None}),
        (f"/admin/api/messages/{pk}/notes", {"text": "x"}),
        (f"/admin/api/messages/{pk}/presence", {"kind": "viewing"}),
    ):
        response = await http.post(path, json=body, headers=headers)
        assert response.status_code == 403, path
    assert (await http.get("/admin/api/messages", headers=headers)).status_code == 200
    async with db.read(ALL_STORES) as session:
        assert (await session.get(Message, pk)) is not None


async def test_an_answered_email_whose_reply_failed_needs_action_again(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_sample(api, STOCK)
    await work(db, settings, providers)
    [draft] = await replies_of(db, pk)
    assert (await api.post(f"/admin/api/replies/{draft.id}/approve", json={})).status_code == 200
    inbox = (await api.get("/admin/api/messages", params={"view": "needs_action"})).json()
    assert inbox["items"] == []
    async with db.write(ALL_STORES) as session:
        await session.execute(update(Reply).where(Reply.id == draft.id).values(status="dead"))
    inbox = (await api.get("/admin/api/messages", params={"view": "needs_action"})).json()
    [item] = inbox["items"]
    assert (item["id"], item["status"]) == (pk, "answered")
    assert item["reasons"][0].startswith("the reply could not be delivered")


async def test_a_customer_at_risk_rises_to_the_top_of_needs_action_and_paging_follows(
    api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    first = await post_sample(api, UNVERIFIED)
    second = await post_sample(api, INJECTION)
    third = await post_sample(api, STOCK)
    await work(db, settings, providers)
    late = await message_row(db, third)
    assert late.from_address
    async with db.write(IN_DEFAULT_STORE) as session:
        session.add(
            CustomerSegment(
                email=late.from_address.lower(),
                segment="at_risk",
                priority=3,
                meaning="at risk: used to order often, not lately",
            )
        )
    listed = (await api.get("/admin/api/messages", params={"view": "needs_action"})).json()
    held = [i["id"] for i in listed["items"]]
    assert held[0] == third  # The newest, but the customer matters most now.
    assert held.index(first) < held.index(second)  # Then the oldest first.
    walked, after = [], None
    while True:
        params: dict[str, str | int] = {"view": "needs_action", "limit": 1}
        if after is not None:
            params["after_id"] = after
        page = (await api.get("/admin/api/messages", params=params)).json()
        walked += [i["id"] for i in page["items"]]
        after = page["next_after_id"]
        if after is None:
            break
    assert walked == held
    async with db.read(IN_DEFAULT_STORE) as session:
        following = await views.neighbour(session, views.InboxView.NEEDS_ACTION, 0, third)
    assert following == held[1]
