"""The staff page over HTTP: sessions, CSRF, the queue, the thread view and every decision.

Emails reach the database the way production mail does (a SendGrid post to the real webhook,
then the real worker); staff act through the same forms a browser submits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.admin import screens, workspace_screens
from app.admin.filters import QueueFilter
from app.admin.staff import create_staff
from app.agent.offline import OfflineModel
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, Job, Message, ProposedAction, Reply, StaffSession, ToolCall
from app.db.scope import ALL_STORES
from app.demo.deliveries import SENDGRID, DemoWorld, load_samples
from app.demo.sendgrid_posts import Transport, raw_mode_post
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from app.store.demo import DemoShop
from tests.builders import IN_DEFAULT_STORE, http_routes, make_eml, verified_transport
from tests.conftest import BASIC_AUTH

SAMPLES = Path(__file__).parents[2] / "app" / "demo" / "samples"
STAFF_EMAIL = "ana@shop.test"
STAFF_PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_FORM = 'action="/admin/login"'


@dataclass
class Desk:
    """A logged-in browser-like client and what the tests need to reach the database."""

    http: httpx.AsyncClient
    db: Database
    settings: Settings
    providers: Providers
    csrf: str

    async def seed(self, eml: bytes, transport: Transport | None = None) -> int:
        """Post an email to the webhook as SendGrid would, run the worker; its message id."""
        post = raw_mode_post(eml, transport or verified_transport("example.de"))
        response = await self.http.post(
            "/webhooks/sendgrid/inbound",
            content=post.body,
            headers={"content-type": post.content_type},
            auth=BASIC_AUTH,
        )
        assert response.status_code == 200, response.text
        await self.drain()
        pk: int = response.json()["id"]
        return pk

    async def drain(self) -> int:
        return await Worker(db=self.db, settings=self.settings, providers=self.providers).drain()

    async def reply_of(self, message_pk: int) -> Reply:
        async with self.db.read(ALL_STORES) as session:
            replies = (
                await session.execute(
                    select(Reply).where(Reply.message_id == message_pk).order_by(Reply.id)
                )
            ).scalars()
            return list(replies)[-1]

    async def message(self, message_pk: int) -> Message:
        async with self.db.read(ALL_STORES) as session:
            message = await session.get(Message, message_pk)
            assert message is not None
            return message

    async def audit_actions(self) -> list[str]:
        async with self.db.read(ALL_STORES) as session:
            rows = await session.execute(select(AuditEntry.action).order_by(AuditEntry.id))
            return [action for action in rows.scalars() if action not in ("login", "logout")]

    async def count(self, model: type[ToolCall] | type[Job]) -> int:
        async with self.db.read(ALL_STORES) as session:
            return int(
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
            )

    async def post(self, url: str, data: dict[str, str] | None = None) -> httpx.Response:
        """A form post from the page: the session cookie and the CSRF field."""
        return await self.http.post(url, data={"csrf_token": self.csrf, **(data or {})})

    def sent(self) -> list[Path]:
        """The emails the log transport wrote."""
        return sorted(Path(self.settings.MAIL_LOG_DIR).glob("*.eml"))


def lena_return() -> bytes:
    """A verified customer asks to return her own order: a draft plus a proposed return."""
    return make_eml(
        sender="Lena Fischer <lena@example.de>",
        subject="Return order #1007",
        body="Hi, I would like to return my order #1007. The shoes do not fit.\n\nLena\n",
        message_id="<return-1007@example.de>",
    )


def persian_question() -> bytes:
    return (SAMPLES / "persian-order-status.eml").read_bytes()


async def log_in(http: httpx.AsyncClient, db: Database) -> str:
    """Create the staff account, log in through the form; the page's CSRF token."""
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD, name="Ana")
    response = await http.post(
        "/admin/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 303, response.text
    queue = await http.get("/admin")
    assert queue.status_code == 200
    found = CSRF.search(queue.text)
    assert found is not None
    return found.group(1)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


# --- every page needs a session ----------------------------------------------------------------


PUBLIC = {("GET", "/admin/login"), ("POST", "/admin/login")}


def page_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves under /admin that is not the JSON API (ids set to 1)."""
    # Built at collection time: no environment, no database connection, no outside world.
    settings = Settings.model_construct(DATABASE_URL="sqlite+aiosqlite:///:memory:")
    app = create_app(settings, providers=Providers(shop=DemoShop(), llm=OfflineModel()))
    return [
        (method, path)
        for method, path in http_routes(app)
        if (path == "/admin" or path.startswith("/admin/"))
        and not path.startswith("/admin/api")
        and path != "/admin/openapi.json"
    ]


def test_the_page_routes_are_enumerated() -> None:
    routes = page_routes()
    assert PUBLIC <= set(routes)
    assert ("GET", "/admin") in routes
    assert ("POST", "/admin/replies/1/approve") in routes
    assert len(routes) >= 11


@pytest.mark.parametrize(("method", "path"), [r for r in page_routes() if r not in PUBLIC])
async def test_every_page_answers_401_with_the_login_form_without_a_session(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    data = {"csrf_token": "x"} if method == "POST" else None
    response = await client.request(method, path, data=data)
    assert response.status_code == 401, (method, path)
    assert response.headers["content-type"].startswith("text/html")
    assert LOGIN_FORM in response.text


@pytest.mark.parametrize(("method", "path"), [r for r in page_routes() if r not in PUBLIC])
async def test_a_forged_or_ended_session_is_no_session(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    client.cookies.set("support_admin_session", "not-a-session", path="/admin")
    response = await client.request(method, path)
    assert response.status_code == 401
    assert LOGIN_FORM in response.text


async def test_the_json_api_keeps_answering_json_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/api/messages")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


async def test_the_login_form_remembers_the_page_asked_for(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin/messages/7?done=approved")
    assert response.status_code == 401
    assert 'name="next" value="/admin/messages/7?done=approved"' in response.text


# --- logging in and out ------------------------------------------------------------------------


async def test_a_wrong_password_is_refused(client: httpx.AsyncClient, db: Database) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD)
    response = await client.post(
        "/admin/login", data={"email": STAFF_EMAIL, "password": "wrong password!!"}
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert "set-cookie" not in response.headers
    assert f'value="{STAFF_EMAIL}"' in response.text
    unknown = await client.post(
        "/admin/login", data={"email": "nobody@shop.test", "password": STAFF_PASSWORD}
    )
    assert unknown.status_code == 401


async def test_logging_in_sets_a_session_cookie_and_shows_the_queue(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD)
    response = await client.post(
        "/admin/login",
        data={"email": STAFF_EMAIL.upper(), "password": STAFF_PASSWORD, "next": "/admin/proposals"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/proposals"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("support_admin_session=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/admin"} <= attributes
    assert "secure" not in attributes  # plain http in this test; https below
    queue = await client.get("/admin")
    assert queue.status_code == 200
    assert "Log out" in queue.text
    policy = queue.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert queue.headers["content-security-policy"].startswith("default-src 'none'")
    assert queue.headers["cache-control"] == "no-store"


async def test_over_https_the_cookie_is_secure(
    settings: Settings, db: Database, providers: Providers
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD)
    app = create_app(settings, db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        response = await http.post(
            "/admin/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD}
        )
    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_login_posted_from_another_site_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD)
    credentials = {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}
    forged = await client.post(
        "/admin/login", data=credentials, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers
    cross_site = await client.post(
        "/admin/login", data=credentials, headers={"sec-fetch-site": "cross-site"}
    )
    assert cross_site.status_code == 403
    null_origin = await client.post("/admin/login", data=credentials, headers={"origin": "null"})
    assert null_origin.status_code == 403
    same_site = await client.post(
        "/admin/login", data=credentials, headers={"origin": "http://testserver"}
    )
    assert same_site.status_code == 303
    behind_a_proxy = await client.post(
        "/admin/login",
        data=credentials,
        headers={"origin": "https://support.shop.test", "x-forwarded-host": "support.shop.test"},
    )
    assert behind_a_proxy.status_code == 303


@pytest.mark.parametrize(
    ("asked", "goes_to"),
    [
        ("/admin/messages/3?done=approved", "/admin/messages/3?done=approved"),
        ("/admin/proposals", "/admin/proposals"),
        ("https://evil.example/admin", "/admin"),
        ("//evil.example/admin", "/admin"),
        ("/admin\\@evil.example", "/admin"),
        ("/administrator", "/admin"),
        ("/admin/api/messages", "/admin"),
        ("/admin/logout", "/admin"),
        ("", "/admin"),
    ],
)
def test_after_login_only_admin_pages_are_destinations(asked: str, goes_to: str) -> None:
    assert screens.safe_next(asked) == goes_to


async def test_logging_out_ends_the_session_on_the_server(desk: Desk) -> None:
    token = desk.http.cookies["support_admin_session"]
    without_csrf = await desk.http.post("/admin/logout")
    assert without_csrf.status_code == 403
    response = await desk.post("/admin/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login"
    assert 'support_admin_session=""' in response.headers["set-cookie"]
    assert (await desk.http.get("/admin")).status_code == 401
    desk.http.cookies.set("support_admin_session", token, path="/admin")
    assert (await desk.http.get("/admin")).status_code == 401
    async with desk.db.read(ALL_STORES) as session:
        assert (await session.execute(select(func.count()).select_from(StaffSession))).scalar() == 1


# --- CSRF ---------------------------------------------------------------------------------------


async def test_posts_without_the_csrf_token_are_refused_and_change_nothing(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    reply = await desk.reply_of(pk)
    missing = await desk.http.post(f"/admin/replies/{reply.id}/approve", data={"text": "x"})
    wrong = await desk.http.post(
        f"/admin/replies/{reply.id}/reject", data={"reason": "no", "csrf_token": "forged"}
    )
    header = await desk.http.post(f"/admin/messages/{pk}/rerun", headers={"X-CSRF-Token": "forged"})
    for response in (missing, wrong, header):
        assert response.status_code == 403
        assert "CSRF" in response.text
    assert (await desk.reply_of(pk)).status == "draft"
    assert (await desk.message(pk)).status == "drafted"
    assert await desk.audit_actions() == []


# --- the queue ----------------------------------------------------------------------------------


async def test_the_queue_lists_emails_with_filters(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    lena = await desk.seed(lena_return())
    reza = await desk.seed(persian_question(), verified_transport("example.ir"))
    stranger = await desk.seed(
        make_eml(
            sender="Someone <someone@example.org>",
            subject="Question about socks",
            body="Do you sell wool socks?\n",
            message_id="<socks@example.org>",
        ),
        Transport(envelope_from="someone@example.org", spf="none", dkim="none"),
    )

    def listed(response: httpx.Response) -> set[int]:
        assert response.status_code == 200, response.text
        return {int(pk) for pk in re.findall(r'data-message-id="(\d+)"', response.text)}

    everything = await desk.http.get("/admin")
    assert listed(everything) == {lena, reza, stranger}
    # Each tab shows its filter's label, and what it means on hover, from the one enum.
    for word in QueueFilter:
        assert f'href="/admin?view=all&amp;status={word.value}"' in everything.text
        assert f'title="{word.meaning}">{word.label}' in everything.text
    assert listed(await desk.http.get("/admin", params={"status": "draft"})) >= {lena, reza}
    assert listed(await desk.http.get("/admin", params={"status": "sent"})) == set()
    assert listed(await desk.http.get("/admin", params={"verified": "no"})) == {stranger}
    assert listed(await desk.http.get("/admin", params={"q": "socks"})) == {stranger}
    assert listed(await desk.http.get("/admin", params={"intent": "return_or_exchange"})) == {lena}
    bad = await desk.http.get("/admin", params={"status": "everything"})
    assert bad.status_code == 422
    assert "unknown status" in bad.text

    monkeypatch.setattr(workspace_screens, "PAGE_SIZE", 2)
    # Needs action lists the longest-waiting first; every view pages on.
    first = await desk.http.get("/admin")
    assert listed(first) == {lena, reza}
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    second = await desk.http.get(older.group(1).replace("&amp;", "&"))
    assert listed(second) == {stranger}
    assert 'rel="next"' not in second.text
    newest = await desk.http.get("/admin", params={"view": "all"})
    assert listed(newest) == {stranger, reza}


async def test_every_sample_email_renders_in_the_queue_and_its_thread(desk: Desk) -> None:
    """The demo's samples cover every path (skipped, held, quarantined, spoofed, Persian...)."""
    # SendGrid's samples: the other providers' each need their own secrets configured.
    for sample in load_samples(DemoWorld()):
        if sample.provider != SENDGRID:
            continue
        response = await desk.http.post(
            sample.route, content=sample.post.body, headers=sample.post.headers, auth=BASIC_AUTH
        )
        assert response.status_code == 200, sample.name
    await desk.drain()
    queue = await desk.http.get("/admin")
    assert queue.status_code == 200
    listed = [int(pk) for pk in re.findall(r'data-message-id="(\d+)"', queue.text)]
    assert len(listed) >= 10
    async with desk.db.read(ALL_STORES) as session:
        statuses = set((await session.execute(select(Message.status))).scalars())
    assert {"skipped", "drafted", "answered", "quarantined"} <= statuses
    for pk in listed:
        page = await desk.http.get(f"/admin/messages/{pk}")
        assert page.status_code == 200, pk
        assert "<summary>Steps" in page.text
    for name in QueueFilter:
        assert (await desk.http.get("/admin", params={"status": name})).status_code == 200


async def test_mail_content_is_escaped(desk: Desk) -> None:
    pk = await desk.seed(
        make_eml(
            sender="Eve <eve@example.de>",
            subject="<script>alert(1)</script> order",
            body='<img src=x onerror="alert(2)"> where is my order?\n',
            message_id="<xss@example.de>",
        )
    )
    for url in ("/admin", f"/admin/messages/{pk}"):
        page = await desk.http.get(url)
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<img src=x" not in page.text


# --- the thread view ----------------------------------------------------------------------------


async def test_the_thread_view_shows_customer_email_draft_and_trace(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    tool_calls = await desk.count(ToolCall)
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert page.status_code == 200
    text = page.text
    # The customer card, read through the sender-scoped tools.
    assert "Lena Fischer" in text
    assert "promising: bought recently, not often yet, spent in the top 60%" in text
    assert "227.00 EUR" in text
    assert "#1013" in text  # one of her other orders
    # The email, the editable draft and its buttons.
    assert "The shoes do not fit." in text
    assert '<textarea id="reply-text" name="text" dir="ltr"' in text
    for button in ("Approve and send", "Undo my edits", "Reject draft", "Re-run the agent"):
        assert button in text
    assert "intent return_or_exchange is not auto-sent" in text
    # The trace.
    for section in ("Steps", "Guards", "Identity", "Plan", "Model turns", "Tool calls"):
        assert f"<summary>{section}" in text
    for section in ("Verifier and policy", "Delivery", "Audit", "Headers"):
        assert f"<summary>{section}" in text
    assert "get_order" in text
    assert "dkim_pass_aligned:example.de" in text
    # The pending store action, with its buttons.
    assert "Approve: open a return for every item" in text
    # Looking is not an agent tool call.
    assert await desk.count(ToolCall) == tool_calls


async def test_an_unverified_sender_gets_no_customer_card(desk: Desk) -> None:
    pk = await desk.seed(
        make_eml(
            sender="Lena Fischer <lena@example.de>",
            subject="Where is my order #1007?",
            body="Where is my order #1007?\n",
            message_id="<spoof@example.de>",
        ),
        Transport(envelope_from="lena@example.de", spf="fail", dkim="none"),
    )
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert page.status_code == 200
    assert "sender not verified: no customer data" in page.text
    assert "Lena Fischer</dd>" not in page.text
    assert "227.00 EUR" not in page.text


async def test_a_persian_thread_is_right_to_left(desk: Desk) -> None:
    pk = await desk.seed(persian_question(), verified_transport("example.ir"))
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert page.status_code == 200
    assert '<div class="email-text" dir="rtl" lang="fa">' in page.text
    assert '<textarea id="reply-text" name="text" dir="rtl" lang="fa"' in page.text
    assert "سفارش" in page.text


async def test_unknown_and_malformed_ids_are_pages(desk: Desk) -> None:
    missing = await desk.http.get("/admin/messages/999")
    assert missing.status_code == 404
    assert "There is no email 999" in missing.text
    # An id that is not a number names no record either (see tests/admin/test_responses.py).
    malformed = await desk.http.get("/admin/messages/abc")
    assert malformed.status_code == 404
    assert malformed.headers["content-type"].startswith("text/html")
    no_reply = await desk.post("/admin/replies/999/approve")
    assert no_reply.status_code == 404


# --- decisions ----------------------------------------------------------------------------------


async def test_approving_the_draft_unchanged_queues_it_as_is(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    draft = await desk.reply_of(pk)
    assert draft.status == "draft"
    assert draft.text_body
    # Browsers send textarea text with CRLF line breaks: still unchanged.
    as_submitted = draft.text_body.replace("\n", "\r\n")
    response = await desk.post(f"/admin/replies/{draft.id}/approve", {"text": as_submitted})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/messages/{pk}?done=approved"
    reply = await desk.reply_of(pk)
    assert reply.status == "queued"
    assert reply.text_body == draft.text_body
    assert reply.edit_distance == 0
    assert reply.decided_by == STAFF_EMAIL
    assert await desk.audit_actions() == ["approve_draft"]
    page = await desk.http.get(response.headers["location"])
    assert "Approved: the reply is queued" in page.text
    assert 'data-reply-status="queued"' in page.text
    # The worker sends it: exactly one email, and the page says so.
    await desk.drain()
    assert len(desk.sent()) == 1
    page = await desk.http.get(f"/admin/messages/{pk}")
    assert 'data-reply-status="sent"' in page.text


async def test_an_edited_draft_is_checked_and_sent_as_edited(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    draft = await desk.reply_of(pk)
    assert draft.text_body
    edited = draft.text_body.replace(
        "Thank you for letting us know.", "Thank you, and sorry the shoes do not fit."
    )
    assert edited != draft.text_body
    response = await desk.post(f"/admin/replies/{draft.id}/approve", {"text": edited})
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/messages/{pk}?done=edited"
    reply = await desk.reply_of(pk)
    assert reply.status == "queued"
    assert "sorry the shoes do not fit" in (reply.text_body or "")
    assert (reply.edit_distance or 0) > 0
    assert await desk.audit_actions() == ["edit_and_send"]
    assert await desk.count(Job) >= 2  # the inbound job and now the send job


@pytest.mark.parametrize(
    ("addition", "problem"),
    [
        ("Your other order #1001 is on its way too.", "1001"),
        ("Pay the return fee at https://evil.example/pay please.", "evil.example"),
    ],
)
async def test_an_edit_the_checks_refuse_is_shown_and_nothing_changes(
    desk: Desk, addition: str, problem: str
) -> None:
    pk = await desk.seed(lena_return())
    draft = await desk.reply_of(pk)
    assert draft.text_body
    edited = draft.text_body + "\n" + addition + "\n"
    refused = await desk.post(f"/admin/replies/{draft.id}/approve", {"text": edited})
    # Post/redirect/get: back to the email, the refusal and the text carried across.
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/admin/messages/{pk}?view=needs_action"
    response = await desk.http.get(refused.headers["location"])
    assert "the reply did not pass the checks" in response.text
    problems = re.search(r'<ul class="problems">(.*?)</ul>', response.text, re.S)
    assert problems is not None
    assert problem in problems.group(1)
    # The editor keeps what staff typed, so they can fix it.
    assert addition in response.text
    reply = await desk.reply_of(pk)
    assert reply.status == "draft"
    assert reply.text_body == draft.text_body
    assert await desk.audit_actions() == []


async def test_a_draft_decided_twice_says_someone_was_faster(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    draft = await desk.reply_of(pk)
    assert (await desk.post(f"/admin/replies/{draft.id}/approve")).status_code == 303
    again = await desk.post(f"/admin/replies/{draft.id}/reject", {"reason": "too late"})
    assert again.status_code == 303
    assert "not a draft" in (await desk.http.get(again.headers["location"])).text
    assert (await desk.reply_of(pk)).status == "queued"


async def test_rejecting_a_draft_needs_a_reason_and_sends_nothing(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    draft = await desk.reply_of(pk)
    blank = await desk.post(f"/admin/replies/{draft.id}/reject", {"reason": "  "})
    assert blank.status_code == 303
    assert "say why" in (await desk.http.get(blank.headers["location"])).text
    response = await desk.post(
        f"/admin/replies/{draft.id}/reject", {"reason": "I will answer by phone"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/messages/{pk}?done=rejected"
    reply = await desk.reply_of(pk)
    assert reply.status == "rejected"
    assert (reply.reject_reason or "").strip() == "I will answer by phone"
    assert (await desk.message(pk)).status == "closed"
    assert await desk.audit_actions() == ["reject_draft"]
    await desk.drain()
    assert desk.sent() == []


async def test_rerunning_the_agent_replans_the_email(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    first = await desk.reply_of(pk)
    response = await desk.post(f"/admin/messages/{pk}/rerun")
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/messages/{pk}?done=rerun"
    async with desk.db.read(ALL_STORES) as session:
        superseded = await session.get(Reply, first.id)
    assert superseded is not None
    assert superseded.status == "rejected"
    page = await desk.http.get(response.headers["location"])
    assert '<meta http-equiv="refresh"' in page.text  # the page follows the work in flight
    await desk.drain()
    assert (await desk.reply_of(pk)).id != first.id
    assert await desk.audit_actions() == ["rerun_agent"]


# --- store actions ------------------------------------------------------------------------------


async def _pending_proposal(desk: Desk, message_pk: int) -> ProposedAction:
    async with desk.db.read(ALL_STORES) as session:
        proposal = (
            await session.execute(
                select(ProposedAction).where(ProposedAction.message_id == message_pk)
            )
        ).scalar_one()
    assert proposal.status == "pending"
    return proposal


async def test_approving_a_store_action_from_the_list(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    proposal = await _pending_proposal(desk, pk)
    listing = await desk.http.get("/admin/proposals")
    assert listing.status_code == 200
    assert f'data-proposal-id="{proposal.id}"' in listing.text
    assert "Open a return for every item" in listing.text
    response = await desk.post(f"/admin/proposals/{proposal.id}/approve", {"back_to": "proposals"})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/proposals?done=proposal_executed"
    async with desk.db.read(ALL_STORES) as session:
        row = await session.get(ProposedAction, proposal.id)
    assert row is not None
    assert (row.status, row.decided_by) == ("executed", STAFF_EMAIL)
    assert await desk.audit_actions() == ["approve_proposal", "proposal_executed"]
    after = await desk.http.get(response.headers["location"])
    assert "The store change was carried out." in after.text
    assert f'data-proposal-id="{proposal.id}"' not in after.text  # no longer pending
    again = await desk.post(f"/admin/proposals/{proposal.id}/approve", {"back_to": "proposals"})
    assert again.status_code == 409
    assert "already decided" in again.text


async def test_declining_a_store_action_from_the_thread(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    proposal = await _pending_proposal(desk, pk)
    blank = await desk.post(f"/admin/proposals/{proposal.id}/reject", {"back_to": "thread"})
    assert blank.status_code == 303
    assert "say why" in (await desk.http.get(blank.headers["location"])).text
    response = await desk.post(
        f"/admin/proposals/{proposal.id}/reject",
        {"back_to": "thread", "reason": "worn shoes cannot be returned"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/messages/{pk}?done=proposal_rejected"
    async with desk.db.read(ALL_STORES) as session:
        row = await session.get(ProposedAction, proposal.id)
    assert row is not None
    assert row.status == "rejected"
    assert await desk.audit_actions() == ["reject_proposal"]
    page = await desk.http.get(response.headers["location"])
    assert "nothing changed in the store" in page.text
    assert "Approve: open a return" not in page.text
    missing = await desk.post("/admin/proposals/999/reject", {"reason": "x"})
    assert missing.status_code == 404
