"""The reports over HTTP: exact figures for a known set of emails, per store, page and JSON.

Emails and replies are written as the worker and staff leave them (statuses, decisions, edit
distances, send times), on days relative to today, so every figure can be checked exactly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import httpx
import pytest

from app.admin.report_chart import daily_chart
from app.admin.report_queries import Window, response_times
from app.admin.report_views import DayFigures
from app.admin.staff import create_api_token, create_staff
from app.db.engine import Database
from app.db.models import Message, Reply, Store, utcnow
from app.db.scope import ALL_STORES, StoreScope
from app.db.statuses import MessageStatus, ReplyStatus
from app.db.stores import DEFAULT_STORE_ID
from tests.admin.conftest import PASSWORD, STAFF
from tests.builders import IN_DEFAULT_STORE

TODAY = utcnow().date()
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
AUTO, STAFF_OK, STAFF_EDIT, REJECTED, QUEUED, PENDING, NONE = (
    "auto",
    "approved",
    "edited",
    "rejected",
    "queued",
    "pending",
    "none",
)


@dataclass(frozen=True)
class Seed:
    """One email: days before today, hour received, intent, status, its reply and when sent."""

    ago: int
    hour: int
    intent: str | None
    status: MessageStatus
    reply: str = NONE
    after: int = 0
    """Seconds from receipt to the reply's send."""
    edits: int | None = None


# The default store's mail (see the figures asserted below).
MAIL = [
    Seed(2, 9, "order_status", MessageStatus.ANSWERED, AUTO, 30),
    Seed(2, 10, "order_status", MessageStatus.ANSWERED, AUTO, 60),
    Seed(2, 11, "stock_or_price", MessageStatus.ANSWERED, STAFF_OK, 600, edits=0),
    Seed(2, 12, "stock_or_price", MessageStatus.ANSWERED, STAFF_EDIT, 300, edits=2),
    Seed(1, 8, "return_or_exchange", MessageStatus.ANSWERED, STAFF_EDIT, 1200, edits=4),
    Seed(1, 9, "return_or_exchange", MessageStatus.CLOSED, REJECTED),
    Seed(1, 10, None, MessageStatus.SKIPPED),
    Seed(1, 11, "order_status", MessageStatus.ANSWERED, AUTO, 120),
    Seed(0, 0, "order_status", MessageStatus.DRAFTED, PENDING),
    Seed(0, 0, "order_status", MessageStatus.ANSWERED, AUTO, 90),
    # An automated reply queued but not sent yet: not answered.
    Seed(0, 0, "order_status", MessageStatus.ANSWERED, QUEUED),
    # Ten days ago: outside a week, inside a month.
    Seed(10, 9, "order_status", MessageStatus.ANSWERED, AUTO, 45),
]
# Another store's mail, which the default store's figures must never include.
OTHER_MAIL = [
    Seed(0, 0, "order_status", MessageStatus.ANSWERED, AUTO, 45),
    Seed(1, 3, "refund", MessageStatus.ANSWERED, STAFF_EDIT, 7, edits=9),
    Seed(1, 4, None, MessageStatus.SKIPPED),
]


def _received(seed: Seed) -> datetime:
    return datetime.combine(TODAY - timedelta(days=seed.ago), time(seed.hour), tzinfo=UTC)


def _message(seed: Seed, n: int) -> Message:
    raw = f"email {n}".encode()
    return Message(
        provider="sendgrid",
        payload_format="raw",
        content_type="message/rfc822",
        raw=raw,
        raw_size=len(raw),
        checksum=hashlib.sha256(raw).hexdigest(),
        message_id=f"<m{n}@example.com>",
        status=seed.status,
        intent=seed.intent,
        received_at=_received(seed),
    )


