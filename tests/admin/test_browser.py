"""The staff page in a real browser: Playwright driving Debian's chromium against the real service.

The service runs under uvicorn on a free local port with its in-process worker, a migrated test
database and the log mail transport (one .eml file per email sent). A customer's email comes in
through the webhook; a staff member logs in, opens the draft, edits it and approves it; the
worker sends it once and the page shows it sent. Screenshots land in var/test-artifacts/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    async_playwright,
)

from app.admin.staff import create_staff
from app.agent.offline import OfflineModel
from app.db.engine import Database
from app.db.models import Message
from app.db.scope import ALL_STORES
from app.demo.deliveries import DemoWorld, load_samples
from app.demo.sendgrid_posts import SendGridPost, Transport, raw_mode_post
from app.main import create_app
from app.providers import Providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from tests.builders import IN_DEFAULT_STORE, make_eml, verified_transport
from tests.conftest import BASIC_AUTH, SettingsFactory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
SAMPLES = Path(__file__).resolve().parents[2] / "app" / "demo" / "samples"
STAFF_EMAIL = "ana@shop.test"
STAFF_PASSWORD = "correct horse battery staple"
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
WAIT_SECONDS = 20.0

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not at /usr/bin/chromium (`apt-get install chromium`; "
    ".ci/run installs it); Playwright's own browser download does not work here",
)


@dataclass(frozen=True)
class LiveService:
    """The running service and what the test checks behind it."""

    url: str
    db: Database
    outbox: Path

    async def deliver(
        self, eml: bytes, transport: Transport, settled: tuple[str, ...] = ("drafted",)
    ) -> int:
        """Post an email as SendGrid would; wait until the worker has drafted a reply."""
        return await self.deliver_post(raw_mode_post(eml, transport), settled)

    async def deliver_sample(self, name: str) -> int:
        """Post one of the demo's samples; wait until the worker has dealt with it."""
        [sample] = [s for s in load_samples(DemoWorld()) if s.name == name]
        settled = ("drafted", "needs_human", "skipped", "quarantined", "answered")
        post = SendGridPost(sample.post.body, sample.post.headers["content-type"])
        return await self.deliver_post(post, settled)

    async def deliver_post(self, post: SendGridPost, settled: tuple[str, ...]) -> int:
        async with httpx.AsyncClient(base_url=self.url) as http:
            response = await http.post(
                "/webhooks/sendgrid/inbound",
                content=post.body,
                headers={"content-type": post.content_type},
                auth=BASIC_AUTH,
            )
        assert response.status_code == 200, response.text
        pk: int = response.json()["id"]
        async with asyncio.timeout(WAIT_SECONDS):
            while (status := await self.status(pk)) not in settled:
                assert status in ("received", "ready", "planned"), status
                await asyncio.sleep(0.05)
        return pk

    async def status(self, message_pk: int) -> str:
        async with self.db.read(ALL_STORES) as session:
            message = await session.get(Message, message_pk)
            assert message is not None
            return message.status

    def sent(self) -> list[EmailMessage]:
        """Every email the mail transport recorded."""
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(self.outbox.glob("*.eml"))
        ]


@pytest.fixture
async def service(
    make_settings: SettingsFactory, db: Database, tmp_path: Path
) -> AsyncIterator[LiveService]:
    outbox = tmp_path / "sent"
    settings = make_settings(
        WORKER_MODE="inline", WORKER_POLL_SECONDS=0.1, MAIL_LOG_DIR=str(outbox)
    )
    providers = Providers(shop=DemoShop(), llm=OfflineModel(), mail=LogMailSender(outbox))
    app = create_app(settings, db=db, providers=providers)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on", ws="none")
    )
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not server.started:
                assert not serving.done(), "the server did not start"
                await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with db.write(IN_DEFAULT_STORE) as session:
            await create_staff(session, email=STAFF_EMAIL, password=STAFF_PASSWORD, name="Ana")
        yield LiveService(url=f"http://127.0.0.1:{port}", db=db, outbox=outbox)
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Browser) -> tuple[Page, list[str]]:
    """A laptop-sized page that records every request it makes and every console error."""
    page = await browser.new_page(viewport=LAPTOP)
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("console", lambda message: _console(message, seen))
    return page, seen


def _console(message: ConsoleMessage, seen: list[str]) -> None:
    # A 401 answer (the login form itself) is reported as a failed resource load: not an error.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        seen.append(f"console: {message.text}")


async def log_in(page: Page, service: LiveService) -> None:
    response = await page.goto(f"{service.url}/admin")
    assert response is not None
    assert response.status == 401
    await page.fill("#email", STAFF_EMAIL)
    await page.fill("#password", STAFF_PASSWORD)
    await page.click("form[action='/admin/login'] button[type=submit]")
    await page.wait_for_url(f"{service.url}/admin")
    assert (
        await page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
        == "rgb(29, 36, 51)"
    ), "the inline stylesheet was not applied (Content-Security-Policy?)"


