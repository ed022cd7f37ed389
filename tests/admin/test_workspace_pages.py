"""The workspace in the staff page, without JavaScript: forms that post and redirect (PRG).

Sending to an unverified sender asks first, a verifier refusal comes back on the email with
what staff typed, approving a draft a colleague changed shows the new text and asks again, and
every action goes on to the next email of the view with a way back.
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from app.admin.staff import create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import Reply, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import PresenceKind
from app.db.workspace import Presence
from app.demo.deliveries import DemoWorld, load_samples
from app.providers import Providers
from tests.admin.test_pages import Desk, log_in
from tests.admin.workspace_desk import (
    INJECTION,
    NEWSLETTER,
    SPOOF,
    UNVERIFIED,
    message_row,
    post_sample,
    replies_of,
)
from tests.builders import IN_DEFAULT_STORE

PROBLEMS = re.compile(r'<ul class="problems">(.*?)</ul>', re.S)
TEXTAREA = re.compile(r'<textarea id="reply-text"[^>]*>\n?(.*?)</textarea>', re.S)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    """A logged-in page client (`tests.admin.test_pages`)."""
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


async def seeded(desk: Desk, *names: str) -> list[int]:
    pks = [await post_sample(desk.http, name) for name in names]
    await desk.drain()
    return pks


def composer_text(page: httpx.Response) -> str:
    found = TEXTAREA.search(page.text)
    assert found is not None
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&")


async def test_sending_to_an_unverified_sender_asks_then_goes_on_to_the_next_email(
    desk: Desk,
) -> None:
    unverified, injection = await seeded(desk, UNVERIFIED, INJECTION)
    page = await desk.http.get(f"/admin/messages/{unverified}?view=needs_action")
    assert "data-confirm-unverified" in page.text
    text = composer_text(page)
    asked = await desk.post(
        f"/admin/messages/{unverified}/reply", {"text": text, "view": "needs_action"}
    )
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/admin/messages/{unverified}?view=needs_action"
    back = await desk.http.get(asked.headers["location"])
    assert back.status_code == 200
    assert "could not be verified" in back.text
    assert 'class="confirm ask"' in back.text
    assert (await replies_of(desk.db, unverified))[0].status == "draft"
    # The flash is shown once.
    assert (
        "could not be verified: confirm"
        not in (await desk.http.get(asked.headers["location"])).text
    )
    sent = await desk.post(
        f"/admin/messages/{unverified}/reply",
        {"text": text, "view": "needs_action", "confirm_unverified": "yes"},
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == (
        f"/admin/messages/{injection}?view=needs_action&done=sent&back={unverified}"
    )
    following = await desk.http.get(sent.headers["location"])
    assert f"back to #{unverified}, just handled" in following.text
    assert "Your reply passed the checks" in following.text
    assert (await replies_of(desk.db, unverified))[0].status == "queued"


async def test_a_held_email_gets_a_composer_and_the_verifier_refusal_keeps_the_text(
    desk: Desk,
) -> None:
    [pk] = await seeded(desk, INJECTION)
    await desk.post(f"/admin/messages/{pk}/close", {"reason": "duplicate"})
    await desk.post(f"/admin/messages/{pk}/reopen")
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert (await message_row(desk.db, pk)).status == "needs_human"
    assert "Send reply" in page.text
    assert composer_text(page).strip() == ""
    invented = "Hello Sara,\n\nyour order #4242 left our warehouse today.\n\nThe shop\n"
    refused = await desk.post(f"/admin/messages/{pk}/reply", {"text": invented})
    assert refused.status_code == 303
    shown = await desk.http.get(refused.headers["location"])
    problems = PROBLEMS.search(shown.text)
    assert problems is not None
    assert "4242" in problems.group(1)
    assert "your order #4242 left our warehouse" in composer_text(shown)
    assert len(await replies_of(desk.db, pk)) == 1  # only the draft the close set aside
    fixed = invented.replace("your order #4242 left our warehouse today", "thanks for writing")
    sent = await desk.post(f"/admin/messages/{pk}/reply", {"text": fixed})
    assert sent.status_code == 303
    assert sent.headers["location"].startswith("/admin?view=needs_action&done=sent")
    [_aside, reply] = await replies_of(desk.db, pk)
    assert (reply.status, reply.author, reply.is_automated) == ("queued", "ana@shop.test", False)
    assert desk.sent() == []  # queued for the outbox; the worker sends it
    await desk.drain()
    assert len(desk.sent()) == 1


async def test_approving_a_draft_a_colleague_changed_shows_their_text_and_asks_again(
    desk: Desk,
) -> None:
    [pk] = await seeded(desk, INJECTION)
    [draft] = await replies_of(desk.db, pk)
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert 'name="revision" value="0"' in page.text
    theirs = (draft.text_body or "") + "\nBo added this line.\n"
    async with desk.db.write(ALL_STORES) as session:
        await session.execute(
            update(Reply)
            .where(Reply.id == draft.id)
            .values(text_body=theirs, revision=1, revised_by="bo@shop.test")
        )
    mine = (draft.text_body or "") + "\nMy own line.\n"
    asked = await desk.post(f"/admin/messages/{pk}/reply", {"text": mine, "revision": "0"})
    assert asked.status_code == 303
    shown = await desk.http.get(asked.headers["location"])
    assert "The draft changed since you opened it" in shown.text
    assert "bo@shop.test changed this draft" in shown.text
    assert "Bo added this line." in composer_text(shown)
    assert "My own line." in shown.text  # kept under "Your version"
    assert 'name="revision" value="1"' in shown.text
    assert (await replies_of(desk.db, pk))[0].status == "draft"
    sent = await desk.post(
        f"/admin/messages/{pk}/reply", {"text": composer_text(shown), "revision": "1"}
    )
    assert sent.status_code == 303
    assert (await replies_of(desk.db, pk))[0].status == "queued"


async def test_saving_a_draft_raises_its_revision_and_sends_nothing(desk: Desk) -> None:
    [pk] = await seeded(desk, INJECTION)
    [draft] = await replies_of(desk.db, pk)
    saved = await desk.post(
        f"/admin/messages/{pk}/reply",
        {
            "text": (draft.text_body or "") + "\nSaved line.\n",
            "action": "save",
            "draft_id": str(draft.id),
            "revision": "0",
        },
    )
    assert saved.headers["location"] == f"/admin/messages/{pk}?view=needs_action&done=saved"
    [after] = await replies_of(desk.db, pk)
    assert (after.status, after.revision, after.revised_by) == ("draft", 1, "ana@shop.test")
    assert "Saved line." in (after.text_body or "")
    page = await desk.http.get(saved.headers["location"])
    assert "edited by ana@shop.test (revision 1)" in page.text
    assert desk.sent() == []


async def test_closing_a_newsletter_assigning_and_a_note_from_the_page(desk: Desk) -> None:
    newsletter, injection = await seeded(desk, NEWSLETTER, INJECTION)
    unreasoned = await desk.post(f"/admin/messages/{newsletter}/close", {"view": "skipped"})
    assert unreasoned.headers["location"] == f"/admin/messages/{newsletter}?view=skipped"
    assert "choose why" in (await desk.http.get(unreasoned.headers["location"])).text
    closed = await desk.post(
        f"/admin/messages/{newsletter}/close", {"reason": "no_reply_needed", "view": "skipped"}
    )
    assert closed.headers["location"] == "/admin?view=skipped&done=closed"
    message = await message_row(desk.db, newsletter)
    assert (message.status, message.closed_reason) == ("closed", "no_reply_needed")
    mine = await desk.post(f"/admin/messages/{injection}/assign", {"staff_id": "me"})
    assert mine.status_code == 303
    assert (await message_row(desk.db, injection)).assigned_to_id is not None
    inbox = await desk.http.get("/admin?view=mine")
    assert f'data-message-id="{injection}"' in inbox.text
    assert "data-assignee>Ana<" in inbox.text
    nobody = await desk.post(f"/admin/messages/{injection}/assign", {"staff_id": ""})
    assert nobody.status_code == 303
    assert (await message_row(desk.db, injection)).assigned_to_id is None
    noted = await desk.post(f"/admin/messages/{injection}/notes", {"text": "Her second email."})
    assert noted.headers["location"].endswith("done=noted#notes-h")
    page = await desk.http.get(f"/admin/messages/{injection}")
    assert page.text.count("Her second email.") == 2  # on the email and in its trace
    empty = await desk.post(f"/admin/messages/{injection}/notes", {"text": " "})
    assert "the note is empty" in (await desk.http.get(empty.headers["location"])).text
    assert await desk.audit_actions() == ["close", "assign", "unassign", "add_note"]


async def test_the_inbox_says_why_in_plain_words_and_how_long_the_customer_waited(
    desk: Desk,
) -> None:
    spoof, unverified, newsletter = await seeded(desk, SPOOF, UNVERIFIED, NEWSLETTER)
    inbox = await desk.http.get("/admin")
    assert inbox.status_code == 200
    rows = re.findall(r'data-message-id="(\d+)"', inbox.text)
    assert rows == [str(spoof), str(unverified)]  # oldest first, the newsletter elsewhere
    assert "the From address looks forged (shows as" in inbox.text
    assert "sender could not be verified — reply only if you are sure who this is" in inbox.text
    assert "Hi there, is the canvas tote back in stock in green?" in inbox.text
    assert re.search(r'<time datetime="[^"]+\+00:00" title="[^"]+ UTC">just now</time>', inbox.text)
    assert re.search(
        r'data-view="needs_action">needs action <span class="muted">2</span>', inbox.text
    )
    assert re.search(r'data-view="sent">answered <span class="muted">0</span>', inbox.text)
    assert re.search(r'data-view="skipped">skipped <span class="muted">1</span>', inbox.text)
    spoofed = await desk.http.get(f"/admin/messages/{spoof}")
    assert "the From address looks forged" in spoofed.text
    assert "no_single_sender" in spoofed.text  # the code stays in the trace
    skipped = await desk.http.get("/admin?view=skipped")
    assert re.findall(r'data-message-id="(\d+)"', skipped.text) == [str(newsletter)]
    customer = await desk.http.get("/admin?view=all&customer=tom@example.co.uk")
    assert re.findall(r'data-message-id="(\d+)"', customer.text) == [str(unverified)]
    assert (await desk.http.get("/admin?view=later")).status_code == 422


async def test_a_quarantined_email_says_so_in_its_trace(desk: Desk) -> None:
    [sample] = [
        s for s in load_samples(DemoWorld()) if s.name == "raw-mode post with an empty email"
    ]
    pk = await post_sample(desk.http, sample.name)
    await desk.drain()
    assert (await message_row(desk.db, pk)).status == "quarantined"
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert "Not processed yet." not in page.text
    assert "quarantined" in page.text.lower()


async def test_the_script_is_a_file_the_policy_allows_and_pages_have_no_inline_script(
    desk: Desk,
) -> None:
    [pk] = await seeded(desk, INJECTION)
    script = await desk.http.get("/admin/assets/workspace.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "keydown" in script.text
    for url in ("/admin", f"/admin/messages/{pk}"):
        page = await desk.http.get(url)
        assert '<script src="/admin/assets/workspace.js" defer></script>' in page.text
        assert re.findall(r"<script(?![^>]*\bsrc=)", page.text) == []
        assert "script-src 'self';" in page.headers["content-security-policy"]
    # The composer is as tall as its text: every line of the draft shows.
    page = await desk.http.get(f"/admin/messages/{pk}")
    rows = re.search(r'<textarea id="reply-text"[^>]* rows="(\d+)"', page.text)
    assert rows is not None
    assert int(rows.group(1)) >= len(composer_text(page).splitlines())
    assert 'include "thread/_macro_picker.html"' not in page.text
    assert "Keyboard shortcuts" in page.text


async def test_colleagues_viewing_or_editing_show_on_the_email_and_its_row(desk: Desk) -> None:
    [pk] = await seeded(desk, INJECTION)
    async with desk.db.write(IN_DEFAULT_STORE) as session:
        bo = await create_staff(
            session, email="bo@shop.test", password="long password 123", name="Bo"
        )
        session.add(
            Presence(message_id=pk, staff_id=bo.id, staff_name="Bo", kind=PresenceKind.EDITING)
        )
    inbox = await desk.http.get("/admin")
    assert 'data-presence="editing">Bo is editing</div>' in inbox.text
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert "Bo is editing this email" in page.text
    async with desk.db.write(ALL_STORES) as session:
        await session.execute(update(Presence).values(seen_at=utcnow() - timedelta(minutes=2)))
    assert "Bo is editing" not in (await desk.http.get("/admin")).text
