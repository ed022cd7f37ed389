"""The stores page and store roles: owners change settings, agents cannot; the CLI's roles."""

from __future__ import annotations

import io
import sys

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.admin.memberships import grant
from app.admin.staff import account, create_staff
from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, PrivacyRequest
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyTopic, StoreRole
from app.db.stores import DEFAULT_STORE_ID, Store, StoreMembership
from tests.admin.two_stores import (
    AGENT_B,
    OWNER,
    PASSWORD,
    TwoStores,
    bearer,
    log_in,
)
from tests.builders import on_database

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
    monkeypatch.setattr(cli, "configure_logging", lambda *_args: None)
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


async def test_privacy_requests_are_per_store_and_exports_for_owners(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    async with db.write(ALL_STORES) as session:
        request = PrivacyRequest(
            store_id=stores.beta.id,
            topic=PrivacyTopic.DATA_REQUEST,
            export=b'{"format": "test"}',
        )
        session.add(request)
        await session.flush()
        request_id = request.id
    export = f"/admin/api/privacy-requests/{request_id}/export"
    agent_of_beta = await bearer(db, AGENT_B)
    listed = (await client.get("/admin/api/privacy-requests", headers=agent_of_beta)).json()
    assert [item["id"] for item in listed["items"]] == [request_id]
    assert (await client.get(export, headers=agent_of_beta)).status_code == 403
    owner_in_default = await bearer(db, OWNER)
    listed = (await client.get("/admin/api/privacy-requests", headers=owner_in_default)).json()
    assert listed["items"] == []
    assert (await client.get(export, headers=owner_in_default)).status_code == 404
    owner_in_beta = await bearer(db, OWNER, store="beta")
    downloaded = await client.get(export, headers=owner_in_beta)
    assert (downloaded.status_code, downloaded.content) == (200, b'{"format": "test"}')
