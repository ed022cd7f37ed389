"""The suppression list in the admin: staff see why on the email, lift it there or by the API,
and never see or lift another store's entries; a read-only token only reads."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from app.admin.staff import create_api_token
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, DeliveryEventRecord, Reply, Suppression, utcnow
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import DeliveryState, ReplyStatus, TokenScope
from app.providers import Providers
from tests.admin.test_pages import STAFF_EMAIL, Desk, lena_return, log_in
from tests.admin.two_stores import AGENT_A, AGENT_B, TwoStores, bearer
from tests.builders import IN_DEFAULT_STORE


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


async def suppress(db: Database, address: str, *, store: StoreScope = IN_DEFAULT_STORE) -> int:
    async with db.write(store) as session:
        reply = (await session.execute(select(Reply).limit(1))).scalar_one_or_none()
        row = Suppression(
            address=address,
            kind=DeliveryState.BOUNCED,
            reason="550 5.1.1 no such user",
            reply_id=reply.id if reply else None,
            occurred_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        return row.id


async def test_the_email_page_says_why_and_staff_lift_it_there(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    entry = await suppress(desk.db, "lena@example.de")

    page = await desk.http.get(f"/admin/messages/{pk}")
    assert page.status_code == 200
    assert f'data-suppression="{entry}"' in page.text
    assert "No automated replies to" in page.text
    assert "a reply bounced for good" in page.text
    assert "550 5.1.1 no such user" in page.text

    lifted = await desk.post(f"/admin/suppressions/{entry}/lift", {"message": str(pk)})
    assert lifted.status_code == 303
    assert lifted.headers["location"] == f"/admin/messages/{pk}?done=lifted"
    page = await desk.http.get(lifted.headers["location"])
    assert "data-suppression" not in page.text
    assert "Lifted: automated replies go to this address again." in page.text
    assert "lift_suppression" in await desk.audit_actions()
    async with desk.db.read(ALL_STORES) as session:
        row = await session.get(Suppression, entry)
        assert row is not None
    assert row.lifted_by == STAFF_EMAIL

    again = await desk.post(f"/admin/suppressions/{entry}/lift", {"message": str(pk)})
    assert again.status_code == 409
    assert "was lifted already" in again.text


async def test_a_lift_without_the_csrf_field_is_refused(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    entry = await suppress(desk.db, "lena@example.de")
    response = await desk.http.post(f"/admin/suppressions/{entry}/lift", data={"message": str(pk)})
    assert response.status_code == 403
    async with desk.db.read(ALL_STORES) as session:
        row = await session.get(Suppression, entry)
        assert row is not None
        assert row.lifted_at is None


async def test_staff_see_and_lift_only_their_own_stores_entries(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    alpha = await suppress(db, "lena@example.de")
    beta = await suppress(db, "lena@example.de", store=StoreScope.of(stores.beta.id))
    ana, ben = await bearer(db, AGENT_A), await bearer(db, AGENT_B)

    listed = (await client.get("/admin/api/suppressions", headers=ana)).json()
    assert [entry["id"] for entry in listed] == [alpha]
    assert (
        await client.post(f"/admin/api/suppressions/{beta}/lift", headers=ana)
    ).status_code == 404
    response = await client.post(f"/admin/api/suppressions/{beta}/lift", headers=ben)
    assert response.status_code == 200
    assert response.json()["lifted_by"] == AGENT_B
    async with db.read(ALL_STORES) as session:
        still = await session.get(Suppression, alpha)
        assert still is not None
        assert still.lifted_at is None
        [audit] = (
            await session.execute(select(AuditEntry).where(AuditEntry.action == "lift_suppression"))
        ).scalars()
    assert (audit.store_id, audit.target_id) == (stores.beta.id, beta)
    # Lifted entries are listed only when asked for.
    beta_list = (await client.get("/admin/api/suppressions?lifted=true", headers=ben)).json()
    assert [entry["id"] for entry in beta_list] == [beta]
    assert (await client.get("/admin/api/suppressions", headers=ben)).json() == []


async def test_a_read_only_token_cannot_lift(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    entry = await suppress(db, "lena@example.de")
    async with db.write(ALL_STORES) as session:
        token = await create_api_token(session, email=AGENT_A, scope=TokenScope.READ)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/admin/api/suppressions", headers=headers)).status_code == 200
    response = await client.post(f"/admin/api/suppressions/{entry}/lift", headers=headers)
    assert response.status_code == 403


async def test_the_email_page_shows_the_replys_delivery_state_and_events(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    reply = await desk.reply_of(pk)
    async with desk.db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(Reply)
            .where(Reply.id == reply.id)
            .values(
                status=ReplyStatus.SENT,
                delivery_state=DeliveryState.BOUNCED,
                delivery_hard=True,
                delivery_at=utcnow(),
                delivery_reason="550 5.1.1 mailbox unknown",
            )
        )
        session.add(
            DeliveryEventRecord(
                provider="sendgrid",
                event_id="e1",
                kind=DeliveryState.BOUNCED,
                hard=True,
                recipient="lena@example.de",
                occurred_at=utcnow(),
                reason="550 5.1.1 mailbox unknown",
                reply_id=reply.id,
            )
        )

    page = await desk.http.get(f"/admin/messages/{pk}")
    assert 'data-delivery-state="bounced"' in page.text
    assert "(permanent)" in page.text
    assert page.text.count("550 5.1.1 mailbox unknown") >= 2  # The reply's state and its event.