def only_local(seen: list[str], service: LiveService) -> None:
    """The page fetched nothing from anywhere else and logged no error."""
    strays = [url for url in seen if not url.startswith(service.url)]
    assert strays == []


async def reply_status(page: Page) -> str | None:
    return await page.locator("[data-reply-status]").first.get_attribute("data-reply-status")


async def test_staff_log_in_edit_a_draft_approve_it_and_see_it_sent(
    service: LiveService, browser: Browser
) -> None:
    pk = await service.deliver(
        make_eml(
            sender="Lena Fischer <lena@example.de>",
            subject="Return order #1007",
            body="Hi, I would like to return my order #1007. The shoes do not fit.\n\nLena\n",
            message_id="<return-1007@example.de>",
        ),
        verified_transport("example.de"),
    )
    page, seen = await open_page(browser)
    await log_in(page, service)

    # The queue lists the draft; open it.
    row = page.locator(f"tr[data-message-id='{pk}']")
    await row.get_by_role("link", name="Return order #1007").click()
    await page.wait_for_url(f"{service.url}/admin/messages/{pk}?view=needs_action")
    assert await reply_status(page) == "draft"
    customer = page.locator("section.customer")
    assert await customer.get_by_text("Lena Fischer", exact=True).is_visible()
    # The order shows in the card's order table and again in the customer's timeline.
    assert await customer.get_by_role("cell", name="#1007", exact=True).is_visible()
    assert await customer.locator("ol").get_by_text("#1007", exact=True).is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "admin-thread-draft.png", full_page=True)

    # Edit the draft and approve it.
    editor = page.locator("#reply-text")
    drafted = await editor.input_value()
    assert "Thank you for letting us know." in drafted
    await editor.fill(
        drafted.replace(
            "Thank you for letting us know.", "Thank you, and sorry the shoes do not fit."
        )
    )
    await page.get_by_role("button", name="Approve and send").click()
    # Approve-and-next: this was the only email that needed action, so the inbox is next.
    await page.wait_for_url(f"{service.url}/admin?view=needs_action&done=sent")
    assert await page.get_by_role("status").inner_text() == (
        "Your reply passed the checks and is queued to be sent."
    )
    await page.goto(f"{service.url}/admin/messages/{pk}")

    # The in-process worker sends it; the page shows it sent once it has.
    async with asyncio.timeout(WAIT_SECONDS):
        while await reply_status(page) != "sent":
            await asyncio.sleep(0.2)
            await page.reload()
    assert await page.locator("#reply-h .pill").inner_text() == "sent"
    sent = service.sent()
    assert len(sent) == 1, "exactly one email is recorded by the sender"
    assert sent[0]["To"] == "lena@example.de"
    body = sent[0].get_body(preferencelist=("plain",))
    assert body is not None
    assert "sorry the shoes do not fit" in body.get_content()
    # The trace shows who approved it and the edit.
    await page.locator("summary", has_text="Audit").click()
    assert await page.get_by_role("cell", name="edit_and_send").is_visible()
    await page.screenshot(path=ARTIFACTS / "admin-thread.png", full_page=True)
    only_local(seen, service)


async def test_a_persian_thread_reads_right_to_left(service: LiveService, browser: Browser) -> None:
    pk = await service.deliver(
        (SAMPLES / "persian-order-status.eml").read_bytes(), verified_transport("example.ir")
    )
    page, seen = await open_page(browser)
    await log_in(page, service)
    await page.goto(f"{service.url}/admin/messages/{pk}")
    for selector in (".email-text", "#reply-text"):
        direction = await page.locator(selector).evaluate("e => getComputedStyle(e).direction")
        assert direction == "rtl", selector
    assert await page.locator("body").evaluate("e => getComputedStyle(e).direction") == "ltr"
    text = await page.locator(".email-text").inner_text()
    assert re.search(r"[\u0600-\u06FF]", text)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "admin-thread-fa.png", full_page=True)
    only_local(seen, service)


async def test_staff_read_and_try_the_api_docs_with_their_session(
    service: LiveService, browser: Browser
) -> None:
    page, seen = await open_page(browser)
    await log_in(page, service)
    await page.goto(f"{service.url}/admin/docs")
    # Swagger UI rendered the schema under the page's Content-Security-Policy.
    me = page.locator(".opblock-summary", has_text="/admin/api/me").first
    await me.wait_for(timeout=WAIT_SECONDS * 1000)
    assert await page.locator(".opblock").count() >= 14
    # "Try it out" reaches the API with the session's cookie.
    await me.click()
    await page.get_by_role("button", name="Try it out").click()
    await page.get_by_role("button", name="Execute").click()
    answer = page.locator(".live-responses-table tr.response .response-col_status").first
    await answer.wait_for(timeout=WAIT_SECONDS * 1000)
    assert (await answer.inner_text()).strip() == "200"
    assert STAFF_EMAIL in await page.locator(".live-responses-table").inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "admin-docs.png")
    only_local(seen, service)
    assert [entry for entry in seen if entry.startswith("console:")] == []
