"""A store's owners manage its staff on the Staff page and with `/admin/api/staff`.

Agents and read-only tokens are refused, another store's members are not found, the last
active owner cannot be lost, and a generated password is shown once and written nowhere else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.admin.memberships import memberships_of
from app.admin.staff import account, create_api_token, create_staff
from app.db.engine import Database
from app.db.models import AuditEntry
from app.db.scope import ALL_STORES
from app.db.statuses import StoreRole, TokenScope
from app.db.stores import DEFAULT_STORE_ID, Store

PASSWORD = "correct horse battery staple"
OWNER = "olga@shop.test"
AGENT = "ana@shop.test"
BETA_ONLY = "ben@beta.test"
BOTH = "bo@both.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ONCE = re.compile(r"<code[^>]*data-once-password>([^<]+)</code>")


@dataclass
class People:
    """The accounts of these tests by email, with their ids."""

    ids: dict[str, int]
    beta_id: int


@pytest.fixture
async def people(db: Database) -> People:
    """The default store (an owner, an agent), store `beta` (one member) and one in both."""
    async with db.write(ALL_STORES) as session:
        beta = Store(
            slug="beta",
            name="Beta Boots",
            shop_domain="beta.myshopify.com",
            support_email="support@beta.test",
            support_addresses=["support@beta.test"],
        )
        session.add(beta)
        await session.flush()
        ids = {}
        for email, stores, role in (
            (OWNER, ["default"], StoreRole.OWNER),
            (AGENT, ["default"], StoreRole.AGENT),
            (BETA_ONLY, ["beta"], StoreRole.OWNER),
            (BOTH, ["default", "beta"], StoreRole.AGENT),
        ):
            user = await create_staff(
                session, email=email, password=PASSWORD, stores=stores, role=role
            )
            ids[email] = user.id
    return People(ids=ids, beta_id=beta.id)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[Browsers]:
    async with Browsers(app) as browsers:
        yield browsers


class Browsers:
    """One HTTP client per person, so each keeps its own session cookie."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.clients: list[httpx.AsyncClient] = []

    async def __aenter__(self) -> Browsers:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.clients:
            await client.aclose()

    def new(self) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )
        self.clients.append(client)
        return client

    async def logged_in(
        self, email: str, password: str = PASSWORD
    ) -> tuple[httpx.AsyncClient, str]:
        """A browser with a session of `email`, and the session's CSRF token."""
        client = self.new()
        response = await log_in(client, email, password)
        assert response.status_code == 303, response.text
        page = await client.get("/admin/stores")
        found = CSRF.search(page.text)
        assert found is not None
        return client, found.group(1)


async def log_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/admin/login", data={"email": email, "password": password})


async def bearer(
    db: Database, email: str, scope: TokenScope = TokenScope.REVIEW, store: str | None = None
) -> dict[str, str]:
    async with db.write(ALL_STORES) as session:
        token = await create_api_token(session, email=email, scope=scope, store=store)
    return {"Authorization": f"Bearer {token}"}


async def audit_entries(db: Database) -> list[AuditEntry]:
    async with db.read(ALL_STORES) as session:
        found = await session.execute(
            select(AuditEntry)
            .where(AuditEntry.action.not_in(["login", "logout"]))
            .order_by(AuditEntry.id)
        )
        return list(found.scalars())


async def roles(db: Database, email: str) -> dict[str, StoreRole]:
    async with db.read(ALL_STORES) as session:
        user = await account(session, email)
        return {m.slug: m.role for m in await memberships_of(session, user.id)}


# --- creating and adding ------------------------------------------------------------------------


