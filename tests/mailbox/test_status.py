"""The mailbox's state on /readyz and in the admin, and its webhook route (always refused)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.admin.staff import create_api_token, create_staff
from app.db.engine import Database
from app.db.models import utcnow
from app.intake.mailbox import checkpoint
from app.main import create_app
from app.providers import Providers
from tests.builders import IN_DEFAULT_STORE, make_eml
from tests.conftest import BASIC_AUTH, SettingsFactory

MAILBOX = {
    "MAILBOX_IMAP_HOST": "localhost",
    "MAILBOX_IMAP_SECURITY": "none",
    "MAILBOX_USER": "support@shop.test",
    "MAILBOX_PASSWORD": "secret",
}


async def get(
    make_settings: SettingsFactory, db: Database, providers: Providers, path: str, **headers: str
) -> httpx.Response:
    app = create_app(make_settings(**MAILBOX), db=db, providers=providers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path, headers=headers)


async def test_readyz_reports_the_mailbox_without_failing_on_it(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    response = await get(make_settings, db, providers, "/readyz")
    assert response.status_code == 200
    assert response.json()["mailbox"] == {"state": "not_started"}

    await checkpoint.take_lease(db, owner="w1", folder="INBOX", seconds=60)
    await checkpoint.report(
        db, owner="w1", state="reconnecting", error="ConnectionRefusedError", lease_seconds=60
    )
    response = await get(make_settings, db, providers, "/readyz")
    assert response.status_code == 200
    mailbox = response.json()["mailbox"]
    assert (mailbox["state"], mailbox["last_error"], mailbox["folder"]) == (
        "reconnecting", "ConnectionRefusedError", "INBOX"
    )  # fmt: skip


async def test_a_reader_that_stopped_writing_is_stale(db: Database) -> None:
    await checkpoint.take_lease(db, owner="w1", folder="INBOX", seconds=60)
    await checkpoint.report(db, owner="w1", state="connected", lease_seconds=60)
    now = await checkpoint.status(db, stale_after=240)
    later = await checkpoint.status(db, stale_after=240, now=utcnow() + timedelta(seconds=300))
    assert (now["state"], later["state"]) == ("connected", "stale")


async def test_readyz_says_nothing_of_a_mailbox_when_none_is_connected(
    client: httpx.AsyncClient,
) -> None:
    assert "mailbox" not in (await client.get("/readyz")).json()


async def test_staff_see_the_mailbox_state_in_the_admin(
    make_settings: SettingsFactory, db: Database, providers: Providers
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ava@shop.test", password="a-long-password!", name="Ava")
        token = await create_api_token(session, email="ava@shop.test", name="tests")
    unauthenticated = await get(make_settings, db, providers, "/admin/api/mailbox")
    assert unauthenticated.status_code == 401
    response = await get(
        make_settings, db, providers, "/admin/api/mailbox", Authorization=f"Bearer {token}"
    )
    assert response.status_code == 200
    assert response.json()["state"] == "not_started"
    await checkpoint.take_lease(db, owner="w1", folder="Support", seconds=60)
    await checkpoint.report(db, owner="w1", state="failed", error="LOGIN: NO", lease_seconds=60)
    response = await get(
        make_settings, db, providers, "/admin/api/mailbox", Authorization=f"Bearer {token}"
    )
    found = response.json()
    assert (found["state"], found["folder"], found["last_error"]) == (
        "failed",
        "Support",
        "LOGIN: NO",
    )


async def test_the_mailbox_webhook_route_refuses_every_post(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/webhooks/mailbox/inbound",
        content=make_eml(),
        headers={"content-type": "message/rfc822"},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 401


async def test_replies_go_through_the_mailbox_when_its_smtp_server_is_set(
    make_settings: SettingsFactory,
) -> None:
    from app.providers import build_providers

    settings = make_settings(
        MAILBOX_SMTP_HOST="smtp.example.com",
        MAILBOX_SMTP_PORT=587,
        MAILBOX_SMTP_SECURITY="starttls",
        MAILBOX_USER="support@shop.test",
        MAILBOX_PASSWORD="app-password",
    )
    providers = build_providers(settings)
    try:
        assert providers.mail.kind == "smtp"
    finally:
        await providers.aclose()
    plain = build_providers(make_settings())
    try:
        assert plain.mail.kind == "log"
    finally:
        await plain.aclose()
