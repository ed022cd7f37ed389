"""Login throttling that slows password guessing without letting anyone lock a person out.

Two counters of recent failures, kept in the database so every worker process shares them:

- per client address: a few failures are free, then each further one doubles the time the
  address must wait before its next attempt (1 s, 2 s, 4 s... up to 15 minutes). Attempts inside
  that time are answered 429 with `Retry-After` and never reach the password check. IPv6 clients
  are counted per /64, the block one subscriber usually gets, so rotating addresses within it
  does not reset the count.
- per account: only a short pause before the password check (half a second per recent failure,
  at most 3 s). It is never a refusal, so someone guessing at an account from elsewhere can slow
  its owner down by seconds but cannot keep them out.

The client address is the TCP peer, or what `X-Forwarded-For` says only when the peer is a proxy
listed in `FORWARDED_ALLOW_IPS` (uvicorn's `ProxyHeadersMiddleware` in `app.main` decides).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.engine import Database
from app.db.models import LoginFailure, utcnow


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """How failures turn into waiting."""

    free_failures: int = 5
    """Failures from one address before it must wait."""
    first_delay: float = 1.0
    """Seconds the address waits after its first failure beyond the free ones; doubles after."""
    max_delay: float = 900.0
    address_memory: float = 3600.0
    """An address's failures are forgotten after this many quiet seconds (more than max_delay)."""
    account_delay_per_failure: float = 0.5
    max_account_delay: float = 3.0
    account_memory: float = 900.0
    """An account's failures count as recent for this many seconds after the last one."""

    def address_delay(self, failures: int) -> float:
        """Seconds an address with `failures` recent failures waits after the last one."""
        beyond = failures - self.free_failures
        if beyond < 0:
            return 0.0
        # The exponent is capped so a huge count cannot overflow the float.
        return min(self.max_delay, self.first_delay * 2.0 ** min(beyond, 64))

    def account_delay(self, failures: int) -> float:
        """Seconds a login for an account with `failures` recent failures pauses first."""
        return min(self.max_account_delay, self.account_delay_per_failure * max(0, failures))


def address_key(host: str | None) -> str:
    """The counter key of a client address: the address itself, or its /64 for IPv6."""
    if not host:
        return "address:unknown"
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return f"address:{host}"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return f"address:{parsed.ipv4_mapped}"
        return f"address:{ipaddress.ip_network(f'{parsed}/64', strict=False)}"
    return f"address:{parsed}"


def account_key(email: str) -> str:
    """The counter key of an account, as typed (normalised like logins are)."""
    return f"account:{email.strip().lower()}"


def _stored(key: str) -> str:
    # A hash: whatever was typed into the email field (sometimes a password) is not stored.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class LoginThrottle:
    """The shared failure counters; `clock` and `sleep` are replaceable for tests."""

    db: Database
    policy: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def _recent(self, key: str, memory: float) -> tuple[int, datetime | None]:
        async with self.db.read() as session:
            row = (
                await session.execute(
                    select(LoginFailure.failures, LoginFailure.last_failed_at).where(
                        LoginFailure.key == _stored(key)
                    )
                )
            ).one_or_none()
        if row is None or row.last_failed_at < self.clock() - timedelta(seconds=memory):
            return 0, None
        return row.failures, row.last_failed_at

    async def retry_after(self, host: str | None) -> float:
        """Seconds until this client address may try again (0: now)."""
        failures, last = await self._recent(address_key(host), self.policy.address_memory)
        if last is None:
            return 0.0
        delay = self.policy.address_delay(failures)
        return max(0.0, (last + timedelta(seconds=delay) - self.clock()).total_seconds())

    async def account_delay(self, email: str) -> float:
        """Seconds to pause before checking a password for this account."""
        failures, _last = await self._recent(account_key(email), self.policy.account_memory)
        return self.policy.account_delay(failures)

    async def pause_for_account(self, email: str) -> float:
        """Pause as long as the account's recent failures ask for; returns the pause."""
        delay = await self.account_delay(email)
        if delay > 0:
            await self.sleep(delay)
        return delay

    async def failed(self, host: str | None, email: str) -> None:
        """Count a failed login against the client address and the account."""
        now = self.clock()
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        async with self.db.write() as session:
            for key, memory in (
                (address_key(host), self.policy.address_memory),
                (account_key(email), self.policy.account_memory),
            ):
                stale = now - timedelta(seconds=memory)
                statement = insert(LoginFailure).values(
                    key=_stored(key), failures=1, last_failed_at=now
                )
                # One statement, so two processes counting at once both count.
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=[LoginFailure.key],
                        set_={
                            "failures": case(
                                (LoginFailure.last_failed_at < stale, 1),
                                else_=LoginFailure.failures + 1,
                            ),
                            "last_failed_at": now,
                        },
                    )
                )
            # Forget counters nobody has added to for long, so the table stays small.
            oldest = now - timedelta(
                seconds=max(self.policy.address_memory, self.policy.account_memory)
            )
            await session.execute(delete(LoginFailure).where(LoginFailure.last_failed_at < oldest))

    async def succeeded(self, email: str) -> None:
        """Forget the failures of an account that just logged in.

        The address keeps its count (it fades after `address_memory`): otherwise anyone with an
        account of their own could log in between guesses at other accounts to stay unthrottled.
        """
        async with self.db.write() as session:
            await session.execute(
                delete(LoginFailure).where(LoginFailure.key == _stored(account_key(email)))
            )