def _replies(seed: Seed, message_pk: int) -> list[Reply]:
    if seed.reply == NONE:
        return []
    sent_at = _received(seed) + timedelta(seconds=seed.after)
    staff = seed.reply in (STAFF_OK, STAFF_EDIT, REJECTED)
    reply = Reply(
        message_id=message_pk,
        to_address="customer@example.com",
        is_automated=seed.reply in (AUTO, QUEUED),
        decision="send" if seed.reply in (AUTO, QUEUED) else "draft",
        status={
            AUTO: ReplyStatus.SENT,
            STAFF_OK: ReplyStatus.SENT,
            STAFF_EDIT: ReplyStatus.SENT,
            REJECTED: ReplyStatus.REJECTED,
            QUEUED: ReplyStatus.QUEUED,
            PENDING: ReplyStatus.DRAFT,
        }[seed.reply],
        sent_at=sent_at if seed.reply in (AUTO, STAFF_OK, STAFF_EDIT) else None,
        decided_by="agent@shop.test" if staff else None,
        edit_distance=seed.edits,
    )
    replies = [reply]
    if seed.reply == AUTO:
        # A later follow-up reply does not change the first response time.
        replies.append(
            Reply(
                message_id=message_pk,
                to_address="customer@example.com",
                is_automated=True,
                decision="send",
                status=ReplyStatus.SENT,
                sent_at=sent_at + timedelta(hours=5),
            )
        )
    return replies


async def _seed(db: Database, scope: StoreScope, mail: list[Seed], start: int = 0) -> None:
    async with db.write(scope) as session:
        for n, seed in enumerate(mail, start=start):
            message = _message(seed, n)
            session.add(message)
            await session.flush()
            session.add_all(_replies(seed, message.id))


async def _other_store(db: Database) -> dict[str, str]:
    """Store `beta` with its own mail and a member; that member's API headers."""
    async with db.write(ALL_STORES) as session:
        store = Store(slug="beta", name="Beta", support_email="support@beta.test")
        session.add(store)
        await session.flush()
        await create_staff(session, email="ben@beta.test", password=PASSWORD, stores=["beta"])
        token = await create_api_token(session, email="ben@beta.test")
        beta = store.id
    await _seed(db, StoreScope.of(beta), OTHER_MAIL, start=100)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def seeded(db: Database, token: str) -> dict[str, str]:
    """Both stores' mail; the API headers of the default store's member, then of beta's."""
    await _seed(db, IN_DEFAULT_STORE, MAIL)
    return await _other_store(db)


def _day(ago: int) -> str:
    return (TODAY - timedelta(days=ago)).isoformat()


