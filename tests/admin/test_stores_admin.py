"""Staff per store: two stores with the same customer, order numbers and products stay apart.

Emails go through the real webhook and worker; the second store's email (and everything the
worker made of it) is then moved into store `beta`, so both stores hold look-alike data: the
same sender, order #1007 and the same shoes. Staff of one store must never see the other's in
the JSON API, the pages, search, reports or ids; the switcher and the `X-Store` header move only
among a member's own stores; only owners change a store's settings.
"""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.admin.memberships import grant, revoke
from app.admin.staff import account, create_api_token, create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, Conversation, Job, Message, ProposedAction, Reply
from app.db.scope import ALL_STORES, scoped_tables
from app.db.statuses import StoreRole
from app.db.stores import DEFAULT_STORE_ID, Store, StoreMembership
from app.providers import Providers
from tests.admin.test_api import post_email, work
from tests.builders import make_eml

PASSWORD = "correct horse battery staple"
AGENT_A = "ana@alpha.test"
AGENT_B = "ben@beta.test"
OWNER = "olga@both.test"
T = TypeVar("T")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def return_request(subject: str, message_id: str) -> bytes:
    return make_eml(
        sender="Lena Fischer <lena@example.de>",
        subject=subject,
        body="Hello, the shoes from order #1007 are too small. Can I return them?\n",
        message_id=message_id,
    )


@dataclass
class Store_:
    """What one store holds after the worker ran: its email and what was made of it."""

    id: int
    slug: str
    message: int
    reply: int
    proposal: int
    job: int


@dataclass
class TwoStores:
    alpha: Store_
    beta: Store_
    gamma_id: int
    """A third store nobody in these tests is a member of."""


async def _store(db: Database, slug: str, name: str) -> int:
    async with db.write(ALL_STORES) as session:
        store = Store(
            slug=slug,
            name=name,
            shop_domain=f"{slug}.myshopify.com",
            support_email=f"support@{slug}.test",
            support_addresses=[f"support@{slug}.test"],
            credentials=b"sealed-secret-bytes",
        )
        session.add(store)
        await session.flush()
        return store.id


async def _made_of(db: Database, message_pk: int) -> tuple[int, int, int]:
    async with db.read(ALL_STORES) as session:
        reply = (
            await session.execute(select(Reply.id).where(Reply.message_id == message_pk))
        ).scalar_one()
        proposal = (
            await session.execute(
                select(ProposedAction.id).where(ProposedAction.message_id == message_pk)
            )
        ).scalar_one()
        job = (
            await session.execute(select(Job.id).where(Job.message_id == message_pk).limit(1))
        ).scalar_one()
    return reply, proposal, job


async def _move_to_store(db: Database, message_pk: int, store_id: int) -> None:
    """Everything of one email into another store, as routing will put it there."""
    async with db.write(ALL_STORES) as session:
        message = await session.get(Message, message_pk)
        assert message is not None
        conversation = message.conversation_id
        for table in scoped_tables():
            columns = table.__table__.columns  # type: ignore[attr-defined]
            if "message_id" in columns and table is not Message:
                await session.execute(
                    update(table)
                    .where(columns["message_id"] == message_pk)
                    .values(store_id=store_id)
                )
        await session.execute(
            update(Message).where(Message.id == message_pk).values(store_id=store_id)
        )
        await session.execute(
            update(Conversation).where(Conversation.id == conversation).values(store_id=store_id)
        )
        # Every job dead, so both stores have one to list and retry.
        await session.execute(update(Job).values(status="dead", last_error="gone"))


