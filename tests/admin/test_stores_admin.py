"""Staff per store: staff of one store never see another's data, in the API or the pages.

The data is `tests.admin.two_stores`: the same customer, order numbers and products in both.
The switcher and the `X-Store` header move only among a member's own stores.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from app.admin.memberships import revoke
from app.admin.shops import NO_SHOP
from app.admin.staff import account, create_api_token
from app.config import Settings
from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, Job, ProposedAction, Reply
from app.db.scope import ALL_STORES
from app.db.stores import DEFAULT_STORE_ID, Store
from tests.admin.two_stores import (
    AGENT_A,
    AGENT_B,
    OWNER,
    TwoStores,
    bearer,
    ids,
    log_in,
)

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
    # The default store's Shopify connection is never asked about another store's customer.
    thread = await client.get(f"/admin/messages/{stores.beta.message}")
    assert thread.status_code == 200
    assert NO_SHOP in thread.text
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


async def test_a_store_change_never_runs_against_another_stores_shop(
    client: httpx.AsyncClient, db: Database, stores: TwoStores
) -> None:
    headers = await bearer(db, AGENT_B)
    response = await client.post(
        f"/admin/api/proposals/{stores.beta.proposal}/approve", headers=headers
    )
    assert (response.status_code, response.json()["detail"]) == (409, NO_SHOP)
    async with db.read(ALL_STORES) as session:
        proposal = await session.get(ProposedAction, stores.beta.proposal)
    assert proposal is not None
    assert proposal.status == "pending"
