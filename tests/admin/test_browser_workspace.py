"""The workspace in a real browser: the needs-action inbox, the keyboard, replying, closing.

Same setup as `tests.admin.test_browser` (uvicorn with the in-process worker, Debian's chromium,
the log mail transport). Staff log in to the needs-action inbox, move with j/k and open the
oldest email, assign it, add a note, reply to it (the verifier refuses an invented order
number; fixed, it is sent with the keyboard's `a`) and go on to the next one, confirm a reply to
an unverified sender, close a newsletter, and the inbox works at a phone's 390 px width.
Screenshots land in var/test-artifacts/ (the README's inbox picture is inbox.png).
"""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Browser, expect
from sqlalchemy import select

from app.admin.staff import create_staff
from app.db.scope import ALL_STORES
from app.db.workspace import Presence
from tests.admin.test_browser import (
    ARTIFACTS,
    STAFF_PASSWORD,
    WAIT_SECONDS,
    LiveService,
    browser,  # noqa: F401 - the browser fixture.
    log_in,
    only_local,
    open_page,
    pytestmark,  # noqa: F401 - skipped without chromium.
    service,  # noqa: F401 - the live service fixture.
)
from tests.admin.workspace_desk import INJECTION, NEWSLETTER, UNVERIFIED
from tests.builders import IN_DEFAULT_STORE


async def test_the_needs_action_workflow_with_the_keyboard(
    service: LiveService,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    held = await service.deliver_sample(INJECTION)
    newsletter = await service.deliver_sample(NEWSLETTER)
    unverified = await service.deliver_sample(UNVERIFIED)
    page, seen = await open_page(browser)
    await log_in(page, service)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # The inbox is the needs-action view, oldest first, with plain reasons and first lines.
    rows = page.locator("table.queue tbody tr")
    await expect(rows).to_have_count(2)
    assert await rows.nth(0).get_attribute("data-message-id") == str(held)
    assert await rows.nth(1).get_attribute("data-message-id") == str(unverified)
    await expect(rows.nth(0)).to_contain_text("the email tries to instruct the assistant")
    await expect(rows.nth(1)).to_contain_text("sender could not be verified")
    await expect(page.locator("[data-view=needs_action]")).to_contain_text("needs action 2")
    waited = rows.nth(0).locator("time")
    assert "UTC" not in (await waited.get_attribute("title") or "")  # local time, by the script
    await page.screenshot(path=ARTIFACTS / "inbox.png", full_page=True)

    # j/k move the selection, Enter opens the selected email.
    await page.keyboard.press("j")
    await page.keyboard.press("j")
    await expect(rows.nth(1)).to_have_class("selected")
    await page.keyboard.press("k")
    await expect(rows.nth(0)).to_have_class("selected")
    await page.keyboard.press("?")
    await expect(page.locator("#keys-help")).to_have_attribute("open", "")
    await page.keyboard.press("?")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{service.url}/admin/messages/{held}?view=needs_action")

    # Assign it to me, add a note.
    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.locator("section.work [data-assignee]")).to_have_text("Ana")
    await page.fill("#note-text", "Checked with the warehouse: 1004 left on Monday.")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.locator("section.notes .note-body")).to_have_text(
        "Checked with the warehouse: 1004 left on Monday."
    )

    # The composer starts from the draft, tall enough to show it all.
    editor = page.locator("#reply-text")
    drafted = await editor.input_value()
    assert drafted.strip()
    box = await editor.bounding_box()
    assert box is not None
    scroll_height = await editor.evaluate("e => e.scrollHeight")
    assert box["height"] + 4 >= scroll_height, "the draft box hides part of its text"
    # An invented order number is refused; the text comes back to be fixed.
    await editor.fill(drafted + "\nYour order #4242 has shipped.\n")
    await page.get_by_role("button", name="Approve and send").click()
    await page.wait_for_url(f"{service.url}/admin/messages/{held}?view=needs_action")
    await expect(page.locator(".problems")).to_contain_text("4242")
    assert "#4242" in await editor.input_value()
    await page.screenshot(path=ARTIFACTS / "composer-refused.png", full_page=True)
    await editor.fill(drafted)
    await editor.evaluate("e => e.blur()")
    # `a` approves and sends, then the next email of the view opens, with a way back.
    await page.keyboard.press("a")
    await page.wait_for_url(
        f"{service.url}/admin/messages/{unverified}?view=needs_action&done=sent&back={held}"
    )
    await expect(page.locator("[data-back]")).to_be_visible()

    # An unverified sender: the page asks first, then sends once confirmed.
    await page.get_by_role("button", name="Approve and send").click()
    await expect(page.locator("label.confirm.ask")).to_be_visible()
    await page.locator("input[name=confirm_unverified]").check()
    await page.get_by_role("button", name="Approve and send").click()
    await page.wait_for_url(f"{service.url}/admin?view=needs_action&done=sent")
    await expect(page.locator("table.queue tbody tr")).to_have_count(0)

    # Close the newsletter from the skipped view.
    await page.goto(f"{service.url}/admin?view=skipped")
    await page.locator(f"tr[data-message-id='{newsletter}'] td.subject a").click()
    await page.select_option("#close-reason", "no_reply_needed")
    await page.get_by_role("button", name="Close", exact=True).click()
    await page.wait_for_url(f"{service.url}/admin?view=skipped&done=closed")
    assert await service.status(newsletter) == "closed"

    # The worker sends both replies, once each.
    async with asyncio.timeout(WAIT_SECONDS):
        while len(service.sent()) < 2:
            await page.wait_for_timeout(100)
    assert sorted(str(m["To"]) for m in service.sent()) == [
        "jonas.weber@example.net",
        "tom@example.co.uk",
    ]
    only_local(seen, service)


