"""The autonomy page and API: measured figures per intent, and only an owner's click promotes."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.admin.staff import create_api_token, create_staff
from app.db.engine import Database
from app.db.models import AuditEntry, AutonomyChange
from app.db.scope import ALL_STORES
from app.db.statuses import StoreRole, TokenScope
from tests.replies.autonomy_seed import WRONG, history, seed

PASSWORD = "correct horse battery staple"
OWNER, AGENT = "olga@shop.test", "ana@shop.test"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
API = "/admin/api/autonomy"


@pytest.fixture
async def tokens(db: Database) -> dict[str, dict[str, str]]:
    """Bearer headers: the owner's, the agent's, and the owner's read-only token."""
    async with db.write(ALL_STORES) as session:
        for email, role in ((OWNER, StoreRole.OWNER), (AGENT, StoreRole.AGENT)):
            await create_staff(session, email=email, password=PASSWORD, role=role)
        made = {
            "owner": await create_api_token(session, email=OWNER),
            "agent": await create_api_token(session, email=AGENT),
            "read": await create_api_token(session, email=OWNER, scope=TokenScope.READ),
        }
    return {who: {"Authorization": f"Bearer {token}"} for who, token in made.items()}


async def browser(app: FastAPI, email: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    response = await client.post("/admin/login", data={"email": email, "password": PASSWORD})
    assert response.status_code == 303, response.text
    found = CSRF.search((await client.get("/admin/autonomy")).text)
    assert found is not None
    return client, found.group(1)


async def audit(db: Database) -> list[AuditEntry]:
    async with db.read(ALL_STORES) as session:
        found = await session.execute(
            select(AuditEntry).where(AuditEntry.target_type == "autonomy").order_by(AuditEntry.id)
        )
        return list(found.scalars())


async def test_the_api_shows_the_measured_rate_sample_and_proposal(
    http: httpx.AsyncClient, db: Database, tokens: dict[str, dict[str, str]]
) -> None:
    await seed(db, history(19, 20))
    await seed(db, [WRONG, *history(19, 19)], language="fa")
    response = await http.get(API, headers=tokens["read"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["window"], body["min_approved_rate"], body["start_level"]) == (20, 0.8, "auto")
    rows = {(row["intent"], row["language"]): row for row in body["intents"]}
    en, fa = rows["order_status", "en"], rows["order_status", "fa"]
    assert en["measured"] == {
        "sample": 20,
        "approved_as_is": 19,
        "edited": 1,
        "rejected": 0,
        "wrong_facts": 0,
        "rate": 0.95,
    }
    # At the starting level `auto` already: nothing to propose, it sends.
    assert (en["level"], en["configured"], en["sends"], en["proposed"]) == (
        "auto",
        False,
        True,
        False,
    )
    assert (fa["measured"]["wrong_facts"], fa["demotion"] is not None) == (1, True)


async def test_credentials_are_required_and_only_owners_change_levels(
    http: httpx.AsyncClient, db: Database, tokens: dict[str, dict[str, str]]
) -> None:
    path = f"{API}/order_status/en"
    assert (await http.get(API)).status_code == 401
    assert (await http.post(path, json={"level": "draft"})).status_code == 401
    for who in ("agent", "read"):
        refused = await http.post(path, json={"level": "draft"}, headers=tokens[who])
        assert refused.status_code == 403, who
    assert await audit(db) == []
    done = await http.post(
        path, json={"level": "draft", "reason": "trial"}, headers=tokens["owner"]
    )
    assert done.status_code == 200, done.text
    assert (done.json()["level"], done.json()["changed_by"]) == ("draft", OWNER)
    [entry] = await audit(db)
    assert (entry.action, entry.staff_email) == ("autonomy_set", OWNER)
    assert entry.detail == {
        "intent": "order_status",
        "language": "en",
        "from": "auto",
        "to": "draft",
        "reason": "trial",
        "measured": {
            "sample": 0,
            "approved_as_is": 0,
            "rejected": 0,
            "wrong_facts": 0,
            "rate": None,
        },
        "reply_id": None,
    }
    again = await http.post(path, json={"level": "draft"}, headers=tokens["owner"])
    assert again.status_code == 409
    assert (
        await http.post(f"{API}/nope/en", json={"level": "draft"}, headers=tokens["owner"])
    ).status_code == 404
    assert (
        await http.post(f"{API}/order_status/EN!", json={"level": "draft"}, headers=tokens["owner"])
    ).status_code == 404  # A malformed path parameter is a 404 here, like a path id.
    bad_level = await http.post(path, json={"level": "always"}, headers=tokens["owner"])
    assert bad_level.status_code == 422


async def test_promotion_needs_the_proposal_and_an_owner(
    http: httpx.AsyncClient, db: Database, tokens: dict[str, dict[str, str]]
) -> None:
    path = f"{API}/order_status/en"
    owner = tokens["owner"]
    assert (await http.post(path, json={"level": "shadow"}, headers=owner)).status_code == 200
    await seed(db, history(15, 20))
    refused = await http.post(path, json={"level": "auto"}, headers=owner)
    assert refused.status_code == 409
    assert "not proposed for auto" in refused.json()["detail"]
    await seed(db, [*history(19, 20)])
    listed = (await http.get(API, headers=owner)).json()["intents"]
    assert [(r["level"], r["proposed"]) for r in listed] == [("shadow", True)]
    assert (
        await http.post(path, json={"level": "auto"}, headers=tokens["agent"])
    ).status_code == 403
    promoted = await http.post(path, json={"level": "auto"}, headers=owner)
    assert promoted.status_code == 200, promoted.text
    assert (promoted.json()["level"], promoted.json()["sends"]) == ("auto", True)
    actions = [(e.action, e.staff_email) for e in await audit(db)]
    assert actions == [("autonomy_set", OWNER), ("autonomy_promote", OWNER)]
    async with db.read(ALL_STORES) as session:
        history_rows = list((await session.execute(select(AutonomyChange))).scalars())
    assert [(c.from_level, c.to_level) for c in history_rows] == [
        ("auto", "shadow"),
        ("shadow", "auto"),
    ]


async def test_the_page_promotes_with_the_owners_click_only(
    app: FastAPI, db: Database, tokens: dict[str, dict[str, str]]
) -> None:
    await seed(db, history(19, 20))
    owner, csrf = await browser(app, OWNER)
    agent, agent_csrf = await browser(app, AGENT)
    try:
        path = "/admin/autonomy/order_status/en"
        assert (await owner.post(path, data={"csrf_token": csrf, "level": "draft"})).headers[
            "location"
        ] == "/admin/autonomy?done=set"
        page = (await owner.get("/admin/autonomy")).text
        assert "ready for auto" in page
        assert "Promote to auto" in page
        assert "95%" in page
        agent_page = (await agent.get("/admin/autonomy")).text
        assert "ready for auto" in agent_page
        assert "Promote to auto" not in agent_page
        refused = await agent.post(path, data={"csrf_token": agent_csrf, "level": "auto"})
        assert refused.status_code == 403
        assert (await owner.post(path, data={"level": "auto"})).status_code == 403
        done = await owner.post(path, data={"csrf_token": csrf, "level": "auto"})
        assert (done.status_code, done.headers["location"]) == (
            303,
            "/admin/autonomy?done=promoted",
        )
        after = (await owner.get("/admin/autonomy?done=promoted")).text
        assert "Promoted: the service now sends it." in after
    finally:
        await owner.aclose()
        await agent.aclose()
    assert [e.action for e in await audit(db)] == ["autonomy_set", "autonomy_promote"]
