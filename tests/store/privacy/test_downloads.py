"""Staff list the store's privacy requests (counts only) and download exports (audited)."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from app.admin.staff import create_api_token, create_staff
from app.db.base import utcnow
from app.db.engine import Database
from app.db.models import AuditEntry
from app.db.scope import ALL_STORES
from app.db.statuses import PrivacyTopic
from app.store.privacy.runner import process_due
from tests.builders import IN_DEFAULT_STORE
from tests.store.privacy.world import DEFAULT, SARA, add_request, add_rows, add_second_store

STAFF = "agent@shop.test"


async def bearer(db: Database) -> dict[str, str]:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password="correct horse battery", name="Ava")
        token = await create_api_token(session, email=STAFF, name="tests")
    return {"Authorization": f"Bearer {token}"}


async def test_staff_list_requests_and_download_an_export(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db)
    await add_rows(db, DEFAULT, SARA)
    exported = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    waiting = await add_request(db, DEFAULT, PrivacyTopic.SHOP_REDACT)
    await process_due(db, now=utcnow())

    listed = await client.get("/admin/api/privacy-requests", headers=headers)
    assert listed.status_code == 200
    items = {item["id"]: item for item in listed.json()["items"]}
    assert items[exported]["status"] == "done"
    assert items[exported]["has_export"] is True
    assert items[exported]["summary"]["exported"]["messages"] == 1
    assert items[waiting]["status"] == "pending"
    assert items[waiting]["has_export"] is False
    assert "not uninstalled" in items[waiting]["last_error"]
    # The list names no customer: no address, no export content.
    assert SARA.address not in listed.text

    download = await client.get(f"/admin/api/privacy-requests/{exported}/export", headers=headers)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert download.headers["content-disposition"] == (
        f'attachment; filename="privacy-request-{exported}.json"'
    )
    assert download.headers["cache-control"] == "no-store"
    document = json.loads(download.content)
    assert document["customer"]["addresses"] == [SARA.address]
    async with db.read(ALL_STORES) as session:
        [entry] = (
            await session.execute(
                select(AuditEntry).where(AuditEntry.action == "download_privacy_export")
            )
        ).scalars()
    assert (entry.staff_email, entry.target_id, entry.store_id) == (STAFF, exported, DEFAULT)
    assert entry.detail == {"bytes": len(download.content)}

    missing = await client.get(f"/admin/api/privacy-requests/{waiting}/export", headers=headers)
    assert missing.status_code == 404


async def test_without_credentials_nothing_is_listed_or_downloaded(
    client: httpx.AsyncClient, db: Database
) -> None:
    pk = await add_request(db, DEFAULT, PrivacyTopic.DATA_REQUEST, SARA)
    await process_due(db, now=utcnow())
    for path in ("/admin/api/privacy-requests", f"/admin/api/privacy-requests/{pk}/export"):
        assert (await client.get(path)).status_code == 401


async def test_another_stores_requests_are_not_seen(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = await bearer(db)
    second = await add_second_store(db)
    pk = await add_request(db, second, PrivacyTopic.DATA_REQUEST, SARA)
    await process_due(db, now=utcnow())

    listed = await client.get("/admin/api/privacy-requests", headers=headers)
    assert listed.json() == {"items": []}
    download = await client.get(f"/admin/api/privacy-requests/{pk}/export", headers=headers)
    assert download.status_code == 404
