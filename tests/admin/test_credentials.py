"""Credentials that can be taken back: password changes, disabled accounts, token expiry,
listing, revocation and scopes, through the functions, the JSON API and the command line."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import cli
from app.admin import api
from app.admin.auth import SESSION_COOKIE
from app.admin.staff import (
    AccountChanged,
    Staff,
    authenticate,
    create_api_token,
    create_staff,
    disable_staff,
    set_password,
    start_session,
)
from app.db.engine import Database
from app.db.models import ApiToken, AuditEntry, StaffUser, utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import TokenScope
from tests.admin.conftest import PASSWORD, STAFF
from tests.builders import IN_DEFAULT_STORE, on_database
from tests.conftest import BASIC_AUTH
from tests.db.test_migrations import empty_database, migrate

OTHER = "bea@shop.test"
NEW_PASSWORD = "a brand new long password"


async def log_in_twice(db: Database, email: str = STAFF) -> list[str]:
    """Two browser sessions of one account (two devices), as their cookie values."""
    async with db.write(IN_DEFAULT_STORE) as session:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.email == email))
        ).scalar_one()
        staff = Staff(id=user.id, email=user.email, name=user.name)
        return [(await start_session(session, staff, hours=8))[0] for _ in range(2)]


async def me(
    http: httpx.AsyncClient, *, cookie: str | None = None, token: str | None = None
) -> int:
    http.cookies.clear()
    if cookie is not None:
        http.cookies.set(SESSION_COOKIE, cookie)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return (await http.get("/admin/api/me", headers=headers)).status_code


async def test_a_password_set_while_a_login_is_checked_ends_that_login(
    http: httpx.AsyncClient, db: Database, token: str
) -> None:
    # The login verified the old password; the new one lands before its session opens.
    staff = await authenticate(db, STAFF, PASSWORD)
    assert staff is not None
    async with db.write(IN_DEFAULT_STORE) as session:
        await set_password(session, email=STAFF, password=NEW_PASSWORD)
    with pytest.raises(AccountChanged):
        async with db.write(IN_DEFAULT_STORE) as session:
            await start_session(session, staff, hours=8)

    # A login that saw the current password opens its session as usual.
    fresh = await authenticate(db, STAFF, NEW_PASSWORD)
    assert fresh is not None
    async with db.write(IN_DEFAULT_STORE) as session:
        cookie, _ = await start_session(session, fresh, hours=8)
    assert await me(http, cookie=cookie) == 200


async def test_a_disabled_account_opens_no_session_even_after_its_login_was_checked(
    db: Database, token: str
) -> None:
    staff = await authenticate(db, STAFF, PASSWORD)
    assert staff is not None
    async with db.write(IN_DEFAULT_STORE) as session:
        await disable_staff(session, email=STAFF)
    with pytest.raises(AccountChanged):
        async with db.write(IN_DEFAULT_STORE) as session:
            await start_session(session, staff, hours=8)


async def test_a_new_password_ends_every_session_of_that_account_only(
    http: httpx.AsyncClient, db: Database, token: str
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=OTHER, password=PASSWORD)
    mine = await log_in_twice(db)
    theirs = await log_in_twice(db, OTHER)
    assert [await me(http, cookie=cookie) for cookie in mine + theirs] == [200] * 4
    async with db.write(IN_DEFAULT_STORE) as session:
        ended = await set_password(session, email=STAFF, password=NEW_PASSWORD)
    assert ended == 2
    assert [await me(http, cookie=cookie) for cookie in mine] == [401, 401]
    assert [await me(http, cookie=cookie) for cookie in theirs] == [200, 200]
    # The password is a login credential: API tokens are separate and stay valid.
    assert await me(http, token=token) == 200
    # create-admin on an existing account is also a password reset, and ends sessions too.
    again = await log_in_twice(db)
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=PASSWORD)
    assert [await me(http, cookie=cookie) for cookie in again] == [401, 401]


async def test_disabling_an_account_ends_its_sessions_and_revokes_its_tokens(
    http: httpx.AsyncClient, db: Database, token: str
) -> None:
    cookies = await log_in_twice(db)
    async with db.write(IN_DEFAULT_STORE) as session:
        disabled = await disable_staff(session, email=STAFF)
    assert (disabled.sessions, disabled.tokens) == (2, 1)
    assert [await me(http, cookie=cookie) for cookie in cookies] == [401, 401]
    assert await me(http, token=token) == 401
    login = await http.post("/admin/login", data={"email": STAFF, "password": PASSWORD})
    assert login.status_code == 401
    # Enabled again with a new password, the person is back; the old token is not.
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=NEW_PASSWORD)
    assert await me(http, token=token) == 401


async def test_a_token_stops_working_when_it_expires(
    http: httpx.AsyncClient, db: Database, token: str
) -> None:
    assert await me(http, token=token) == 200
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await me(http, token=token) == 401
    async with db.write(IN_DEFAULT_STORE) as session:
        with pytest.raises(ValueError, match="at least one day"):
            await create_api_token(session, email=STAFF, days=0)
        short = await create_api_token(session, email=STAFF, days=7)
    async with db.read(ALL_STORES) as session:
        expires = (
            await session.execute(select(ApiToken.expires_at).where(ApiToken.prefix == short[:12]))
        ).scalar_one()
    assert abs(expires - (utcnow() + timedelta(days=7))) < timedelta(minutes=1)


async def test_the_api_lists_and_revokes_the_callers_own_tokens_without_showing_them(
    http: httpx.AsyncClient, db: Database, token: str
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        reader = await create_api_token(
            session, email=STAFF, name="dashboard", scope=TokenScope.READ
        )
        await create_staff(session, email=OTHER, password=PASSWORD)
        theirs = await create_api_token(session, email=OTHER)
    http.headers["Authorization"] = f"Bearer {token}"
    listed = await http.get("/admin/api/tokens")
    assert listed.status_code == 200
    for secret in (token, reader, theirs):
        assert secret not in listed.text
    rows = listed.json()
    assert [(row["name"], row["scope"], row["state"]) for row in rows] == [
        ("dashboard", "read", "active"),
        ("tests", "review", "active"),
    ]
    assert [row["prefix"] for row in rows] == [reader[:12], token[:12]]
    assert all(row["staff_email"] == STAFF and row["expires_at"] for row in rows)
    # The token in use was just used, and says so.
    assert rows[1]["last_used_at"] is not None
    async with db.read(ALL_STORES) as session:
        their_id = (
            await session.execute(select(ApiToken.id).where(ApiToken.prefix == theirs[:12]))
        ).scalar_one()
    assert (await http.delete(f"/admin/api/tokens/{their_id}")).status_code == 404
    assert await me(http, token=theirs) == 200
    revoked = await http.delete(f"/admin/api/tokens/{rows[0]['id']}")
    assert revoked.status_code == 200
    assert (revoked.json()["state"], revoked.json()["id"]) == ("revoked", rows[0]["id"])
    assert await me(http, token=reader) == 401
    async with db.read(ALL_STORES) as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert "revoke_api_token" in actions
    # A token can revoke itself; afterwards it is refused like any other revoked token.
    http.headers["Authorization"] = f"Bearer {token}"
    assert (await http.delete(f"/admin/api/tokens/{rows[1]['id']}")).status_code == 200
    assert (await http.get("/admin/api/tokens")).status_code == 401


async def test_a_read_token_reads_but_every_change_is_refused(
    http: httpx.AsyncClient, db: Database
) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=PASSWORD)
        reader = await create_api_token(session, email=STAFF, scope=TokenScope.READ)
    http.headers["Authorization"] = f"Bearer {reader}"
    assert (await http.get("/admin/api/me")).json()["scope"] == "read"
    assert (await http.get("/admin/api/messages")).status_code == 200
    assert (await http.get("/admin/api/tokens")).status_code == 200
    # Every route of the API that changes something, including ones added later.
    changing = [
        (method, re.sub(r"\{[^}]+\}", "1", route.path))
        for route in api.router.routes
        if isinstance(route, APIRoute) and route.path.startswith("/admin/api")
        for method in (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}
    ]
    assert ("DELETE", "/admin/api/tokens/1") in changing
    assert len(changing) >= 8
    for method, path in changing:
        response = await http.request(method, path, json={"reason": "x"})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["detail"] == "this API token may only read"
    async with db.read(ALL_STORES) as session:
        assert (await session.execute(select(ApiToken.revoked_at))).scalar_one() is None


# --- the command line ----------------------------------------------------------------------------


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = ""
) -> str:
    """`python -m app ...` in this process (quick), with the password on standard input."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    cli.main(list(argv))
    return capsys.readouterr().out


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """The environment `python -m app` reads, on the test's database (its URL, to check it)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("INBOUND_BASIC_AUTH_USER", BASIC_AUTH[0])
    monkeypatch.setenv("INBOUND_BASIC_AUTH_PASSWORD", BASIC_AUTH[1])
    monkeypatch.setenv("API_TOKEN_DAYS", "30")
    # The test's own logging stays as pytest set it up.
    monkeypatch.setattr(cli, "configure_logging", lambda *_args: None)
    return database_url


T = TypeVar("T")


def test_the_cli_resets_passwords_disables_accounts_and_manages_tokens(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    operator: str,
    tmp_path: Path,
) -> None:
    email = f"cli-{tmp_path.name[-8:]}@shop.test".lower()
    assert "is ready" in run(
        monkeypatch, capsys, "create-admin", "--email", email, stdin=PASSWORD + "\n"
    )
    token = run(monkeypatch, capsys, "create-api-token", "--email", email, "--name", "ci").strip()
    reader = run(
        monkeypatch,
        capsys,
        "create-api-token",
        "--email",
        email,
        "--scope",
        "read",
        "--days",
        "3",
    ).strip()
    assert [token[:4], reader[:4]] == ["ssm_", "ssm_"]

    async def tokens(session: AsyncSession) -> list[ApiToken]:
        query = select(ApiToken).join(StaffUser).where(StaffUser.email == email)
        return list((await session.execute(query.order_by(ApiToken.id))).scalars())

    made = check(operator, tokens)
    assert [(row.scope, row.name) for row in made] == [
        (TokenScope.REVIEW, "ci"),
        (TokenScope.READ, ""),
    ]
    # API_TOKEN_DAYS (30 here) unless --days says otherwise.
    lifetimes = [round((row.expires_at - row.created_at) / timedelta(days=1)) for row in made]
    assert lifetimes == [30, 3]

    listing = run(monkeypatch, capsys, "list-api-tokens", "--email", email)
    for secret in (token, reader):
        assert secret not in listing
        assert secret[:12] in listing
    assert listing.splitlines()[0].split()[:5] == ["ID", "PREFIX", "ACCOUNT", "SCOPE", "STATE"]

    revoked = run(monkeypatch, capsys, "revoke-api-token", str(made[1].id))
    assert revoked.startswith(f"API token {made[1].id} ({reader[:12]}")
    assert revoked.strip().endswith("is revoked")
    listing = run(monkeypatch, capsys, "list-api-tokens", "--email", email)
    states = {line.split()[1]: line.split()[4] for line in listing.splitlines()[1:]}
    assert states == {token[:12] + "…": "active", reader[:12] + "…": "revoked"}
    with pytest.raises(SystemExit, match="no API token 999999"):
        run(monkeypatch, capsys, "revoke-api-token", "999999")

    async def log_in(session: AsyncSession) -> str:
        user = (
            await session.execute(select(StaffUser).where(StaffUser.email == email))
        ).scalar_one()
        return (await start_session(session, Staff(id=user.id, email=email, name=""), hours=1))[0]

    check(operator, log_in)
    changed = run(monkeypatch, capsys, "set-password", "--email", email, stdin=NEW_PASSWORD + "\n")
    assert changed.strip() == f"password of {email} changed; 1 session(s) ended"
    with pytest.raises(SystemExit, match="refused: no staff account"):
        run(
            monkeypatch,
            capsys,
            "set-password",
            "--email",
            "nobody@shop.test",
            stdin=NEW_PASSWORD + "\n",
        )
    with pytest.raises(SystemExit, match="12 characters"):
        run(monkeypatch, capsys, "set-password", "--email", email, stdin="short\n")

    check(operator, log_in)
    disabled = run(monkeypatch, capsys, "disable-staff", "--email", email)
    assert "disabled; 1 session(s) ended, 1 API token(s) revoked" in disabled
    listing = run(monkeypatch, capsys, "list-api-tokens", "--email", email)
    assert "active" not in listing


# --- upgrading ----------------------------------------------------------------------------------


async def test_tokens_made_before_the_upgrade_keep_their_access_for_a_grace_period(
    tmp_path: Path,
) -> None:
    import sqlalchemy as sa

    async with empty_database(tmp_path) as engine:
        await migrate(engine, "0006")
        # Raw SQL as of 0006: SQLite stores naive UTC, PostgreSQL takes it with its offset.
        naive = engine.dialect.name == "sqlite"
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO staff_users (email, name, password_hash, is_active, created_at)"
                    " VALUES ('old@shop.test', '', 'x', true, :at)"
                ),
                {"at": utcnow().replace(tzinfo=None) if naive else utcnow()},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO api_tokens (token_hash, prefix, staff_id, name, created_at)"
                    " VALUES ('h', 'ssm_old', 1, '', :at)"
                ),
                {"at": (utcnow() - timedelta(days=400)).replace(tzinfo=None if naive else UTC)},
            )
        await migrate(engine, "head")
        async with engine.connect() as connection:
            scope, expires = (
                await connection.execute(sa.select(ApiToken.scope, ApiToken.expires_at))
            ).one()
        assert scope is TokenScope.REVIEW
        assert abs(expires - (utcnow() + timedelta(days=90))) < timedelta(hours=1)


def check(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Use the database from a synchronous test, writing in the default store."""
    return on_database(url, work, scope=IN_DEFAULT_STORE)