async def test_the_inbox_and_an_email_work_at_a_phones_width(
    service: LiveService,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    held = await service.deliver_sample(INJECTION)
    page, seen = await open_page(browser)
    await page.set_viewport_size({"width": 390, "height": 844})
    await log_in(page, service)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for url, name in (
        (f"{service.url}/admin", "inbox-390.png"),
        (f"{service.url}/admin/messages/{held}", "thread-390.png"),
    ):
        await page.goto(url)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: the page is {width} px wide"
        await page.screenshot(path=ARTIFACTS / name, full_page=True)
    await expect(page.get_by_role("button", name="Approve and send")).to_be_visible()
    only_local(seen, service)


async def test_the_pages_heartbeat_tells_a_colleague_who_is_on_the_email(
    service: LiveService,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    held = await service.deliver_sample(INJECTION)
    async with service.db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="bo@shop.test", password=STAFF_PASSWORD, name="Bo")
    ana, seen = await open_page(browser)
    await log_in(ana, service)
    await ana.goto(f"{service.url}/admin/messages/{held}")
    # The script's first heartbeat is posted as the page loads (with the CSRF header).
    async with asyncio.timeout(WAIT_SECONDS):
        while not await present(service, held):
            await ana.wait_for_timeout(50)
    bo, _ = await open_page(browser)
    await bo.goto(f"{service.url}/admin/login")
    await bo.fill("#email", "bo@shop.test")
    await bo.fill("#password", STAFF_PASSWORD)
    await bo.click("form[action='/admin/login'] button[type=submit]")
    await bo.wait_for_url(f"{service.url}/admin")
    await expect(bo.locator(f"tr[data-message-id='{held}'] [data-presence]")).to_have_text(
        "Ana is viewing"
    )
    await bo.goto(f"{service.url}/admin/messages/{held}")
    await expect(bo.locator(".presence-banner")).to_contain_text("Ana is viewing this email")
    only_local(seen, service)


async def present(live: LiveService, message_pk: int) -> bool:
    async with live.db.read(ALL_STORES) as session:
        found = await session.execute(select(Presence).where(Presence.message_id == message_pk))
        return found.first() is not None


async def test_a_macro_starts_the_reply_and_the_reports_page_draws_its_chart(
    service: LiveService,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    held = await service.deliver_sample(INJECTION)
    page, seen = await open_page(browser)
    await log_in(page, service)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # A macro made on the macros page...
    await page.goto(f"{service.url}/admin/macros")
    await page.fill("#macro-name", "Looking into it")
    await page.fill(
        "#macro-body",
        "Thank you for writing to {{ store_name }}. We are looking into it and write again today.",
    )
    await page.locator("form.macro-form").get_by_role("button").click()
    await expect(page.locator("main")).to_contain_text("Looking into it")

    # ...starts the reply to a held email, filled, and is sent through the same checks.
    await page.goto(f"{service.url}/admin/messages/{held}")
    await page.select_option("#macro-pick", label="Looking into it")
    await page.get_by_role("button", name="Use macro").click()
    await page.wait_for_url(re.compile(rf".*/admin/messages/{held}\?macro=\d+"))
    text = await page.locator("#reply-text").input_value()
    assert text.startswith("Thank you for writing to "), text
    assert "{{" not in text
    confirm = page.locator("input[name=confirm_unverified]")
    if await confirm.count():
        await confirm.check()
    await page.get_by_role("button", name="Approve and send").click()
    await page.wait_for_url(re.compile(r".*done=sent.*"))
    async with asyncio.timeout(WAIT_SECONDS):
        while not service.sent():
            await page.wait_for_timeout(100)
    assert "We are looking into it" in str(service.sent()[0])

    # The reports page draws the period's days as a server-made SVG chart.
    await page.goto(f"{service.url}/admin/reports?days=7")
    chart = page.locator("svg.chart")
    await expect(chart).to_be_visible()
    assert await chart.locator("rect").count() >= 1
    await expect(page.locator("[data-figure=resolution-rate]")).to_be_visible()
    await page.screenshot(path=ARTIFACTS / "reports.png", full_page=True)
    only_local(seen, service)