async def test_an_owner_creates_an_agent_who_logs_in_with_the_password_shown_once(
    db: Database, people: People, browser: Browsers
) -> None:
    owner, csrf = await browser.logged_in(OWNER)
    page = await owner.get("/admin/staff")
    assert page.status_code == 200
    for email in (OWNER, AGENT, BOTH):
        assert email in page.text
    assert BETA_ONLY not in page.text

    refused = await owner.post("/admin/staff", data={"email": "new@shop.test", "role": "agent"})
    assert refused.status_code == 403
    created = await owner.post(
        "/admin/staff",
        data={"csrf_token": csrf, "email": " New@Shop.test ", "name": "Nia", "role": "agent"},
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    found = ONCE.search(created.text)
    assert found is not None
    password = found.group(1)
    assert len(password) >= 12
    assert await roles(db, "new@shop.test") == {"default": StoreRole.AGENT}
    # The page shown next never shows the password again.
    assert password not in (await owner.get("/admin/staff")).text

    newcomer = browser.new()
    assert (await log_in(newcomer, "new@shop.test", password)).status_code == 303
    me = await newcomer.get("/admin/api/me")
    assert me.json()["email"] == "new@shop.test"
    # An agent: the staff page is not theirs.
    assert (await newcomer.get("/admin/staff")).status_code == 403

    (entry,) = [e for e in await audit_entries(db) if e.action == "create_staff"]
    assert entry.staff_email == OWNER
    assert entry.store_id == DEFAULT_STORE_ID
    assert entry.target_id is not None
    assert entry.detail == {"email": "new@shop.test", "role": "agent"}
    assert password not in repr(entry.detail)


async def test_the_api_creates_accounts_and_adds_existing_ones_without_touching_passwords(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    headers = await bearer(db, OWNER)
    created = await client.post(
        "/admin/api/staff",
        json={"email": "api@shop.test", "name": "Api", "role": "owner"},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["created"] is True
    assert body["member"]["role"] == "owner"
    assert body["member"]["email"] == "api@shop.test"
    assert "password_hash" not in created.text
    assert (await log_in(browser.new(), "api@shop.test", body["password"])).status_code == 303

    # An account of another store joins this one with its own password, unchanged.
    added = await client.post(
        "/admin/api/staff", json={"email": BETA_ONLY, "role": "agent"}, headers=headers
    )
    assert added.status_code == 200
    assert added.json()["created"] is False
    assert added.json()["password"] is None
    assert await roles(db, BETA_ONLY) == {"default": StoreRole.AGENT, "beta": StoreRole.OWNER}
    assert (await log_in(browser.new(), BETA_ONLY, PASSWORD)).status_code == 303
    grant = [e for e in await audit_entries(db) if e.action == "grant_store"][-1]
    assert grant.staff_email == OWNER
    assert grant.detail == {"email": BETA_ONLY, "role": "agent", "was": None}

    again = await client.post(
        "/admin/api/staff", json={"email": AGENT, "role": "owner"}, headers=headers
    )
    assert again.status_code == 409
    assert await roles(db, AGENT) == {"default": StoreRole.AGENT}
    bad = await client.post(
        "/admin/api/staff", json={"email": "not-an-address", "role": "agent"}, headers=headers
    )
    assert bad.status_code == 422
    listed = await client.get("/admin/api/staff", headers=headers)
    emails = [m["email"] for m in listed.json()["members"]]
    assert emails == sorted([OWNER, AGENT, BOTH, "api@shop.test", BETA_ONLY])
    assert "password" not in listed.text


# --- who may -------------------------------------------------------------------------------------


async def test_agents_are_refused_the_page_and_the_api(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    agent, csrf = await browser.logged_in(AGENT)
    page = await agent.get("/admin/staff")
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "owners" in page.text
    assert 'href="/admin/staff"' not in (await agent.get("/admin")).text
    target = people.ids[BOTH]
    for path in ("/admin/staff", f"/admin/staff/{target}/role", f"/admin/staff/{target}/disable"):
        response = await agent.post(path, data={"csrf_token": csrf, "role": "owner"})
        assert response.status_code == 403, path
    headers = await bearer(db, AGENT)
    assert (await client.get("/admin/api/staff", headers=headers)).status_code == 403
    for method, path in writes(target):
        response = await client.request(method, path, json=BODIES.get(path), headers=headers)
        assert response.status_code == 403, path
    # An owner of one store is an agent in a store where they are one (`X-Store`).
    owner_both = await bearer(db, BOTH)
    response = await client.get("/admin/api/staff", headers={**owner_both, "X-Store": "beta"})
    assert response.status_code == 403
    assert await roles(db, BOTH) == {"default": StoreRole.AGENT, "beta": StoreRole.AGENT}
    assert await audit_entries(db) == []


def writes(target: int) -> list[tuple[str, str]]:
    return [
        ("POST", "/admin/api/staff"),
        ("POST", f"/admin/api/staff/{target}/role"),
        ("POST", f"/admin/api/staff/{target}/disable"),
        ("POST", f"/admin/api/staff/{target}/password"),
        ("DELETE", f"/admin/api/staff/{target}/membership"),
    ]


BODIES: dict[str, object] = {"/admin/api/staff": {"email": "x@shop.test", "role": "owner"}}


async def test_a_read_token_lists_but_changes_nothing(
    client: httpx.AsyncClient, db: Database, people: People
) -> None:
    headers = await bearer(db, OWNER, scope=TokenScope.READ)
    assert (await client.get("/admin/api/staff", headers=headers)).status_code == 200
    target = people.ids[AGENT]
    for method, path in writes(target):
        body = BODIES.get(path, {"role": "owner"})
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, path
    assert await roles(db, AGENT) == {"default": StoreRole.AGENT}
    assert await audit_entries(db) == []


async def test_without_credentials_everything_is_refused(
    client: httpx.AsyncClient, people: People
) -> None:
    target = people.ids[AGENT]
    assert (await client.get("/admin/api/staff")).status_code == 401
    for method, path in writes(target):
        assert (await client.request(method, path, json={})).status_code == 401, path
    page = await client.get("/admin/staff")
    assert page.status_code == 401
    assert 'action="/admin/login"' in page.text
    posted = await client.post(f"/admin/staff/{target}/disable", data={"csrf_token": "x"})
    assert posted.status_code == 401


# --- roles and the last owner -------------------------------------------------------------------


async def test_an_owner_changes_roles_on_the_page_and_in_the_api(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    owner, csrf = await browser.logged_in(OWNER)
    agent = people.ids[AGENT]
    changed = await owner.post(
        f"/admin/staff/{agent}/role", data={"csrf_token": csrf, "role": "owner"}
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == "/admin/staff?done=role"
    assert "The role is changed." in (await owner.get(changed.headers["location"])).text
    assert await roles(db, AGENT) == {"default": StoreRole.OWNER}
    unknown = await owner.post(
        f"/admin/staff/{agent}/role", data={"csrf_token": csrf, "role": "boss"}
    )
    assert unknown.status_code == 422

    headers = await bearer(db, OWNER)
    back = await client.post(
        f"/admin/api/staff/{agent}/role", json={"role": "agent"}, headers=headers
    )
    assert back.status_code == 200
    assert back.json()["role"] == "agent"
    assert await roles(db, AGENT) == {"default": StoreRole.AGENT}
    grants = [(e.staff_email, e.detail) for e in await audit_entries(db)]
    assert grants == [
        (OWNER, {"email": AGENT, "role": "owner", "was": "agent"}),
        (OWNER, {"email": AGENT, "role": "agent", "was": "owner"}),
    ]


async def test_the_last_active_owner_cannot_demote_remove_or_disable_themselves(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    me = people.ids[OWNER]
    headers = await bearer(db, OWNER)
    for method, path, body in (
        ("POST", f"/admin/api/staff/{me}/role", {"role": "agent"}),
        ("DELETE", f"/admin/api/staff/{me}/membership", None),
        ("POST", f"/admin/api/staff/{me}/disable", None),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 409, path
        assert "last active owner" in response.json()["detail"]
    owner, csrf = await browser.logged_in(OWNER)
    page = await owner.post(f"/admin/staff/{me}/remove", data={"csrf_token": csrf})
    assert page.status_code == 409
    assert "last active owner" in page.text
    assert await roles(db, OWNER) == {"default": StoreRole.OWNER}

    # A second owner who is disabled does not count.
    agent = people.ids[AGENT]
    promoted = await client.post(
        f"/admin/api/staff/{agent}/role", json={"role": "owner"}, headers=headers
    )
    assert promoted.status_code == 200
    assert (
        await client.post(f"/admin/api/staff/{agent}/disable", headers=headers)
    ).status_code == 200
    refused = await client.post(
        f"/admin/api/staff/{me}/role", json={"role": "agent"}, headers=headers
    )
    assert refused.status_code == 409

    # With another active owner, stepping down works (and the staff page is then refused).
    both = people.ids[BOTH]
    await client.post(f"/admin/api/staff/{both}/role", json={"role": "owner"}, headers=headers)
    stepped = await owner.post(
        f"/admin/staff/{me}/role", data={"csrf_token": csrf, "role": "agent"}
    )
    assert stepped.status_code == 303
    assert stepped.headers["location"] == "/admin"
    assert await roles(db, OWNER) == {"default": StoreRole.AGENT}
    assert (await owner.get("/admin/staff")).status_code == 403
    assert (await client.get("/admin/api/staff", headers=headers)).status_code == 403


# --- disabling and passwords ---------------------------------------------------------------------


async def test_disabling_ends_sessions_revokes_tokens_and_refuses_login(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    agent, _ = await browser.logged_in(AGENT)
    agent_token = await bearer(db, AGENT)
    assert (await client.get("/admin/api/me", headers=agent_token)).status_code == 200
    owner, csrf = await browser.logged_in(OWNER)
    target = people.ids[AGENT]
    done = await owner.post(f"/admin/staff/{target}/disable", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/staff?done=disabled"
    page = (await owner.get(done.headers["location"])).text
    assert "The account is disabled" in page
    assert "disabled</span>" in page

    assert (await agent.get("/admin/api/me")).status_code == 401
    assert (await client.get("/admin/api/me", headers=agent_token)).status_code == 401
    assert (await log_in(browser.new(), AGENT, PASSWORD)).status_code == 401
    (entry,) = [e for e in await audit_entries(db) if e.action == "disable_staff"]
    assert entry.staff_email == OWNER
    assert entry.detail == {"email": AGENT, "sessions": 1, "tokens": 1}
    again = await client.post(f"/admin/api/staff/{target}/disable", headers=await bearer(db, OWNER))
    assert again.status_code == 409


async def test_a_password_reset_ends_sessions_and_the_old_password_fails(
    client: httpx.AsyncClient,
    db: Database,
    people: People,
    browser: Browsers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    agent, _ = await browser.logged_in(AGENT)
    target = people.ids[AGENT]
    reset = await client.post(
        f"/admin/api/staff/{target}/password", headers=await bearer(db, OWNER)
    )
    assert reset.status_code == 200, reset.text
    password = reset.json()["password"]
    assert reset.json()["sessions_ended"] == 1
    assert reset.json()["member"]["email"] == AGENT
    assert (await agent.get("/admin/api/me")).status_code == 401
    assert (await log_in(browser.new(), AGENT, PASSWORD)).status_code == 401
    assert (await log_in(browser.new(), AGENT, password)).status_code == 303

    # On the page the new password is shown once, on the answer to the form.
    owner, csrf = await browser.logged_in(OWNER)
    page = await owner.post(f"/admin/staff/{target}/password", data={"csrf_token": csrf})
    assert page.status_code == 200
    found = ONCE.search(page.text)
    assert found is not None
    second = found.group(1)
    assert (await log_in(browser.new(), AGENT, second)).status_code == 303

    entries = [e for e in await audit_entries(db) if e.action == "reset_password"]
    assert [(e.staff_email, e.target_id) for e in entries] == [(OWNER, target)] * 2
    for entry in await audit_entries(db):
        assert password not in repr(entry.detail)
        assert second not in repr(entry.detail)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert password not in logged
    assert second not in logged


# --- stores -------------------------------------------------------------------------------------


async def test_an_owner_cannot_reach_members_of_other_stores(
    client: httpx.AsyncClient, db: Database, people: People, browser: Browsers
) -> None:
    headers = await bearer(db, OWNER)
    stranger = people.ids[BETA_ONLY]
    for method, path in writes(stranger)[1:]:
        response = await client.request(method, path, json={"role": "agent"}, headers=headers)
        assert response.status_code == 404, path
    owner, csrf = await browser.logged_in(OWNER)
    for action in ("role", "remove", "disable", "password"):
        response = await owner.post(
            f"/admin/staff/{stranger}/{action}", data={"csrf_token": csrf, "role": "agent"}
        )
        assert response.status_code == 404, action
    assert await roles(db, BETA_ONLY) == {"beta": StoreRole.OWNER}
    assert (await log_in(browser.new(), BETA_ONLY, PASSWORD)).status_code == 303

    # A member of this store who also works in beta: their role here is this store's to
    # change, but their account (password, disabling) is not, since it also reads beta's mail.
    shared = people.ids[BOTH]
    for path in (f"/admin/api/staff/{shared}/password", f"/admin/api/staff/{shared}/disable"):
        response = await client.post(path, headers=headers)
        assert response.status_code == 403, path
        assert "stores you do not own" in response.json()["detail"]
    assert (await log_in(browser.new(), BOTH, PASSWORD)).status_code == 303
    changed = await client.post(
        f"/admin/api/staff/{shared}/role", json={"role": "owner"}, headers=headers
    )
    assert changed.status_code == 200
    removed = await client.delete(f"/admin/api/staff/{shared}/membership", headers=headers)
    assert removed.status_code == 200
    assert removed.json() == {"id": shared, "email": BOTH}
    assert await roles(db, BOTH) == {"beta": StoreRole.AGENT}
    revoked = [e for e in await audit_entries(db) if e.action == "revoke_store"]
    assert [(e.staff_email, e.store_id, e.detail) for e in revoked] == [
        (OWNER, DEFAULT_STORE_ID, {"email": BOTH})
    ]


async def test_removing_on_the_page_keeps_the_account(
    db: Database, people: People, browser: Browsers
) -> None:
    owner, csrf = await browser.logged_in(OWNER)
    removed = await owner.post(
        f"/admin/staff/{people.ids[AGENT]}/remove", data={"csrf_token": csrf}
    )
    assert removed.status_code == 303
    assert removed.headers["location"] == "/admin/staff?done=removed"
    page = (await owner.get(removed.headers["location"])).text
    assert "Removed from this store" in page
    assert AGENT not in page
    assert await roles(db, AGENT) == {}
    # The account still exists and logs in, but is a member of no store.
    assert (await log_in(browser.new(), AGENT, PASSWORD)).status_code == 303