@pytest.fixture
async def stores(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> TwoStores:
    first = await post_email(
        client, return_request("Return for order #1007", "<r-1@example.de>"), "example.de"
    )
    second = await post_email(
        client, return_request("Returning shoes, order #1007", "<r-2@example.de>"), "example.de"
    )
    await work(db, settings, providers)
    beta = await _store(db, "beta", "Beta Boots")
    gamma = await _store(db, "gamma", "Gamma Gear")
    async with db.read(ALL_STORES) as session:
        one, two = (await session.get(Message, first)), (await session.get(Message, second))
        assert one is not None
        assert two is not None
        assert one.conversation_id != two.conversation_id
    alpha_rows, beta_rows = await _made_of(db, first), await _made_of(db, second)
    await _move_to_store(db, second, beta)
    async with db.write(ALL_STORES) as session:
        await create_staff(
            session, email=AGENT_A, password=PASSWORD, stores=["default"], role=StoreRole.AGENT
        )
        await create_staff(
            session, email=AGENT_B, password=PASSWORD, stores=["beta"], role=StoreRole.AGENT
        )
        # Slugs as the CLI passes them: repeated and comma-separated.
        await create_staff(session, email=OWNER, password=PASSWORD, stores=["default", "beta"])
    return TwoStores(
        alpha=Store_(DEFAULT_STORE_ID, "default", first, *alpha_rows),
        beta=Store_(beta, "beta", second, *beta_rows),
        gamma_id=gamma,
    )


async def bearer(db: Database, email: str, store: str | None = None) -> dict[str, str]:
    async with db.write(ALL_STORES) as session:
        token = await create_api_token(session, email=email, store=store)
    return {"Authorization": f"Bearer {token}"}


async def log_in(http: httpx.AsyncClient, email: str) -> str:
    response = await http.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    page = await http.get("/admin/stores")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)


def ids(items: list[dict[str, object]], key: str = "id") -> set[object]:
    return {item[key] for item in items}


# --- the JSON API -------------------------------------------------------------------------------


