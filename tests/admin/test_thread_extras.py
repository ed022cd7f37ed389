"""The thread page around the email: the macro picker fills the composer, the timeline, actions."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import httpx
import pytest

from app.admin.auth import CSRF_HEADER
from app.config import Settings
from app.db.engine import Database
from app.providers import Providers
from tests.admin.test_macros import DHL, add_macro
from tests.admin.test_pages import Desk, lena_return, log_in
from tests.admin.workspace_desk import replies_of

COMPOSER = re.compile(r'<textarea id="reply-text"[^>]*>\n?(.*?)</textarea>', re.S)


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


def composer_text(page: str) -> str:
    found = COMPOSER.search(page)
    assert found, "the page has no composer"
    return html.unescape(found.group(1))


async def test_choosing_a_macro_fills_the_composer_with_this_emails_facts(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    macro = await add_macro(desk.db, "Parcel", "Order {{ order_number }}: {{ tracking_link }}")
    page = await desk.http.get(f"/admin/messages/{lena}")
    assert page.status_code == 200
    assert f'<option value="{macro}"' in page.text  # The picker lists it.

    chosen = await desk.http.get(f"/admin/messages/{lena}?macro={macro}")

    assert chosen.status_code == 200
    # Lena's email has a draft; the macro staff chose replaces it in the composer (the draft
    # itself is unchanged until they send or save).
    assert "Thank you" in composer_text(page.text)
    assert composer_text(chosen.text).strip() == f"Order #1007: {DHL}"


async def test_a_macro_fills_an_empty_composer_and_names_what_it_could_not_fill(
    desk: Desk,
) -> None:
    lena = await desk.seed(lena_return())
    [draft] = await replies_of(desk.db, lena)
    rejected = await desk.http.post(
        f"/admin/api/replies/{draft.id}/reject",
        json={"reason": "answering myself"},
        headers={CSRF_HEADER: desk.csrf},
    )
    assert rejected.status_code == 200, rejected.text
    macro = await add_macro(desk.db, "Parcel", "Order {{ order_number }}: {{ tracking_link }}")
    gap = await add_macro(desk.db, "Coupon", "Order {{ order_number }}, code {{ coupon }}")

    filled = await desk.http.get(f"/admin/messages/{lena}?macro={macro}")
    assert composer_text(filled.text).strip() == f"Order #1007: {DHL}"

    unfilled = await desk.http.get(f"/admin/messages/{lena}?macro={gap}")
    assert composer_text(unfilled.text).strip() == "Order #1007, code {{ coupon }}"
    assert "do not fill: {{coupon}}" in html.unescape(unfilled.text)

    unknown = await desk.http.get(f"/admin/messages/{lena}?macro=987654")
    assert "There is no macro 987654" in unknown.text


async def test_the_thread_shows_the_customers_history_link(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    page = await desk.http.get(f"/admin/messages/{lena}")
    assert "/admin?view=all&amp;customer=" in page.text


async def test_store_actions_name_the_customer_and_order_on_both_pages(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    for path in (f"/admin/messages/{lena}", "/admin/proposals"):
        page = await desk.http.get(path)
        assert page.status_code == 200
        assert "Lena Fischer" in page.text, path
        assert "#1007" in page.text, path
        assert "gid://" not in page.text.split('class="raw"')[0], path


class FormNesting(HTMLParser):
    """Records a <form> opened while another is open (browsers drop it and end the outer one)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.nested = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.nested += self.depth > 0
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.depth -= 1


async def test_no_form_on_the_thread_page_sits_inside_another(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    await add_macro(desk.db, "Parcel", "Order {{ order_number }}")
    page = await desk.http.get(f"/admin/messages/{lena}")
    assert 'class="macro-picker' in page.text
    forms = FormNesting()
    forms.feed(page.text)
    assert forms.nested == 0
    assert forms.depth == 0
