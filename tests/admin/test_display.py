"""Untrusted names on the staff pages are bidi-isolated: a right-to-left override in a file name,
a sender's name or a subject ends inside its own `<bdi>` and cannot reorder the page around it.

The email arrives as production mail does (a SendGrid post to the webhook, then the worker), and
every staff page the app serves is checked, so a page added later is covered too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup

from app.admin.staff import Staff, create_staff, start_session
from app.admin.templating import balanced_bidi, bdi, isolated, pretty
from app.config import Settings
from app.db.engine import Database
from app.demo.sendgrid_posts import raw_mode_post
from app.jobs.worker import Worker
from app.main import create_app
from app.providers import Providers
from app.replies.render import first_name
from tests.builders import IN_DEFAULT_STORE, http_routes, verified_transport
from tests.conftest import BASIC_AUTH

RLO = "\u202e"
PDI = "\u2069"
OPENERS = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c"}
OPENERS |= {"\u2066": PDI, "\u2067": PDI, "\u2068": PDI}
CONTROLS = set(OPENERS) | {"\u202c", PDI}
FILE_NAME = f"invoice{RLO}fdp.exe"  # shows as "invoiceexe.pdf" without isolation
SENDER_NAME = f"{PDI}{RLO}Support Team"  # a stray PDI first, to close an isolate around it
SUBJECT = f"Refund {RLO}tnegru"


def nested(text: str) -> bool:
    """Whether every direction control is closed, in order, by its own closer."""
    waiting: list[str] = []
    for char in text:
        if char in OPENERS:
            waiting.append(OPENERS[char])
        elif char in CONTROLS:
            if not waiting or waiting.pop() != char:
                return False
    return not waiting


def assert_isolated(html: str) -> None:
    """Every direction control on the page is inside a `<bdi>` (or the title's FSI…PDI)."""
    for content in re.findall(r"<bdi>(.*?)</bdi>", html, flags=re.S):
        assert nested(content), content
    rest = re.sub(r"<bdi>.*?</bdi>", "", html, flags=re.S)
    for title in re.findall(r"<title>(.*?)</title>", rest, flags=re.S):
        for span in re.findall(r"\u2068(.*)\u2069", title, flags=re.S):
            assert nested(span), span
        assert not CONTROLS & set(re.sub(r"\u2068.*\u2069", "", title, flags=re.S)), title
    rest = re.sub(r"<title>.*?</title>", "", rest, flags=re.S)
    leaked = [rest[max(0, i - 60) : i + 20] for i, c in enumerate(rest) if c in CONTROLS]
    assert not leaked, leaked


# --- the filters --------------------------------------------------------------------------------

controlled_text = st.text(alphabet=st.sampled_from([*CONTROLS, "a", "\u05d0", " ", "<", "&"]))


@given(text=controlled_text)
def test_balanced_bidi_nests_every_control_and_changes_nothing_else(text: str) -> None:
    balanced = balanced_bidi(text)

    assert nested(balanced)
    assert [c for c in balanced if c not in CONTROLS] == [c for c in text if c not in CONTROLS]
    assert balanced_bidi(balanced) == balanced
    if nested(text):
        assert balanced == text


@given(text=controlled_text)
def test_bdi_escapes_and_isolates(text: str) -> None:
    html = bdi(text)

    assert isinstance(html, Markup)
    assert html.startswith("<bdi>")
    assert html.endswith("</bdi>")
    assert "<" not in html[5:-6]
    assert_isolated(str(html))


def test_a_stray_closer_cannot_end_the_isolation_early() -> None:
    assert bdi(f"{PDI}{RLO}evil") == f"<bdi>{RLO}evil\u202c</bdi>"
    assert isolated(f"{PDI}{RLO}evil") == f"\u2068{RLO}evil\u202c{PDI}"
    assert bdi(None) == "<bdi></bdi>"


def test_pretty_json_shows_direction_controls_as_escapes() -> None:
    shown = pretty({"subject": SUBJECT, "name": "سارا"})

    assert RLO not in shown
    assert "\\u202e" in shown
    assert "سارا" in shown  # other text stays readable


# --- every staff page ---------------------------------------------------------------------------


def hostile_email() -> bytes:
    message = EmailMessage()
    message["From"] = f"{SENDER_NAME} <lena@example.de>"
    message["To"] = "support@shop.test"
    message["Subject"] = SUBJECT
    message["Message-ID"] = "<bidi-1@example.de>"
    message.set_content("Hi, please refund my order #1007. The invoice is attached.\n\nLena\n")
    message.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=FILE_NAME)
    return message.as_bytes()


@pytest.fixture
async def staff_http(
    settings: Settings, db: Database, providers: Providers
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, db=db, providers=providers)
    async with db.write(IN_DEFAULT_STORE) as session:
        user = await create_staff(session, email="ida@shop.test", password="long password 123")
        cookie, _ = await start_session(
            session, Staff(id=user.id, email=user.email, name="Ida"), hours=1
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        http.cookies.set("support_admin_session", cookie)
        yield http


async def seed(http: httpx.AsyncClient, settings: Settings, db: Database, p: Providers) -> int:
    post = raw_mode_post(hostile_email(), verified_transport("example.de"))
    response = await http.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    await Worker(db=db, settings=settings, providers=p).drain()
    pk: int = response.json()["id"]
    return pk


def staff_pages(settings: Settings, providers: Providers, message_pk: int) -> list[str]:
    """Every page a browser GETs under /admin (not the API, the login form or static files)."""
    app = create_app(settings, providers=providers)
    return [
        path.replace("/1", f"/{message_pk}") if "/messages/" in path else path
        for method, path in http_routes(app)
        if method == "GET"
        and (path == "/admin" or path.startswith("/admin/"))
        and not path.startswith(("/admin/api", "/admin/docs", "/admin/login"))
        and path != "/admin/openapi.json"
    ]


async def test_every_staff_page_isolates_the_names_it_shows(
    staff_http: httpx.AsyncClient, settings: Settings, db: Database, providers: Providers
) -> None:
    pk = await seed(staff_http, settings, db, providers)
    pages = staff_pages(settings, providers, pk)
    assert {"/admin", f"/admin/messages/{pk}", "/admin/proposals"} <= set(pages)

    shown: dict[str, str] = {}
    for path in pages:
        response = await staff_http.get(path)
        assert response.status_code == 200, path
        assert_isolated(response.text)
        shown[path] = response.text

    queue, thread = shown["/admin"], shown[f"/admin/messages/{pk}"]
    # The names are there, each inside its own <bdi> (the stray PDI dropped, the RLO closed).
    isolated_sender = f"<bdi>{RLO}Support Team\u202c</bdi>"
    isolated_subject = f"<bdi>{SUBJECT}\u202c</bdi>"
    assert isolated_sender in queue
    assert isolated_subject in queue
    assert isolated_sender in thread
    assert isolated_subject in thread
    assert f"<bdi>{FILE_NAME}\u202c</bdi> (<bdi>application/pdf</bdi>, 8 bytes)" in thread


def test_a_name_with_a_direction_control_is_not_used_in_the_greeting() -> None:
    # The draft is shown to staff (and sent): "Hello <override>Support," would reorder it.
    assert first_name(SENDER_NAME) is None
    assert first_name(f"Lena{RLO} Fischer") is None
    # Persian names keep their zero-width non-joiner: it is no direction control.
    assert first_name("\u0645\u0631\u06cc\u0645\u200c\u0633\u0627\u062f\u0627\u062a \u0627") == (
        "\u0645\u0631\u06cc\u0645\u200c\u0633\u0627\u062f\u0627\u062a"
    )
