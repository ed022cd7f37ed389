"""Macros: saved replies per store and language, managed by page and API, filled from the
email's own tool facts by a substitution that never runs staff text as a template."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from app.admin.macro_fill import FilledMacro, fill_macro, macros_for, substitute
from app.admin.review import NotFound
from app.admin.staff import create_api_token
from app.admin.templating import environment
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, Message, ToolCall
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import TokenScope
from app.db.stores import DEFAULT_STORE_ID
from app.db.workspace import Macro
from app.demo.sendgrid_posts import Transport
from app.providers import Providers
from tests.admin.test_pages import STAFF_EMAIL, Desk, lena_return, log_in
from tests.admin.two_stores import AGENT_A, AGENT_B, TwoStores, bearer
from tests.builders import IN_DEFAULT_STORE, make_eml

DHL = "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161094013389"
PARCEL = "Hi {{ customer_name }}, order {{order_number}} is {{ order_status }}: {{ tracking_link }}"


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


async def api_token(db: Database, scope: TokenScope = TokenScope.REVIEW) -> dict[str, str]:
    async with db.write(ALL_STORES) as session:
        token = await create_api_token(session, email=STAFF_EMAIL, scope=scope)
    return {"Authorization": f"Bearer {token}"}


async def add_macro(
    db: Database, name: str, body: str, *, language: str = "", store_id: int = DEFAULT_STORE_ID
) -> int:
    async with db.write(StoreScope.of(store_id)) as session:
        macro = Macro(name=name, language=language, body=body, created_by="t@shop.test")
        session.add(macro)
        await session.flush()
        return macro.id


async def add_profile_call(db: Database, message_pk: int, name: str) -> None:
    """A `get_customer_profile` result in the email's latest run, as the agent would store it."""
    async with db.write(IN_DEFAULT_STORE) as session:
        latest = (
            await session.execute(
                select(ToolCall.agent_run_id)
                .where(ToolCall.message_id == message_pk)
                .order_by(ToolCall.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        session.add(
            ToolCall(
                message_id=message_pk,
                agent_run_id=latest,
                tool="get_customer_profile",
                arguments={},
                outcome="ok",
                summary="2 orders, loyal",
                result={
                    "name": name,
                    "orders_count": 2,
                    "amount_spent": {"amount": "227.00", "currency": "EUR"},
                    "customer_since": "2025-01-10",
                    "customer_for_days": 500,
                    "first_order_on": "2025-01-10",
                    "last_order_on": "2026-11-25",
                    "days_since_last_order": 3,
                    "segment": "loyal",
                },
                duration_ms=1.0,
            )
        )


async def fill(
    db: Database, macro_pk: int, message_pk: int, store_id: int = DEFAULT_STORE_ID
) -> FilledMacro:
    async with db.read(StoreScope.of(store_id)) as session:
        return await fill_macro(
            session, store_id=store_id, macro_id=macro_pk, message_pk=message_pk, store_name="Demo"
        )


# --- the substitution ---------------------------------------------------------------------------


def test_only_known_names_are_replaced_and_nothing_executes() -> None:
    body = (
        "{{ 7*7 }} {% if true %}yes{% endif %} {{ customer_name.__class__ }} "
        "{{customer_name}} {{ coupon }} {# c #}"
    )
    text, missing = substitute(body, {"customer_name": "Lena"})
    assert text == (
        "{{ 7*7 }} {% if true %}yes{% endif %} {{ customer_name.__class__ }} "
        "Lena {{ coupon }} {# c #}"
    )
    assert missing == ["7*7", "customer_name.__class__", "coupon"]


def test_a_fact_that_looks_like_a_placeholder_is_not_expanded_again() -> None:
    text, missing = substitute(
        "{{ customer_name }} / {{ order_number }}",
        {"customer_name": "{{ order_number }}", "order_number": "#1"},
    )
    assert text == "{{ order_number }} / #1"
    assert missing == []


def test_a_known_variable_without_a_fact_stays_visible() -> None:
    text, missing = substitute("Order {{ order_number }}", {})
    assert text == "Order {{ order_number }}"
    assert missing == ["order_number"]


# --- filling from the email's facts -------------------------------------------------------------


async def test_a_macro_is_filled_from_the_emails_own_tool_results(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    await add_profile_call(desk.db, lena, "Lena Fischer")
    macro = await add_macro(desk.db, "Parcel", PARCEL + "\n{{ store_name }}")
    filled = await fill(desk.db, macro, lena)
    assert filled.text == f"Hi Lena, order #1007 is delivered: {DHL}\nDemo"
    assert filled.missing == []
    assert filled.language == ""


async def test_another_emails_facts_never_reach_the_macro(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    other = await desk.seed(
        make_eml(
            sender="Max Weber <max@example.de>",
            subject="Hello",
            body="Just saying hello.\n",
            message_id="<hello@example.de>",
        )
    )
    # Lena's profile belongs to her email's run only.
    await add_profile_call(desk.db, lena, "Lena Fischer")
    macro = await add_macro(desk.db, "Parcel", PARCEL)
    filled = await fill(desk.db, macro, other)
    assert "Lena" not in filled.text
    assert "#1007" not in filled.text
    assert set(filled.missing) >= {"customer_name", "order_number", "tracking_link"}


async def test_an_unverified_sender_gets_no_customer_facts(desk: Desk) -> None:
    spoof = await desk.seed(
        make_eml(
            sender="Lena Fischer <lena@example.de>",
            subject="Where is my order #1007?",
            body="Where is my order #1007?\n",
            message_id="<spoof@example.de>",
        ),
        Transport(envelope_from="lena@example.de", spf="fail", dkim="none"),
    )
    # Even a stored result (it cannot happen today) is not used for an unverified sender.
    await add_profile_call(desk.db, spoof, "Lena Fischer")
    macro = await add_macro(desk.db, "Parcel", PARCEL + " {{ store_name }}")
    filled = await fill(desk.db, macro, spoof)
    assert filled.text.endswith(" Demo")
    assert "Lena" not in filled.text
    assert filled.missing == ["customer_name", "order_number", "order_status", "tracking_link"]


async def test_the_emails_language_picks_the_macro(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    any_language = await add_macro(desk.db, "Parcel", "Order {{ order_number }}")
    german = await add_macro(desk.db, "Parcel", "Bestellung {{ order_number }}", language="de")
    await add_macro(desk.db, "Thanks", "Thank you!")
    await add_macro(desk.db, "Merci", "Merci !", language="fr")

    async with desk.db.read(IN_DEFAULT_STORE) as session:
        english = await macros_for(session, store_id=DEFAULT_STORE_ID, language="en")
        german_list = await macros_for(session, store_id=DEFAULT_STORE_ID, language="de-AT")
        unknown = await macros_for(session, store_id=DEFAULT_STORE_ID, language="")
    assert [(m.name, m.language) for m in english] == [("Parcel", ""), ("Thanks", "")]
    assert [(m.name, m.language) for m in german_list] == [("Parcel", "de"), ("Thanks", "")]
    assert len(unknown) == 4

    assert (await fill(desk.db, any_language, lena)).text == "Order #1007"
    async with desk.db.write(IN_DEFAULT_STORE) as session:
        message = await session.get(Message, lena)
        assert message is not None
        message.reply_plan = {**(message.reply_plan or {}), "language": "de"}
    filled = await fill(desk.db, any_language, lena)
    assert filled.macro_id == german
    assert filled.language == "de"
    assert filled.text == "Bestellung #1007"
    # The status is in the customer's language too.
    status = await add_macro(desk.db, "Status", "{{ order_status }}", language="de")
    assert (await fill(desk.db, status, lena)).text == "zugestellt"


async def test_a_deactivated_or_foreign_macro_is_not_filled(desk: Desk) -> None:
    lena = await desk.seed(lena_return())
    macro = await add_macro(desk.db, "Parcel", PARCEL)
    async with desk.db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(Macro).where(Macro.id == macro).values(is_active=False))
    with pytest.raises(NotFound):
        await fill(desk.db, macro, lena)
    active = await add_macro(desk.db, "Other", PARCEL)
    with pytest.raises(NotFound):
        await fill(desk.db, active, lena + 1000)


# --- the JSON API -------------------------------------------------------------------------------


async def test_the_api_creates_lists_changes_and_deactivates(desk: Desk) -> None:
    headers = await api_token(desk.db)
    http = desk.http
    created = await http.post(
        "/admin/api/macros",
        json={"name": " Where is  my parcel ", "language": "en", "body": PARCEL + " {{ x }}"},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    macro = created.json()
    assert macro["name"] == "Where is my parcel"
    assert macro["language"] == "en"
    assert macro["is_active"] is True
    assert macro["created_by"] == STAFF_EMAIL
    assert macro["unknown_variables"] == ["x"]
    pk = macro["id"]

    again = await http.post(
        "/admin/api/macros",
        json={"name": "Where is my parcel", "language": "en", "body": "x"},
        headers=headers,
    )
    assert again.status_code == 409
    assert "already a macro" in again.json()["detail"]
    bad = await http.post(
        "/admin/api/macros", json={"name": "x", "language": "xx", "body": "x"}, headers=headers
    )
    assert bad.status_code == 422
    empty = await http.post(
        "/admin/api/macros", json={"name": "x", "language": "", "body": "  "}, headers=headers
    )
    assert empty.status_code == 422

    listed = await http.get("/admin/api/macros", headers=headers)
    assert [m["id"] for m in listed.json()] == [pk]
    assert (await http.get(f"/admin/api/macros/{pk}", headers=headers)).json()["body"] == (
        PARCEL + " {{ x }}\n"
    )

    put = await http.put(
        f"/admin/api/macros/{pk}",
        json={"name": "Parcel", "language": "", "body": "Hello {{ customer_name }}"},
        headers=headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["language"] == ""
    assert put.json()["updated_by"] == STAFF_EMAIL
    patched = await http.patch(
        f"/admin/api/macros/{pk}", json={"body": "Hi {{ customer_name }}"}, headers=headers
    )
    assert patched.json()["name"] == "Parcel"
    assert patched.json()["body"] == "Hi {{ customer_name }}\n"
    assert (
        await http.patch(f"/admin/api/macros/{pk}", json={}, headers=headers)
    ).status_code == 422

    deleted = await http.delete(f"/admin/api/macros/{pk}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["is_active"] is False
    active = await http.get("/admin/api/macros?active=true", headers=headers)
    assert active.json() == []
    assert len((await http.get("/admin/api/macros", headers=headers)).json()) == 1
    revived = await http.patch(f"/admin/api/macros/{pk}", json={"is_active": True}, headers=headers)
    assert revived.json()["is_active"] is True
    assert (await http.get("/admin/api/macros/999999", headers=headers)).status_code == 404

    async with desk.db.read(ALL_STORES) as session:
        actions = list(
            (
                await session.execute(
                    select(AuditEntry.action)
                    .where(AuditEntry.target_type == "macro")
                    .order_by(AuditEntry.id)
                )
            ).scalars()
        )
    assert actions == [
        "create_macro",
        "edit_macro",
        "edit_macro",
        "deactivate_macro",
        "activate_macro",
    ]


async def test_the_api_fills_a_macro_for_an_email(desk: Desk) -> None:
    headers = await api_token(desk.db)
    lena = await desk.seed(lena_return())
    macro = await add_macro(desk.db, "Parcel", "Order {{ order_number }}, {{ coupon }}")
    filled = await desk.http.get(f"/admin/api/macros/{macro}/fill?message={lena}", headers=headers)
    assert filled.status_code == 200, filled.text
    assert filled.json() == {
        "macro_id": macro,
        "name": "Parcel",
        "language": "",
        "text": "Order #1007, {{ coupon }}",
        "missing": ["coupon"],
    }
    missing = await desk.http.get(f"/admin/api/macros/{macro}/fill?message=99999", headers=headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/api/macros"),
        ("POST", "/admin/api/macros"),
        ("GET", "/admin/api/macros/1"),
        ("PUT", "/admin/api/macros/1"),
        ("PATCH", "/admin/api/macros/1"),
        ("DELETE", "/admin/api/macros/1"),
        ("GET", "/admin/api/macros/1/fill?message=1"),
        ("GET", "/admin/api/macros/variables"),
    ],
)
async def test_the_api_refuses_without_credentials(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, path, json={"name": "x", "body": "x"})
    assert response.status_code == 401


async def test_a_read_token_reads_but_cannot_write(desk: Desk) -> None:
    headers = await api_token(desk.db, TokenScope.READ)
    pk = await add_macro(desk.db, "Parcel", PARCEL)
    assert (await desk.http.get("/admin/api/macros", headers=headers)).status_code == 200
    body = {"name": "New", "language": "", "body": "x"}
    assert (
        await desk.http.post("/admin/api/macros", json=body, headers=headers)
    ).status_code == 403
    assert (
        await desk.http.patch(f"/admin/api/macros/{pk}", json={"body": "y"}, headers=headers)
    ).status_code == 403
    assert (await desk.http.delete(f"/admin/api/macros/{pk}", headers=headers)).status_code == 403


async def test_the_session_api_needs_the_csrf_header(desk: Desk) -> None:
    body = {"name": "New", "language": "", "body": "x"}
    refused = await desk.http.post("/admin/api/macros", json=body)
    assert refused.status_code == 403
    made = await desk.http.post("/admin/api/macros", json=body, headers={"X-CSRF-Token": desk.csrf})
    assert made.status_code == 200


async def test_each_store_sees_and_changes_only_its_own_macros(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    alpha, beta = await bearer(db, AGENT_A), await bearer(db, AGENT_B)
    body = {"name": "Parcel", "language": "", "body": "Order {{ order_number }}"}
    made = await client.post("/admin/api/macros", json=body, headers=alpha)
    assert made.status_code == 200
    pk = made.json()["id"]
    # The same name is free in another store.
    assert (await client.post("/admin/api/macros", json=body, headers=beta)).status_code == 200

    beta_list = (await client.get("/admin/api/macros", headers=beta)).json()
    assert pk not in {m["id"] for m in beta_list}
    assert len(beta_list) == 1
    assert (await client.get(f"/admin/api/macros/{pk}", headers=beta)).status_code == 404
    changed = await client.patch(f"/admin/api/macros/{pk}", json={"body": "x"}, headers=beta)
    assert changed.status_code == 404
    assert (await client.delete(f"/admin/api/macros/{pk}", headers=beta)).status_code == 404
    # Beta's staff cannot fill alpha's macro, nor fill their own with alpha's email.
    own = beta_list[0]["id"]
    assert (
        await client.get(f"/admin/api/macros/{pk}/fill?message={stores.beta.message}", headers=beta)
    ).status_code == 404
    assert (
        await client.get(
            f"/admin/api/macros/{own}/fill?message={stores.alpha.message}", headers=beta
        )
    ).status_code == 404
    filled = await client.get(
        f"/admin/api/macros/{own}/fill?message={stores.beta.message}", headers=beta
    )
    assert filled.json()["text"] == "Order #1007\n"
    async with db.read(ALL_STORES) as session:
        row = await session.get(Macro, pk)
        assert row is not None
    assert row.body == "Order {{ order_number }}\n"
    assert row.is_active


# --- the page -----------------------------------------------------------------------------------


async def test_the_page_creates_lists_edits_and_deactivates(desk: Desk) -> None:
    page = await desk.http.get("/admin/macros")
    assert page.status_code == 200
    assert "No macros yet." in page.text
    form = {"name": "Parcel", "language": "de", "body": "Hallo {{ customer_name }}"}

    no_csrf = await desk.http.post("/admin/macros", data=form)
    assert no_csrf.status_code == 403
    created = await desk.post("/admin/macros", form)
    assert created.status_code == 303
    assert created.headers["location"] == "/admin/macros?done=created"
    listed = await desk.http.get(created.headers["location"])
    assert "The macro is saved." in listed.text
    assert "Hallo {{ customer_name }}" in listed.text
    async with desk.db.read(IN_DEFAULT_STORE) as session:
        pk = (await session.execute(select(Macro.id))).scalar_one()
    assert f'data-macro-id="{pk}"' in listed.text

    duplicate = await desk.post("/admin/macros", form)
    assert duplicate.status_code == 409
    assert "already a macro" in duplicate.text
    assert "Hallo {{ customer_name }}" in duplicate.text
    invalid = await desk.post("/admin/macros", {"name": "", "language": "", "body": "<b>x</b>"})
    assert invalid.status_code == 422
    assert "&lt;b&gt;x&lt;/b&gt;" in invalid.text

    editing = await desk.http.get(f"/admin/macros?edit={pk}")
    assert f'data-editing="{pk}"' in editing.text
    saved = await desk.post(f"/admin/macros/{pk}", {**form, "body": "Hi {{ order_number }}"})
    assert saved.headers["location"] == "/admin/macros?done=saved"
    off = await desk.post(f"/admin/macros/{pk}/active", {"active": "no"})
    assert off.headers["location"] == "/admin/macros?done=deactivated"
    listed = await desk.http.get("/admin/macros")
    assert "Hi {{ order_number }}" in listed.text
    assert "deactivated" in listed.text
    assert (await desk.http.get("/admin/macros?edit=99999")).status_code == 404


# --- the composer's picker ----------------------------------------------------------------------


def test_the_picker_is_a_get_form_listing_the_macros() -> None:
    template = environment.get_template("thread/_macro_picker.html")
    macros = [
        Macro(id=3, name="Parcel <b>", language="de", body="x"),
        Macro(id=5, name="Thanks", language="", body="y"),
    ]
    html = template.render(message={"id": 42}, picker_macros=macros, chosen_macro=5)
    assert 'method="get"' in html
    assert 'action="/admin/messages/42"' in html
    assert 'name="macro"' in html
    assert '<option value="3">' in html
    assert '<option value="5" selected>' in html
    assert "Parcel &lt;b&gt;" in html
    assert "/admin/macros" in html
    empty = template.render(message={"id": 42}, picker_macros=[], chosen_macro=None)
    assert 'name="macro"' not in empty
    assert template.render(message={"id": 42}).strip() == ""