async def test_the_report_gives_exact_figures_for_the_store(
    http: httpx.AsyncClient, token: str, seeded: dict[str, str]
) -> None:
    response = await http.get(
        "/admin/api/reports", params={"days": 7}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["days"] == 7
    assert report["since"] == f"{_day(6)}T00:00:00+00:00"
    assert report["until"] == f"{(TODAY + timedelta(days=1)).isoformat()}T00:00:00+00:00"
    # Eleven emails this week, one a skipped robot: ten could be answered, four were
    # automatically (the queued automated reply was not sent) and three by staff.
    assert (report["emails"], report["counted"]) == (11, 10)
    assert (report["answered_automatically"], report["answered_by_staff"]) == (4, 3)
    assert report["automation_rate"] == 0.4
    # First replies after 30, 60, 90, 120, 300, 600 and 1200 s: ranks 4 and 7 of 7.
    assert report["first_response_seconds"] == {"count": 7, "p50": 120.0, "p95": 1200.0}
    assert report["intents"] == [
        {
            "intent": "order_status",
            "emails": 6,
            "answered_automatically": 4,
            "decided_drafts": 0,
            "approved": 0,
            "approved_as_is": 0,
            "rejected": 0,
            "approved_as_is_rate": None,
            "mean_edit_distance": None,
        },
        {
            "intent": "return_or_exchange",
            "emails": 2,
            "answered_automatically": 0,
            "decided_drafts": 2,
            "approved": 1,
            "approved_as_is": 0,
            "rejected": 1,
            "approved_as_is_rate": 0.0,
            "mean_edit_distance": 4.0,
        },
        {
            "intent": "stock_or_price",
            "emails": 2,
            "answered_automatically": 0,
            "decided_drafts": 2,
            "approved": 2,
            "approved_as_is": 1,
            "rejected": 0,
            "approved_as_is_rate": 0.5,
            "mean_edit_distance": 1.0,
        },
        {
            "intent": None,
            "emails": 1,
            "answered_automatically": 0,
            "decided_drafts": 0,
            "approved": 0,
            "approved_as_is": 0,
            "rejected": 0,
            "approved_as_is_rate": None,
            "mean_edit_distance": None,
        },
    ]
    assert report["statuses"] == [
        {"status": "answered", "emails": 8},
        {"status": "closed", "emails": 1},
        {"status": "drafted", "emails": 1},
        {"status": "skipped", "emails": 1},
    ]
    quiet = {"received": 0, "answered_automatically": 0, "answered_by_staff": 0}
    assert report["daily"] == [
        *({"day": _day(ago), **quiet} for ago in (6, 5, 4, 3)),
        {"day": _day(2), "received": 4, "answered_automatically": 2, "answered_by_staff": 2},
        {"day": _day(1), "received": 3, "answered_automatically": 1, "answered_by_staff": 1},
        {"day": _day(0), "received": 3, "answered_automatically": 1, "answered_by_staff": 0},
    ]


async def test_the_period_decides_which_emails_count(
    http: httpx.AsyncClient, token: str, seeded: dict[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    month = (await http.get("/admin/api/reports", headers=headers)).json()
    assert month["days"] == 30
    assert len(month["daily"]) == 30
    assert (month["emails"], month["answered_automatically"]) == (12, 5)
    assert month["daily"][-11]["day"] == _day(10)
    assert month["daily"][-11]["answered_automatically"] == 1
    today = (await http.get("/admin/api/reports?days=1", headers=headers)).json()
    assert [d["day"] for d in today["daily"]] == [_day(0)]
    assert (today["emails"], today["counted"], today["answered_automatically"]) == (3, 3, 1)
    assert today["first_response_seconds"] == {"count": 1, "p50": 90.0, "p95": 90.0}


async def test_each_store_sees_its_own_figures_only(
    http: httpx.AsyncClient, seeded: dict[str, str]
) -> None:
    report = (await http.get("/admin/api/reports?days=7", headers=seeded)).json()
    assert (report["emails"], report["counted"]) == (3, 2)
    assert (report["answered_automatically"], report["answered_by_staff"]) == (1, 1)
    assert report["automation_rate"] == 0.5
    assert report["first_response_seconds"] == {"count": 2, "p50": 7.0, "p95": 45.0}
    assert [i["intent"] for i in report["intents"]] == ["order_status", "refund", None]
    assert report["intents"][1]["mean_edit_distance"] == 9.0


async def test_an_empty_period_has_no_rates(http: httpx.AsyncClient, token: str) -> None:
    report = (
        await http.get("/admin/api/reports?days=3", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert (report["emails"], report["automation_rate"]) == (0, None)
    assert report["first_response_seconds"] == {"count": 0, "p50": None, "p95": None}
    assert (report["intents"], report["statuses"]) == ([], [])
    assert [d["received"] for d in report["daily"]] == [0, 0, 0]


async def test_percentiles_are_nearest_rank_computed_in_sql(db: Database) -> None:
    # Twenty emails answered after 1..20 seconds, in shuffled order: p50 is rank 10, p95 19.
    mail = [
        Seed(0, 0, "order_status", MessageStatus.ANSWERED, AUTO, after)
        for after in (7, 3, 20, 1, 15, 9, 12, 2, 18, 5, 11, 4, 16, 8, 19, 6, 14, 10, 17, 13)
    ]
    await _seed(db, IN_DEFAULT_STORE, mail)
    async with db.read(IN_DEFAULT_STORE) as session:
        times = await response_times(session, Window.last_days(1))
    assert (times.count, times.p50, times.p95) == (20, 10.0, 19.0)
    async with db.read(StoreScope.of(DEFAULT_STORE_ID + 1000)) as session:
        nothing = await response_times(session, Window.last_days(1))
    assert (nothing.count, nothing.p50) == (0, None)


@pytest.mark.parametrize("days", ["0", "367", "-1", "week", "1.5"])
async def test_a_bad_period_is_refused(http: httpx.AsyncClient, token: str, days: str) -> None:
    response = await http.get(
        "/admin/api/reports", params={"days": days}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 422


async def test_reports_refuse_without_credentials(http: httpx.AsyncClient, token: str) -> None:
    api = await http.get("/admin/api/reports")
    assert api.status_code == 401
    assert "secret" not in api.text
    page = await http.get("/admin/reports")
    assert page.status_code == 401
    assert 'action="/admin/login"' in page.text
    assert "<svg" not in page.text
    forged = await http.get("/admin/api/reports", headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 401


async def _log_in(http: httpx.AsyncClient) -> None:
    response = await http.post("/admin/login", data={"email": STAFF, "password": PASSWORD})
    assert response.status_code == 303, response.text


async def test_the_page_draws_a_bar_for_every_day(
    http: httpx.AsyncClient, token: str, seeded: dict[str, str]
) -> None:
    await _log_in(http)
    page = await http.get("/admin/reports", params={"days": 7})
    assert page.status_code == 200, page.text
    html = page.text
    assert html.count("<svg") == 1
    assert "<script" not in html
    assert re.search(r'<svg[^>]+role="img"[^>]+aria-labelledby="chart-title chart-desc"', html)
    days = re.findall(r'<g class="day" data-day="([0-9-]+)">', html)
    assert days == [_day(ago) for ago in range(6, -1, -1)]
    # Each day's tooltip states its figures; two days ago: 2 automatic, 2 by staff of 4.
    assert f"{_day(2)}: 4 received, 2 answered automatically, 2 by staff" in html
    assert html.count('class="automatic"') == 3
    assert html.count('class="staff"') == 2
    assert "40%" in html  # The automation rate.
    assert "return or exchange" in html
    assert re.search(r'<input type="number" id="days" name="days"[^>]+value="7"', html)
    assert 'class="current">Reports<' in html
    month = await http.get("/admin/reports")
    assert len(re.findall(r'<g class="day"', month.text)) == 30
    refused = await http.get("/admin/reports", params={"days": 400})
    assert refused.status_code == 422


async def test_the_page_shows_the_staff_members_store_only(
    http: httpx.AsyncClient, token: str, seeded: dict[str, str]
) -> None:
    await _log_in(http)
    html = (await http.get("/admin/reports?days=7")).text
    assert "refund" not in html
    assert "4 of 10 emails" in html


def test_the_chart_scales_bars_to_the_busiest_day() -> None:
    first = date(2026, 3, 1)
    daily = [
        DayFigures(day=first, received=8, answered_automatically=4, answered_by_staff=2),
        DayFigures(
            day=first + timedelta(days=1), received=0, answered_automatically=0, answered_by_staff=0
        ),
    ]
    chart = daily_chart(daily)
    busy, empty = chart.bars
    assert [s.kind for s in busy.segments] == ["automatic", "staff", "open"]
    heights = [s.height for s in busy.segments]
    assert heights[0] == pytest.approx(2 * heights[1]) == pytest.approx(2 * heights[2])
    assert busy.segments[-1].y == chart.top  # 8 is the top of the scale.
    assert empty.segments == []
    assert [t.text for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert "2 days from 2026-03-01 to 2026-03-02: 8 emails" in chart.description


async def test_the_summary_counts_with_the_same_sql_in_the_store_only(
    http: httpx.AsyncClient, token: str, seeded: dict[str, str]
) -> None:
    response = await http.get(
        "/admin/api/summary", params={"days": 30}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    figures = response.json()
    assert figures["emails"] == 12
    assert figures["by_status"] == {"answered": 9, "closed": 1, "drafted": 1, "skipped": 1}
    assert figures["by_intent"] == {
        "order_status": 7,
        "return_or_exchange": 2,
        "stock_or_price": 2,
    }
    # The summary's own definition: automated answers out of emails answered, drafted or closed.
    assert (figures["answered"], figures["answered_without_a_person"]) == (11, 5)
    assert figures["first_response_seconds"] == {"count": 8, "p50": 90.0, "p95": 1200.0}
    assert figures["approved_as_is_rate"] == {"return_or_exchange": 0.0, "stock_or_price": 0.5}
    assert figures["tokens_per_day"] == []
