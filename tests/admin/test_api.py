"""The admin JSON API: staff review drafts and proposals, read traces and figures.

Emails go through the real webhook and worker (demo store, offline model, log transport);
staff act through the API with a bearer token, as an integration would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.admin.staff import create_api_token, create_staff, staff_for_token, start_session
from app.config import Settings
from app.db.engine import Database
from app.db.models import AuditEntry, Job, Message, ProposedAction, Reply, utcnow
from app.db.scope import ALL_STORES
from app.jobs.worker import Worker
from app.providers import Providers
from app.replies.autonomy import is_wrong_fact
from tests.admin.conftest import PASSWORD, STAFF
from tests.builders import IN_DEFAULT_STORE, http_routes, make_eml
from tests.conftest import SettingsFactory
from tests.fakes import post_email


@pytest.fixture
async def staff_api(http: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    http.headers["Authorization"] = f"Bearer {token}"
    return http


async def work(db: Database, settings: Settings, providers: Providers) -> None:
    await Worker(db=db, settings=settings, providers=providers).drain()


STOCK_QUESTION = make_eml(
    sender="Marco Rossi <marco.rossi@example.it>",
    subject="Linen shirt in stock?",
    body="Hi, is the linen shirt in stock in size L, and how much is it?\n\nMarco\n",
    message_id="<stock-1@example.it>",
)
RETURN_REQUEST = make_eml(
    sender="Lena Fischer <lena@example.de>",
    subject="Return for order #1007",
    body="Hello, the shoes from order #1007 are too small. Can I return them?\n",
    message_id="<return-1007@example.de>",
)
ORDER_STATUS = make_eml(
    sender="Sara Ahmadi <sara.ahmadi@example.com>",
    subject="Where is my order #1001?",
    body="Hi, where is my order #1001?\n\nSara\n",
    message_id="<status-1001@example.com>",
)


async def draft_of(db: Database, message_pk: int) -> Reply:
    async with db.read(ALL_STORES) as session:
        reply = (
            await session.execute(
                select(Reply).where(Reply.message_id == message_pk).order_by(Reply.id.desc())
            )
        ).scalar()
    assert reply is not None
    return reply


def sent_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox").glob("*.eml"))


# --- Authentication --------------------------------------------------------------------------


def admin_api_routes(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, path) for m, path in http_routes(app) if path.startswith("/admin/api")]


async def test_every_admin_api_route_refuses_requests_without_credentials(
    app: FastAPI, http: httpx.AsyncClient, db: Database
) -> None:
    routes = admin_api_routes(app)
    assert len(routes) >= 11
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=PASSWORD)
        revoked = await create_api_token(session, email=STAFF)
    async with db.write(IN_DEFAULT_STORE) as session:
        from app.db.models import ApiToken

        await session.execute(update(ApiToken).values(revoked_at=utcnow()))
    refusals: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer ssm_not-a-token"},
        {"Authorization": f"Bearer {revoked}"},
    ]
    for headers in refusals:
        for method, path in routes:
            response = await http.request(method, path, headers=headers, json={"reason": "x"})
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["detail"]


async def test_a_token_acts_as_its_staff_member_and_only_its_hash_is_stored(
    staff_api: httpx.AsyncClient, token: str, db: Database
) -> None:
    response = await staff_api.get("/admin/api/me")
    assert response.json() == {"email": STAFF, "name": "Ava", "scope": "review"}
    from app.db.models import ApiToken

    async with db.read(ALL_STORES) as session:
        [row] = (await session.execute(select(ApiToken))).scalars()
        assert token not in (row.token_hash, row.prefix)
        assert (await staff_for_token(session, token)) is not None


async def test_the_pages_session_cookie_needs_the_csrf_header_to_change_anything(
    http: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(http, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    reply = await draft_of(db, pk)
    async with db.write(IN_DEFAULT_STORE) as session:
        user = await create_staff(session, email=STAFF, password=PASSWORD)
        from app.admin.staff import Staff

        cookie, csrf = await start_session(
            session, Staff(id=user.id, email=user.email, name=""), hours=1
        )
    http.cookies.set("support_admin_session", cookie)
    assert (await http.get("/admin/api/me")).status_code == 200
    refused = await http.post(f"/admin/api/replies/{reply.id}/approve", json={})
    assert refused.status_code == 403
    assert (await draft_of(db, pk)).status == "draft"
    wrong = await http.post(
        f"/admin/api/replies/{reply.id}/approve", json={}, headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    accepted = await http.post(
        f"/admin/api/replies/{reply.id}/approve", json={}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 200, accepted.text


# --- The queue and the trace -----------------------------------------------------------------


async def test_the_queue_filters_by_status_intent_sender_date_and_text(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    stock = await post_email(staff_api, STOCK_QUESTION, "example.it")
    status = await post_email(staff_api, ORDER_STATUS, "example.com")
    await work(db, settings, providers)

    async def ids(**params: Any) -> list[int]:
        response = await staff_api.get("/admin/api/messages", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids() == [status, stock]
    assert await ids(status="draft") == [stock]
    assert await ids(status="sent") == [status]
    assert await ids(status="skipped") == []
    assert await ids(intent="stock_or_price") == [stock]
    assert await ids(verified="true") == [status, stock]
    assert await ids(verified="false") == []
    assert await ids(q="linen SHIRT") == [stock]
    assert await ids(q="100%_") == []
    assert await ids(until=utcnow().isoformat().replace("+00:00", "Z")) == [status, stock]
    assert await ids(since="2099-01-01T00:00:00Z") == []
    first = (await staff_api.get("/admin/api/messages", params={"limit": 1})).json()
    assert [i["id"] for i in first["items"]] == [status]
    assert await ids(before_id=first["next_before_id"]) == [stock]
    item = first["items"][0]
    # Timestamps are written as Python writes them, offset included, as this API always has.
    assert item["received_at"].endswith("+00:00")
    assert (item["intent"], item["reply"]["status"], item["sender_verified"]) == (
        "order_status",
        "sent",
        True,
    )
    bad = await staff_api.get("/admin/api/messages", params={"status": "nonsense"})
    assert bad.status_code == 422
    conversations = (await staff_api.get("/admin/api/conversations")).json()["items"]
    assert {c["customer_email"] for c in conversations} == {
        "marco.rossi@example.it",
        "sara.ahmadi@example.com",
    }


async def test_a_status_typo_is_a_422_naming_the_words_not_an_empty_list(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await post_email(staff_api, RETURN_REQUEST, "example.de")
    await work(db, settings, providers)
    for path, params, expected in (
        ("/admin/api/messages", {"status": "drafts"}, "'drafted'"),
        ("/admin/api/messages", {"intent": "order-status"}, "'order_status'"),
        ("/admin/api/proposals", {"status": "pendng"}, "'pending'"),
        ("/admin/api/jobs", {"status": "deadd"}, "'dead'"),
    ):
        response = await staff_api.get(path, params=params)
        assert response.status_code == 422, (path, params)
        assert expected in response.text, (path, params)
    # The right words work, and an empty status means every status where the default is one.
    assert len((await staff_api.get("/admin/api/proposals")).json()) == 1
    assert (await staff_api.get("/admin/api/proposals", params={"status": "executed"})).json() == []
    assert len((await staff_api.get("/admin/api/proposals", params={"status": ""})).json()) == 1
    assert (await staff_api.get("/admin/api/jobs")).json() == []
    every_job = (await staff_api.get("/admin/api/jobs", params={"status": ""})).json()
    assert [job["status"] for job in every_job] == ["done"]


async def test_the_trace_shows_every_step_model_turn_tool_call_and_reply(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, RETURN_REQUEST, "example.de")
    await work(db, settings, providers)
    trace = (await staff_api.get(f"/admin/api/messages/{pk}")).json()
    assert trace["message"]["from_address"] == "lena@example.de"
    assert "too small" in trace["message"]["clean_text"]
    assert trace["identity"] == {"verified": True, "reason": "dkim_pass_aligned:example.de"}
    assert [s["step"] for s in trace["steps"]][:4] == ["parse", "identity", "guards", "agent"]
    [run] = trace["agent_runs"]
    assert run["llm_kind"] == "offline"
    assert [t["step"] for t in trace["model_turns"]] == [1, 2, 3]
    assert all("latency_ms" in t and "prompt_version" in t for t in trace["model_turns"])
    tools = [(c["tool"], c["outcome"]) for c in trace["tool_calls"]]
    assert tools == [
        ("get_order", "ok"),
        ("get_store_policies", "ok"),
        ("request_return", "proposed"),
    ]
    assert trace["tool_calls"][0]["result"]["order_number"] == "#1007"
    [reply] = trace["replies"]
    assert reply["status"] == "draft"
    assert "1 store change(s) proposed for approval" in reply["decision_reasons"]
    [proposal] = trace["proposals"]
    assert (proposal["tool"], proposal["order_name"], proposal["status"]) == (
        "request_return",
        "#1007",
        "pending",
    )
    assert trace["plan"]["intent"] == "return_or_exchange"
    assert (await staff_api.get("/admin/api/messages/999999")).status_code == 404


# --- Decisions on drafts ---------------------------------------------------------------------


async def test_approving_a_draft_as_it_is_sends_it_once_and_is_audited(
    staff_api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
    tmp_path: Path,
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    response = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert response.json() == {"id": draft.id, "status": "queued", "edit_distance": 0}
    await work(db, settings, providers)
    reply = await draft_of(db, pk)
    assert (reply.status, reply.decided_by, reply.edit_distance, reply.is_automated) == (
        "sent",
        STAFF,
        0,
        False,
    )
    assert reply.text_body == draft.text_body
    assert len(sent_files(tmp_path)) == 1
    again = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert again.status_code == 409
    async with db.read(ALL_STORES) as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars()
        message = await session.get(Message, pk)
    assert (entry.staff_email, entry.action, entry.target_id) == (STAFF, "approve_draft", draft.id)
    assert message is not None
    assert message.status == "answered"


async def test_an_edited_draft_keeps_both_versions_and_the_edit_distance(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    original = draft.text_body or ""
    edited = original.replace("Hello Marco,", "Hello Marco, good news:") + "\nP.S. <b>Thanks</b>\n"
    response = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={"text": edited})
    assert response.status_code == 200, response.text
    assert response.json()["edit_distance"] == 4
    reply = await draft_of(db, pk)
    assert reply.generated_text == original
    assert reply.text_body == edited.strip() + "\n"
    assert "P.S. &lt;b&gt;Thanks&lt;/b&gt;" in (reply.html_body or "")
    assert "<b>" not in (reply.html_body or "")
    async with db.read(ALL_STORES) as session:
        [entry] = (await session.execute(select(AuditEntry))).scalars()
    assert entry.action == "edit_and_send"
    assert entry.detail is not None
    assert (entry.detail["before"], entry.detail["edit_distance"]) == (original, 4)


@pytest.mark.parametrize(
    ("addition", "problem"),
    [
        ("Your other order #1002 is on its way.", "order number #1002"),
        ("Details: https://evil.example/claim", "evil.example"),
        ("Or write to jonas.private@evil.example", "jonas.private@evil.example"),
        ("We refunded 999.00 EUR.", "amount 999.00 EUR"),
    ],
)
async def test_an_edit_that_adds_unbacked_data_is_blocked_and_the_draft_is_untouched(
    staff_api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
    addition: str,
    problem: str,
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    text = f"{draft.text_body}\n{addition}\n"
    response = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={"text": text})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the reply did not pass the checks"
    assert any(problem in p for p in body["problems"]), body["problems"]
    after = await draft_of(db, pk)
    assert (after.status, after.text_body) == ("draft", draft.text_body)
    async with db.read(ALL_STORES) as session:
        assert list(await session.execute(select(Job).where(Job.reply_id == draft.id))) == []


async def test_a_draft_cannot_be_sent_to_anyone_but_the_emails_sender(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(Reply).where(Reply.id == draft.id).values(to_address="someone@evil.example")
        )
    response = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert response.status_code == 422
    assert any("not the sender" in p for p in response.json()["problems"])


async def test_two_simultaneous_approvals_send_exactly_one_email(
    staff_api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
    tmp_path: Path,
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    responses = await asyncio.gather(
        *(staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={}) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]
    await work(db, settings, providers)
    assert len(sent_files(tmp_path)) == 1
    async with db.read(ALL_STORES) as session:
        jobs = list((await session.execute(select(Job).where(Job.reply_id == draft.id))).scalars())
    assert len(jobs) == 1


async def test_rejecting_a_draft_closes_the_email_and_sends_nothing(
    staff_api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
    tmp_path: Path,
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    empty = await staff_api.post(f"/admin/api/replies/{draft.id}/reject", json={"reason": ""})
    assert empty.status_code == 422
    response = await staff_api.post(
        f"/admin/api/replies/{draft.id}/reject", json={"reason": "Answered by phone."}
    )
    assert response.json() == {"id": draft.id, "status": "rejected"}
    await work(db, settings, providers)
    reply = await draft_of(db, pk)
    assert (reply.status, reply.reject_reason, reply.decided_by) == (
        "rejected",
        "Answered by phone.",
        STAFF,
    )
    assert sent_files(tmp_path) == []
    trace = (await staff_api.get(f"/admin/api/messages/{pk}")).json()
    assert trace["message"]["status"] == "closed"
    assert [a["action"] for a in trace["audit"]] == ["reject_draft"]
    late = await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    assert late.status_code == 409


async def test_rerunning_the_agent_supersedes_the_draft_with_a_new_one(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    first = await draft_of(db, pk)
    response = await staff_api.post(f"/admin/api/messages/{pk}/rerun")
    assert response.json() == {"id": pk, "status": "ready"}
    await work(db, settings, providers)
    trace = (await staff_api.get(f"/admin/api/messages/{pk}")).json()
    assert [r["status"] for r in trace["replies"]] == ["rejected", "draft"]
    assert trace["replies"][0]["reject_reason"] == "superseded by a re-run of the agent"
    assert len(trace["agent_runs"]) == 2
    assert trace["message"]["status"] == "drafted"
    assert (await draft_of(db, pk)).id != first.id


# --- Proposed store changes ------------------------------------------------------------------


async def test_approving_a_proposal_carries_it_out_once_in_the_store(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await post_email(staff_api, RETURN_REQUEST, "example.de")
    await work(db, settings, providers)
    [pending] = (await staff_api.get("/admin/api/proposals")).json()
    assert (pending["tool"], pending["order_name"]) == ("request_return", "#1007")
    responses = await asyncio.gather(
        staff_api.post(f"/admin/api/proposals/{pending['id']}/approve"),
        staff_api.post(f"/admin/api/proposals/{pending['id']}/approve"),
    )
    assert sorted(r.status_code for r in responses) == [200, 409]
    [done] = [r.json() for r in responses if r.status_code == 200]
    assert done["status"] == "executed"
    assert done["result"]["ok"] is True
    order = await providers.shop.find_order("1007", customer_email="lena@example.de")
    assert order is not None
    assert order.returns  # The demo store now has the return request.
    async with db.read(ALL_STORES) as session:
        row = await session.get(ProposedAction, pending["id"])
        actions = [a.action for a in (await session.execute(select(AuditEntry))).scalars()]
    assert row is not None
    assert (row.status, row.decided_by) == ("executed", STAFF)
    assert actions == ["approve_proposal", "proposal_executed"]
    assert (await staff_api.get("/admin/api/proposals")).json() == []


async def test_a_proposal_that_the_store_refuses_is_recorded_as_failed_with_its_errors(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await post_email(staff_api, RETURN_REQUEST, "example.de")
    await work(db, settings, providers)
    [pending] = (await staff_api.get("/admin/api/proposals")).json()
    first = await staff_api.post(f"/admin/api/proposals/{pending['id']}/approve")
    assert first.json()["status"] == "executed"
    # A second, identical proposal for the same order: the store says a return is already open.
    async with db.write(IN_DEFAULT_STORE) as session:
        original = await session.get(ProposedAction, pending["id"])
        assert original is not None
        copy = ProposedAction(
            message_id=original.message_id,
            tool=original.tool,
            arguments=original.arguments,
            order_id=original.order_id,
            order_name=original.order_name,
            reason=original.reason,
            status="pending",
        )
        session.add(copy)
        await session.flush()
        copy_id = copy.id
    second = await staff_api.post(f"/admin/api/proposals/{copy_id}/approve")
    assert second.status_code == 200
    assert second.json()["status"] == "failed"
    assert second.json()["result"]["ok"] is False


async def test_rejecting_a_proposal_changes_nothing_in_the_store(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    await post_email(staff_api, RETURN_REQUEST, "example.de")
    await work(db, settings, providers)
    [pending] = (await staff_api.get("/admin/api/proposals")).json()
    response = await staff_api.post(
        f"/admin/api/proposals/{pending['id']}/reject", json={"reason": "Outside the window."}
    )
    assert response.json() == {"id": pending["id"], "status": "rejected"}
    order = await providers.shop.find_order("1007", customer_email="lena@example.de")
    assert order is not None
    assert not order.returns
    again = await staff_api.post(f"/admin/api/proposals/{pending['id']}/approve")
    assert again.status_code == 409


# --- Figures ---------------------------------------------------------------------------------


async def test_the_summary_reports_automation_response_time_approvals_and_cost(
    staff_api: httpx.AsyncClient,
    db: Database,
    make_settings: SettingsFactory,
    providers: Providers,
) -> None:
    settings = make_settings()
    status = await post_email(staff_api, ORDER_STATUS, "example.com")
    stock = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, stock)
    await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    await work(db, settings, providers)
    # Tokens as a language model would have used them (the offline model uses none).
    from app.db.models import ModelTurn

    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(ModelTurn).values(input_tokens=1_000_000, output_tokens=500_000)
        )
    figures = (await staff_api.get("/admin/api/summary", params={"days": 7})).json()
    assert figures["emails"] == 2
    assert figures["by_status"] == {"answered": 2}
    assert figures["by_intent"] == {"order_status": 1, "stock_or_price": 1}
    assert (figures["answered"], figures["answered_without_a_person"]) == (2, 1)
    assert figures["automation_rate"] == 0.5
    times = figures["first_response_seconds"]
    assert times["count"] == 2
    assert 0 <= times["p50"] <= times["p95"] < 60
    assert figures["approved_as_is_rate"] == {"stock_or_price": 1.0}
    [day] = figures["tokens_per_day"]
    turns = 2 + 2  # Two model turns per email for these two.
    assert (day["input_tokens"], day["output_tokens"]) == (turns * 1_000_000, turns * 500_000)
    assert day["estimated_cost_usd"] == pytest.approx(turns * (0.40 + 0.80))
    assert status != stock


# --- Accounts from the command line ----------------------------------------------------------


def test_create_admin_and_an_api_token_from_the_command_line(
    tmp_path: Path, database_url: str
) -> None:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(DATABASE_URL=database_url, INBOUND_ALLOW_UNAUTHENTICATED="true")
    root = Path(__file__).parents[2]

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            cwd=root,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    short = cli("create-admin", "--email", "boss@shop.test", stdin="short\n")
    assert short.returncode != 0
    assert "at least 12 characters" in short.stderr
    made = cli("create-admin", "--email", "Boss@Shop.test", "--name", "Boss", stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    assert "boss@shop.test is ready" in made.stdout
    token = cli("create-api-token", "--email", "boss@shop.test", "--name", "zapier")
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip().startswith("ssm_")
    nobody = cli("create-api-token", "--email", "nobody@shop.test")
    assert nobody.returncode != 0
    assert "no active staff account" in nobody.stderr


# --- Dead letters and undeliverable replies --------------------------------------------------


async def test_dead_jobs_are_listed_and_staff_can_put_them_back_in_the_queue(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(
            update(Job).values(status="dead", attempts=5, last_error="OperationalError: gone")
        )
    [dead] = (await staff_api.get("/admin/api/jobs")).json()
    assert (dead["message_id"], dead["kind"], dead["last_error"]) == (
        pk,
        "process_inbound",
        "OperationalError: gone",
    )
    response = await staff_api.post(f"/admin/api/jobs/{dead['id']}/retry")
    assert response.json() == {"id": dead["id"], "status": "queued"}
    await work(db, settings, providers)
    assert (await draft_of(db, pk)).status == "draft"
    assert (await staff_api.get("/admin/api/jobs")).json() == []
    again = await staff_api.post(f"/admin/api/jobs/{dead['id']}/retry")
    assert again.status_code == 409
    trace = (await staff_api.get(f"/admin/api/messages/{pk}")).json()
    assert [a["action"] for a in trace["audit"]] == ["retry_job"]


async def test_a_reply_whose_delivery_is_unknown_goes_again_only_when_staff_say_so(
    staff_api: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    providers: Providers,
    tmp_path: Path,
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    await staff_api.post(f"/admin/api/replies/{draft.id}/approve", json={})
    async with db.write(IN_DEFAULT_STORE) as session:
        # As a worker that died between SendGrid's 202 and recording it leaves it.
        await session.execute(update(Reply).values(status="unknown", last_error="interrupted"))
    await work(db, settings, providers)
    assert sent_files(tmp_path) == []
    response = await staff_api.post(f"/admin/api/replies/{draft.id}/resend")
    assert response.json() == {"id": draft.id, "status": "queued"}
    await work(db, settings, providers)
    assert (await draft_of(db, pk)).status == "sent"
    assert len(sent_files(tmp_path)) == 1
    again = await staff_api.post(f"/admin/api/replies/{draft.id}/resend")
    assert again.status_code == 409
    trace = (await staff_api.get(f"/admin/api/messages/{pk}")).json()
    assert [a["action"] for a in trace["audit"]] == ["approve_draft", "resend_reply"]


async def test_a_rejection_for_a_wrong_fact_is_recorded_for_the_autonomy_rules(
    staff_api: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> None:
    pk = await post_email(staff_api, STOCK_QUESTION, "example.it")
    await work(db, settings, providers)
    draft = await draft_of(db, pk)
    unknown = await staff_api.post(
        f"/admin/api/replies/{draft.id}/reject", json={"reason": "x", "category": "typo"}
    )
    assert unknown.status_code == 422
    response = await staff_api.post(
        f"/admin/api/replies/{draft.id}/reject",
        json={"reason": "The price is not ours.", "category": "wrong_fact"},
    )
    assert response.status_code == 200, response.text
    reply = await draft_of(db, pk)
    assert reply.reject_category == "wrong_fact"
    assert is_wrong_fact(reply.reject_category, reply.reject_reason)
