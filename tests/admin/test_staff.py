"""Staff accounts: password hashing, login, throttling of repeated failures."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.admin.staff import StaffError, authenticate, create_staff
from app.config import Settings
from app.db.engine import Database
from app.db.models import StaffUser
from app.db.scope import ALL_STORES
from app.main import create_app
from app.providers import Providers
from tests.builders import IN_DEFAULT_STORE

PASSWORD = "correct horse battery staple"


async def test_accounts_need_a_real_address_and_a_long_password(db: Database) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        with pytest.raises(StaffError, match="12 characters"):
            await create_staff(session, email="ava@shop.test", password="short")
        with pytest.raises(StaffError, match="email address"):
            await create_staff(session, email="not-an-address", password=PASSWORD)
        user = await create_staff(session, email=" Ava@Shop.TEST ", password=PASSWORD)
        assert user.email == "ava@shop.test"
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")


async def test_login_checks_the_password_and_the_account_is_active(db: Database) -> None:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ava@shop.test", password=PASSWORD, name="Ava")
    staff = await authenticate(db, "AVA@shop.test", PASSWORD)
    assert staff is not None
    assert (staff.email, staff.name) == ("ava@shop.test", "Ava")
    assert await authenticate(db, "ava@shop.test", PASSWORD + "!") is None
    assert await authenticate(db, "nobody@shop.test", PASSWORD) is None
    async with db.read(ALL_STORES) as session:
        user = (await session.execute(select(StaffUser))).scalar_one()
    assert user.last_login_at is not None
    async with db.write(IN_DEFAULT_STORE) as session:
        await session.execute(update(StaffUser).values(is_active=False))
    assert await authenticate(db, "ava@shop.test", PASSWORD) is None
    # create-admin again reactivates the account with the new password.
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ava@shop.test", password="another long password")
    assert await authenticate(db, "ava@shop.test", "another long password") is not None


async def test_the_login_page_answers_429_after_repeated_failures_even_with_the_password(
    settings: Settings, db: Database, providers: Providers
) -> None:
    app: FastAPI = create_app(settings, db=db, providers=providers)

    async def no_pause(seconds: float) -> None:
        """The account pauses are tested in test_login_throttle; here they only cost time."""

    app.state.login_throttle.sleep = no_pause
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email="ava@shop.test", password=PASSWORD)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:

        async def attempt(password: str) -> int:
            response = await http.post(
                "/admin/login", data={"email": "ava@shop.test", "password": password}
            )
            return response.status_code

        assert [await attempt("wrong password!") for _ in range(5)] == [401] * 5
        assert await attempt(PASSWORD) == 429
        assert "support_admin_session" not in http.cookies
