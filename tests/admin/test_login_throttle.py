"""Login throttling: growing waits per client address, a bounded pause per account (never a
lock-out), counters shared by every process, and X-Forwarded-For believed only from listed proxies.

Time is a fake clock and pauses are recorded instead of slept, so nothing here waits.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.admin.staff import create_staff
from app.admin.throttle import LoginThrottle, ThrottlePolicy, address_key
from app.db.engine import Database
from app.main import create_app
from app.providers import Providers
from tests.admin.conftest import PASSWORD, STAFF
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory

ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"
PROXY = "10.0.0.5"


class FakeTime:
    """A clock that moves only when told, and a sleeper that records instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        self.pauses: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def throttle(db: Database, time: FakeTime) -> LoginThrottle:
    return LoginThrottle(db, clock=time.clock, sleep=time.sleep)


async def test_an_address_waits_twice_as_long_after_each_failure_beyond_five(
    db: Database, time: FakeTime
) -> None:
    counters = throttle(db, time)
    waits = []
    for _ in range(9):
        waits.append(await counters.retry_after(ATTACKER))
        await counters.failed(ATTACKER, f"guess{len(waits)}@shop.test")
    waits.append(await counters.retry_after(ATTACKER))
    assert waits == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16]
    # Another address is not affected, nor an IPv4 address written as IPv6-mapped differently.
    assert await counters.retry_after(OWNER) == 0
    assert await counters.retry_after(f"::ffff:{ATTACKER}") == 16
    time.advance(10)
    assert await counters.retry_after(ATTACKER) == 6
    time.advance(6)
    assert await counters.retry_after(ATTACKER) == 0


async def test_the_wait_is_capped_and_forgotten_after_a_quiet_hour(
    db: Database, time: FakeTime
) -> None:
    counters = throttle(db, time)
    for _ in range(40):
        await counters.failed(ATTACKER, STAFF)
    assert await counters.retry_after(ATTACKER) == 900
    time.advance(3601)
    assert await counters.retry_after(ATTACKER) == 0
    # The count starts again from one, not from forty.
    await counters.failed(ATTACKER, STAFF)
    assert await counters.retry_after(ATTACKER) == 0


async def test_ipv6_clients_are_counted_per_64_block() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key(None) == "address:unknown"


async def test_an_account_only_pauses_half_a_second_per_failure_up_to_three(
    db: Database, time: FakeTime
) -> None:
    counters = throttle(db, time)
    pauses = []
    for attempt in range(8):
        pauses.append(await counters.pause_for_account(STAFF))
        await counters.failed(f"192.0.2.{attempt}", STAFF)
    assert pauses == [0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    assert time.pauses == pauses[1:]
    # The pause is per account, typed in any case; a success clears it.
    assert await counters.account_delay(" AGENT@shop.test ") == 3.0
    assert await counters.account_delay("other@shop.test") == 0
    await counters.succeeded(STAFF)
    assert await counters.account_delay(STAFF) == 0
    # Old failures stop counting after 15 minutes.
    await counters.failed(ATTACKER, STAFF)
    time.advance(901)
    assert await counters.account_delay(STAFF) == 0


async def test_processes_share_the_counters_through_the_database(
    db: Database, time: FakeTime
) -> None:
    first, second = throttle(db, time), throttle(db, time)
    for counters in [first, second] * 3:
        await counters.failed(ATTACKER, STAFF)
    assert await first.retry_after(ATTACKER) == 2
    assert await second.account_delay(STAFF) == 3.0


def test_the_policy_never_refuses_an_account_and_caps_every_wait() -> None:
    policy = ThrottlePolicy()
    assert policy.account_delay(10**9) == 3.0
    assert policy.address_delay(10**9) == 900
    assert policy.address_delay(4) == 0


# --- through the login page ---------------------------------------------------------------------


@pytest.fixture
async def account(db: Database) -> str:
    async with db.write(IN_DEFAULT_STORE) as session:
        await create_staff(session, email=STAFF, password=PASSWORD)
    return STAFF


def login_app(
    make_settings: SettingsFactory,
    db: Database,
    providers: Providers,
    time: FakeTime,
    **settings: str,
) -> FastAPI:
    app = create_app(make_settings(**settings), db=db, providers=providers)
    app.state.login_throttle = throttle(db, time)
    return app


async def attempt(
    app: FastAPI, peer: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A login post from `peer` (the TCP address the server sees)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post(
            "/admin/login", data={"email": STAFF, "password": password}, headers=headers
        )


async def test_guessing_from_one_address_cannot_lock_the_owner_out_from_another(
    make_settings: SettingsFactory,
    db: Database,
    providers: Providers,
    time: FakeTime,
    account: str,
) -> None:
    app = login_app(make_settings, db, providers, time)
    codes = [(await attempt(app, ATTACKER, "wrong password!!")).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    refused = await attempt(app, ATTACKER, PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "1"
    assert "support_admin_session" not in refused.cookies
    # The owner, elsewhere, gets in at once, after a pause of at most three seconds.
    time.pauses.clear()
    owner = await attempt(app, OWNER, PASSWORD)
    assert owner.status_code == 303
    assert "support_admin_session" in owner.cookies
    assert time.pauses == [2.5]
    # However long the guessing goes on, the owner is only ever paused, never refused.
    for _ in range(30):
        time.advance(901)
        await attempt(app, ATTACKER, "wrong password!!")
    time.pauses.clear()
    assert (await attempt(app, OWNER, PASSWORD)).status_code == 303
    assert time.pauses == [0.5]


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_listed_proxy(
    make_settings: SettingsFactory,
    db: Database,
    providers: Providers,
    time: FakeTime,
    account: str,
) -> None:
    # Without FORWARDED_ALLOW_IPS a client cannot dodge the throttle by inventing addresses.
    app = login_app(make_settings, db, providers, time)
    for number in range(5):
        spoofed = {"X-Forwarded-For": f"192.0.2.{number}"}
        assert (await attempt(app, ATTACKER, "wrong password!!", spoofed)).status_code == 401
    fresh = {"X-Forwarded-For": "192.0.2.200"}
    assert (await attempt(app, ATTACKER, PASSWORD, fresh)).status_code == 429


async def test_x_forwarded_for_from_a_listed_proxy_names_the_client(
    make_settings: SettingsFactory,
    db: Database,
    providers: Providers,
    time: FakeTime,
    account: str,
) -> None:
    app = login_app(make_settings, db, providers, time, FORWARDED_ALLOW_IPS="10.0.0.0/24")
    via_proxy = {"X-Forwarded-For": ATTACKER}
    for _ in range(5):
        assert (await attempt(app, PROXY, "wrong password!!", via_proxy)).status_code == 401
    assert (await attempt(app, PROXY, PASSWORD, via_proxy)).status_code == 429
    # Everyone else behind the same proxy is counted as themselves.
    owner = await attempt(app, PROXY, PASSWORD, {"X-Forwarded-For": OWNER})
    assert owner.status_code == 303
    # A peer outside the list is itself the client, whatever it claims.
    outsider = await attempt(app, "10.0.1.9", PASSWORD, via_proxy)
    assert outsider.status_code == 303
    assert await app.state.login_throttle.retry_after("10.0.1.9") == 0