async def test_staff_of_one_store_see_only_its_data_in_the_api(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    for email, mine, theirs in (
        (AGENT_A, stores.alpha, stores.beta),
        (AGENT_B, stores.beta, stores.alpha),
    ):
        headers = await bearer(db, email)

        async def get(
            path: str, _headers: dict[str, str] = headers, **params: str
        ) -> httpx.Response:
            return await client.get(path, params=params, headers=_headers)

        assert ids((await get("/admin/api/messages")).json()["items"]) == {mine.message}
        for q in ("1007", "lena@example.de", "shoes", "Lena"):
            found = (await get("/admin/api/messages", q=q)).json()["items"]
            assert ids(found) == {mine.message}, q
        assert ids((await get("/admin/api/messages", status="draft")).json()["items"]) <= {
            mine.message
        }
        conversations = (await get("/admin/api/conversations", q="lena")).json()["items"]
        assert len(conversations) == 1
        assert ids((await get("/admin/api/proposals", status="")).json()) == {mine.proposal}
        assert mine.job in ids((await get("/admin/api/jobs", status="")).json())
        assert theirs.job not in ids((await get("/admin/api/jobs", status="")).json())
        trace = (await get(f"/admin/api/messages/{mine.message}")).json()
        assert ids(trace["replies"]) == {mine.reply}
        summary = (await get("/admin/api/summary")).json()
        assert summary["emails"] == 1
        assert sum(summary["by_intent"].values()) == 1
        me = (await get("/admin/api/me")).json()
        assert me["email"] == email


async def test_another_stores_ids_are_not_found(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    headers = await bearer(db, AGENT_A)
    beta = stores.beta
    assert (
        await client.get(f"/admin/api/messages/{beta.message}", headers=headers)
    ).status_code == 404
    for path, body in (
        (f"/admin/api/messages/{beta.message}/rerun", None),
        (f"/admin/api/replies/{beta.reply}/approve", {}),
        (f"/admin/api/replies/{beta.reply}/reject", {"reason": "no"}),
        (f"/admin/api/replies/{beta.reply}/resend", None),
        (f"/admin/api/proposals/{beta.proposal}/approve", None),
        (f"/admin/api/proposals/{beta.proposal}/reject", {"reason": "no"}),
        (f"/admin/api/jobs/{beta.job}/retry", None),
    ):
        response = await client.post(path, json=body, headers=headers)
        assert response.status_code == 404, (path, response.text)
    async with db.read(ALL_STORES) as session:
        reply = await session.get(Reply, beta.reply)
        proposal = await session.get(ProposedAction, beta.proposal)
        job = await session.get(Job, beta.job)
        audit = (await session.execute(select(AuditEntry))).scalars().all()
    assert reply is not None
    assert reply.status == "draft"
    assert proposal is not None
    assert proposal.status == "pending"
    assert job is not None
    assert job.status == "dead"
    assert audit == []


async def test_decisions_are_audited_in_their_store_and_token_actions_in_none(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    headers = await bearer(db, AGENT_B)
    response = await client.post(
        f"/admin/api/replies/{stores.beta.reply}/reject", json={"reason": "wrong"}, headers=headers
    )
    assert response.status_code == 200, response.text
    [token] = (await client.get("/admin/api/tokens", headers=headers)).json()
    assert (
        await client.delete(f"/admin/api/tokens/{token['id']}", headers=headers)
    ).status_code == 200
    async with db.read(ALL_STORES) as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars().all()
    assert [(row.action, row.store_id) for row in rows] == [
        ("reject_draft", stores.beta.id),
        ("revoke_api_token", None),
    ]


# --- tokens and the X-Store header --------------------------------------------------------------


async def test_a_token_works_in_its_own_store_only(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    to_beta = await bearer(db, OWNER, store="beta")
    listed = await client.get("/admin/api/messages", headers={**to_beta, "X-Store": "default"})
    # The store the token is bound to wins over the header.
    assert ids(listed.json()["items"]) == {stores.beta.message}
    first = await bearer(db, OWNER)
    assert ids((await client.get("/admin/api/messages", headers=first)).json()["items"]) == {
        stores.alpha.message
    }
    async with db.write(ALL_STORES) as session:
        with pytest.raises(ValueError, match="not a member"):
            await create_api_token(session, email=AGENT_A, store="beta")
    # Taken out of the store, the token no longer works at all.
    async with db.write(ALL_STORES) as session:
        owner, beta = await account(session, OWNER), await session.get(Store, stores.beta.id)
        assert beta is not None
        assert await revoke(session, owner, beta, by="test")
    assert (await client.get("/admin/api/messages", headers=to_beta)).status_code == 403


async def test_the_store_header_reaches_only_the_callers_stores(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    unbound = await bearer(db, OWNER)
    async with db.write(ALL_STORES) as session:
        # A token from before stores had one: it follows the header, among memberships.
        await session.execute(update(ApiToken).values(store_id=None))
    to_beta = await client.get("/admin/api/messages", headers={**unbound, "X-Store": "beta"})
    assert ids(to_beta.json()["items"]) == {stores.beta.message}
    for slug in ("gamma", "nowhere"):
        refused = await client.get("/admin/api/messages", headers={**unbound, "X-Store": slug})
        assert refused.status_code == 403
    agent = await bearer(db, AGENT_A)
    async with db.write(ALL_STORES) as session:
        await session.execute(update(ApiToken).values(store_id=None))
    refused = await client.get("/admin/api/messages", headers={**agent, "X-Store": "beta"})
    assert refused.status_code == 403


async def test_a_member_of_no_store_is_refused_everything(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    headers = await bearer(db, AGENT_A)
    csrf = await log_in(client, AGENT_A)
    async with db.write(ALL_STORES) as session:
        agent, alpha = await account(session, AGENT_A), await session.get(Store, DEFAULT_STORE_ID)
        assert alpha is not None
        await revoke(session, agent, alpha, by="test")
    for path in ("/admin/api/me", "/admin/api/messages", "/admin/api/stores"):
        assert (await client.get(path, headers=headers)).status_code == 403
    for path in ("/admin", "/admin/stores", f"/admin/messages/{stores.alpha.message}"):
        assert (await client.get(path)).status_code == 403
    switched = await client.post("/admin/store", data={"csrf_token": csrf, "store": "default"})
    assert switched.status_code == 403


# --- the pages and the switcher -----------------------------------------------------------------


async def test_the_pages_show_only_the_current_stores_data(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    await log_in(client, AGENT_A)
    queue = await client.get("/admin", params={"q": "1007"})
    assert f"/admin/messages/{stores.alpha.message}" in queue.text
    assert f"/admin/messages/{stores.beta.message}" not in queue.text
    assert (await client.get(f"/admin/messages/{stores.beta.message}")).status_code == 404
    proposals = (await client.get("/admin/proposals", params={"status": ""})).text
    assert f'data-proposal-id="{stores.alpha.proposal}"' in proposals
    assert f'data-proposal-id="{stores.beta.proposal}"' not in proposals
    # One store only: no switcher, and other stores are not even named.
    assert 'action="/admin/store"' not in queue.text
    assert "Beta Boots" not in queue.text


async def test_the_switcher_moves_only_among_the_members_stores(
    client: httpx.AsyncClient, db: Database, settings: Settings, stores: TwoStores
) -> None:
    csrf = await log_in(client, OWNER)
    queue = await client.get("/admin")
    assert 'action="/admin/store"' in queue.text
    assert "Beta Boots" in queue.text
    assert "Gamma Gear" not in queue.text
    assert f"/admin/messages/{stores.alpha.message}" in queue.text
    switched = await client.post("/admin/store", data={"csrf_token": csrf, "store": "beta"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/admin")
    queue = await client.get("/admin")
    assert f"/admin/messages/{stores.beta.message}" in queue.text
    assert f"/admin/messages/{stores.alpha.message}" not in queue.text
    assert '<a class="brand" href="/admin">Beta Boots' in queue.text
    # Another store's id, an unknown store or no CSRF token: refused, and no switch.
    for data in (
        {"csrf_token": csrf, "store": "gamma"},
        {"csrf_token": csrf, "store": str(stores.gamma_id)},
        {"csrf_token": csrf, "store": "nowhere"},
        {"store": "default"},
    ):
        assert (await client.post("/admin/store", data=data)).status_code == 403
    queue = await client.get("/admin")
    assert f"/admin/messages/{stores.beta.message}" in queue.text
    # Taken out of the chosen store, the session falls back to the member's first store.
    async with db.write(ALL_STORES) as session:
        owner, beta = await account(session, OWNER), await session.get(Store, stores.beta.id)
        assert beta is not None
        await revoke(session, owner, beta, by="test")
    queue = await client.get("/admin")
    assert f"/admin/messages/{stores.alpha.message}" in queue.text
    assert settings.STORE_NAME in queue.text


# --- the stores page ----------------------------------------------------------------------------


async def test_owners_change_a_stores_settings_and_agents_cannot(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    agent = await bearer(db, AGENT_B)
    listed = (await client.get("/admin/api/stores", headers=agent)).json()["stores"]
    assert [(s["slug"], s["role"], s["editable"]) for s in listed] == [("beta", "agent", False)]
    assert "credentials" not in str(listed)
    assert "sealed" not in str(listed)
    change = {"name": "Beta Boots & Co", "shadow_mode": True}
    refused = await client.patch("/admin/api/stores/beta", json=change, headers=agent)
    assert refused.status_code == 403
    owner = await bearer(db, OWNER)
    listed = (await client.get("/admin/api/stores", headers=owner)).json()["stores"]
    assert [(s["slug"], s["role"], s["editable"]) for s in listed] == [
        ("default", "owner", False),
        ("beta", "owner", True),
    ]
    assert listed[0]["note"]
    assert "environment" in listed[0]["note"]
    changed = await client.patch(
        "/admin/api/stores/beta",
        json={
            **change,
            "support_addresses": ["Help@Beta.test", "support@beta.test"],
            "auto_send_intents": ["order_status"],
            "auto_send_min_confidence": 0.9,
        },
        headers=owner,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["name"], body["shadow_mode"], body["auto_send_intents"]) == (
        "Beta Boots & Co",
        True,
        ["order_status"],
    )
    assert "help@beta.test" in body["support_addresses"]
    assert (
        await client.patch("/admin/api/stores/default", json=change, headers=owner)
    ).status_code == 409
    assert (
        await client.patch("/admin/api/stores/gamma", json=change, headers=owner)
    ).status_code == 404
    taken = await client.patch(
        "/admin/api/stores/beta", json={"support_addresses": ["support@gamma.test"]}, headers=owner
    )
    assert taken.status_code == 409
    async with db.read(ALL_STORES) as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars().all()
    assert (entry.action, entry.store_id, entry.staff_email) == (
        "update_store",
        stores.beta.id,
        OWNER,
    )
    assert entry.detail is not None
    assert entry.detail["name"]["after"] == "Beta Boots & Co"


async def test_the_stores_page_form_saves_for_owners_only(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    csrf = await log_in(client, OWNER)
    page = await client.get("/admin/stores")
    assert 'action="/admin/stores/beta"' in page.text
    assert 'action="/admin/stores/default"' not in page.text
    assert "sealed-secret-bytes" not in page.text
    form = {
        "csrf_token": csrf,
        "name": "Beta Shop",
        "support_addresses": "support@beta.test\nhelp@beta.test",
        "auto_send_intents": ["order_status", "product_question"],
        "auto_send_min_confidence": "0.85",
    }
    saved = await client.post("/admin/stores/beta", data=form)
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/stores?done=saved")
    async with db.read(ALL_STORES) as session:
        beta = await session.get(Store, stores.beta.id)
    assert beta is not None
    assert (beta.name, beta.shadow_mode, beta.auto_send_min_confidence) == (
        "Beta Shop",
        False,
        0.85,
    )
    assert beta.auto_send_intents == ["order_status", "product_question"]
    bad = await client.post("/admin/stores/beta", data={**form, "auto_send_min_confidence": "2"})
    assert bad.status_code == 422
    assert (await client.post("/admin/stores/gamma", data=form)).status_code == 404
    client.cookies.clear()
    csrf = await log_in(client, AGENT_B)
    page = await client.get("/admin/stores")
    assert 'action="/admin/stores/beta"' not in page.text
    refused = await client.post("/admin/stores/beta", data={**form, "csrf_token": csrf})
    assert refused.status_code == 403


# --- accounts and memberships -------------------------------------------------------------------


async def test_with_several_stores_a_new_account_must_name_its_stores(
    db: Database, stores: TwoStores
) -> None:
    async with db.write(ALL_STORES) as session:
        with pytest.raises(ValueError, match="several stores"):
            await create_staff(session, email="new@shop.test", password=PASSWORD)
        with pytest.raises(ValueError, match="no store nowhere"):
            await create_staff(
                session, email="new@shop.test", password=PASSWORD, stores=["nowhere"]
            )
        user = await create_staff(
            session,
            email="new@shop.test",
            password=PASSWORD,
            stores=["beta"],
            role=StoreRole.AGENT,
        )
        beta = await session.get(Store, stores.beta.id)
        assert beta is not None
        await grant(session, user, beta, StoreRole.OWNER, by="cli")
        # Granting the role it already has changes nothing and audits nothing.
        await grant(session, user, beta, StoreRole.OWNER, by="cli")
        entries = (await session.execute(select(AuditEntry))).scalars().all()
    assert [(e.action, e.store_id, e.detail) for e in entries] == [
        ("grant_store", stores.beta.id, {"email": "new@shop.test", "role": "owner", "was": "agent"})
    ]


# --- the command line ---------------------------------------------------------------------------


def cli_run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """`python -m app ...` in this process, with the password on standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    cli.main(list(argv))
    return capsys.readouterr().out


def on_database(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Use the database from a synchronous test (the CLI runs its own event loops)."""

    async def go() -> T:
        db = Database.connect(url)
        try:
            async with db.write(ALL_STORES) as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(go())


async def _roles(session: AsyncSession, email: str) -> list[tuple[str, str]]:
    user = await account(session, email)
    rows = await session.execute(
        select(Store.slug, StoreMembership.role)
        .join(StoreMembership, StoreMembership.store_id == Store.id)
        .where(StoreMembership.staff_id == user.id)
        .order_by(Store.id)
    )
    return [(slug, role.value) for slug, role in rows.all()]


def test_the_cli_gives_and_takes_store_roles(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    db: Database,
) -> None:
    # `db` only empties the database first (PostgreSQL keeps rows between tests otherwise).
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INBOUND_BASIC_AUTH_USER", "inbound")
    monkeypatch.setenv("INBOUND_BASIC_AUTH_PASSWORD", "inbound-password-123")
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    # Only the default store: a new account owns it, as a single-store deployment always had.
    cli_run(monkeypatch, capsys, "create-admin", "--email", "first@shop.test")
    assert on_database(database_url, lambda s: _roles(s, "first@shop.test")) == [
        ("default", "owner")
    ]

    async def add_beta(session: AsyncSession) -> None:
        session.add(Store(slug="beta", name="Beta", support_email="support@beta.test"))

    on_database(database_url, add_beta)
    with pytest.raises(SystemExit, match="several stores"):
        cli_run(monkeypatch, capsys, "create-staff", "--email", "second@shop.test")
    with pytest.raises(SystemExit, match="no store nowhere"):
        cli_run(monkeypatch, capsys, "create-staff", "--email", "x@shop.test", "--store", "nowhere")
    cli_run(
        monkeypatch,
        capsys,
        *("create-staff", "--email", "second@shop.test", "--store", "beta", "--role", "agent"),
    )
    assert on_database(database_url, lambda s: _roles(s, "second@shop.test")) == [("beta", "agent")]
    out = cli_run(
        monkeypatch,
        capsys,
        *("grant-store", "--email", "second@shop.test", "--store", "default,beta"),
    )
    assert "owner of default, beta" in out
    assert on_database(database_url, lambda s: _roles(s, "second@shop.test")) == [
        ("default", "owner"),
        ("beta", "owner"),
    ]
    token = cli_run(
        monkeypatch, capsys, "create-api-token", "--email", "second@shop.test", "--store", "beta"
    ).strip()

    async def token_store(session: AsyncSession) -> int | None:
        row = (await session.execute(select(ApiToken).where(ApiToken.prefix == token[:12]))).one()
        return row[0].store_id

    beta_id = on_database(database_url, lambda s: _store_id(s, "beta"))
    assert on_database(database_url, token_store) == beta_id
    cli_run(monkeypatch, capsys, "revoke-store", "--email", "second@shop.test", "--store", "beta")
    with pytest.raises(SystemExit, match="not a member"):
        cli_run(
            monkeypatch, capsys, "revoke-store", "--email", "second@shop.test", "--store", "beta"
        )
    assert on_database(database_url, lambda s: _roles(s, "second@shop.test")) == [
        ("default", "owner")
    ]

    async def audited(session: AsyncSession) -> list[tuple[str, int | None, str | None]]:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(e.action, e.store_id, (e.detail or {}).get("role")) for e in rows]

    assert on_database(database_url, audited) == [
        ("grant_store", DEFAULT_STORE_ID, "owner"),
        ("grant_store", beta_id, "owner"),
        ("revoke_store", beta_id, None),
    ]


async def _store_id(session: AsyncSession, slug: str) -> int:
    found: int = (await session.execute(select(Store.id).where(Store.slug == slug))).scalar_one()
    return found
