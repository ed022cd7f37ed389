"""The webhook's ceilings for requests that have not proved themselves yet.

What the headers alone can refuse is refused before one byte of the body is read, and a request
whose signature can only be checked at the end of its body never makes the server hold more than
a small buffer of it. The ASGI app is called directly, with a `receive` that counts the body
chunks the server asks for and makes them up on the fly (the test never holds the body either).
"""

from __future__ import annotations

import base64
import time
import tracemalloc
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from app.db.engine import Database
from app.db.models import Message
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import SendGridPost, raw_mode_post
from app.intake.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER
from app.intake.body import SPOOL_MEMORY_BYTES
from app.main import create_app
from tests.builders import make_eml
from tests.conftest import BASIC_AUTH, SettingsFactory

URL = "/webhooks/sendgrid/inbound"
CHUNK = 64 * 1024
MiB = 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Exchange:
    """One request played against the ASGI app: what it read of the body, what it answered."""

    chunks_read: int = 0
    status: int | None = None
    body: bytes = b""
    sent: list[MutableMapping[str, Any]] = field(default_factory=list)


async def play(
    app: ASGIApp,
    headers: dict[str, str],
    *,
    body_size: int,
    chunk: int = CHUNK,
) -> Exchange:
    """POST a body of `body_size` bytes made up chunk by chunk as the server reads it."""
    exchange = Exchange()
    remaining = body_size

    async def receive() -> MutableMapping[str, Any]:
        nonlocal remaining
        if remaining <= 0:
            # Read past the end: the client stays silent until it goes away.
            return {"type": "http.disconnect"}
        exchange.chunks_read += 1
        piece = min(chunk, remaining)
        remaining -= piece
        return {"type": "http.request", "body": b"x" * piece, "more_body": remaining > 0}

    async def send(message: MutableMapping[str, Any]) -> None:
        exchange.sent.append(message)
        if message["type"] == "http.response.start":
            exchange.status = message["status"]
        elif message["type"] == "http.response.body":
            exchange.body += message.get("body", b"")

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return exchange


def keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sign(private: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def stored(db: Database) -> list[Message]:
    async with db.read(ALL_STORES) as session:
        statement = select(Message).options(undefer(Message.raw)).order_by(Message.id)
        return list((await session.execute(statement)).scalars())


async def count_messages(db: Database) -> int:
    async with db.read(ALL_STORES) as session:
        return int((await session.execute(select(func.count(Message.id)))).scalar_one())


@pytest.fixture
def keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    return keypair()


@pytest.fixture
def signed_only_app(make_settings: SettingsFactory, db: Database, keys: Any) -> Any:
    """Only a signature configured: nothing in the headers proves who sent the body."""
    settings = make_settings(
        INBOUND_SIGNING_PUBLIC_KEY=keys[1],
        INBOUND_BASIC_AUTH_USER=None,
        INBOUND_BASIC_AUTH_PASSWORD=None,
        INBOUND_MAX_BODY_BYTES=16 * MiB,
    )
    return create_app(settings, db=db)


def fresh() -> str:
    return str(int(time.time()))


def a_signature(keys: Any) -> str:
    """A well-formed signature (over something else): it passes every header-only check."""
    return sign(keys[0], fresh(), b"another body")


class TestRefusedFromTheHeaders:
    @pytest.mark.parametrize(
        "case", ["no_signature", "no_timestamp", "stale", "future", "not_base64", "not_der"]
    )
    async def test_an_unsigned_or_stale_request_gets_401_without_its_body_being_read(
        self, signed_only_app: Any, db: Database, keys: Any, case: str
    ) -> None:
        now = int(time.time())
        timestamp = {"stale": now - 3600, "future": now + 3600}.get(case, now)
        headers = {
            "content-type": "multipart/form-data; boundary=x",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(keys[0], str(timestamp), b""),
        }
        if case == "no_signature":
            del headers[SIGNATURE_HEADER]
        if case == "no_timestamp":
            del headers[TIMESTAMP_HEADER]
        if case == "not_base64":
            headers[SIGNATURE_HEADER] = "!!! not base64 !!!"
        if case == "not_der":
            headers[SIGNATURE_HEADER] = base64.b64encode(b"not a DER signature").decode()

        exchange = await play(signed_only_app, headers, body_size=8 * MiB)

        assert exchange.status == 401
        assert exchange.chunks_read == 0
        assert await count_messages(db) == 0

    @pytest.mark.parametrize(
        "authorization", [None, basic("sendgrid", "wrong-password"), "Bearer abc"]
    )
    async def test_bad_basic_credentials_get_401_without_the_body_being_read(
        self, make_settings: SettingsFactory, db: Database, keys: Any, authorization: str | None
    ) -> None:
        # Basic credentials and a signature: the credentials are checked first, from headers.
        app = create_app(make_settings(INBOUND_SIGNING_PUBLIC_KEY=keys[1]), db=db)
        headers = {
            "content-type": "multipart/form-data; boundary=x",
            TIMESTAMP_HEADER: fresh(),
            SIGNATURE_HEADER: a_signature(keys),
        }
        if authorization is not None:
            headers["authorization"] = authorization

        exchange = await play(app, headers, body_size=8 * MiB)

        assert exchange.status == 401
        assert exchange.chunks_read == 0
        assert await count_messages(db) == 0

    async def test_a_declared_length_over_the_limit_gets_413_without_the_body_being_read(
        self, signed_only_app: Any, db: Database, keys: Any
    ) -> None:
        headers = {
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(17 * MiB),
            TIMESTAMP_HEADER: fresh(),
            SIGNATURE_HEADER: a_signature(keys),
        }

        exchange = await play(signed_only_app, headers, body_size=17 * MiB)

        assert exchange.status == 413
        assert exchange.chunks_read == 0
        assert await count_messages(db) == 0


class TestBoundedWhileUnauthenticated:
    async def test_an_endless_body_is_refused_with_413_just_past_the_limit(
        self, signed_only_app: Any, db: Database, keys: Any
    ) -> None:
        # No Content-Length (chunked): the limit is enforced while the body streams in.
        headers = {
            "content-type": "multipart/form-data; boundary=x",
            TIMESTAMP_HEADER: fresh(),
            SIGNATURE_HEADER: a_signature(keys),
        }

        exchange = await play(signed_only_app, headers, body_size=1024 * MiB)

        assert exchange.status == 413
        assert exchange.chunks_read == 16 * MiB // CHUNK + 1
        assert await count_messages(db) == 0

    async def test_a_badly_signed_body_never_makes_the_server_hold_more_than_a_small_buffer(
        self, signed_only_app: Any, db: Database, keys: Any
    ) -> None:
        headers = {
            "content-type": "multipart/form-data; boundary=x",
            TIMESTAMP_HEADER: fresh(),
            SIGNATURE_HEADER: a_signature(keys),
        }
        # Warm up once, so imports and caches do not count as this request's memory.
        await play(signed_only_app, headers, body_size=CHUNK)
        tracemalloc.start()
        try:
            exchange = await play(signed_only_app, headers, body_size=12 * MiB)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert exchange.status == 401
        assert exchange.chunks_read == 12 * MiB // CHUNK
        # The spool's memory part, a chunk or two in flight, and the framework's own objects;
        # the old reader held all 12 MiB (and a joined copy) before checking the signature.
        assert peak < SPOOL_MEMORY_BYTES + 2 * MiB
        assert await count_messages(db) == 0


class TestAuthenticBodies:
    async def test_a_signed_body_spooled_to_disk_is_stored_byte_exact(
        self, signed_only_app: Any, db: Database, keys: Any
    ) -> None:
        # Over the spool's memory part, so it is read back from the temporary file.
        payload = raw_mode_post(make_eml(body="Photo follows.\n" + "A" * (3 * MiB)))
        response = await post_signed(signed_only_app, payload, keys[0])

        assert response.status_code == 200
        assert response.json()["status"] == "received"
        [message] = await stored(db)
        assert message.raw == payload.body

    async def test_an_oversized_post_with_basic_credentials_is_kept_truncated_not_refused(
        self, make_settings: SettingsFactory, db: Database, keys: Any
    ) -> None:
        # The credentials prove the sender before the body: its mail is kept for staff (a 4xx
        # would make SendGrid drop it), even with a signature also configured.
        app = create_app(
            make_settings(INBOUND_SIGNING_PUBLIC_KEY=keys[1], INBOUND_MAX_BODY_BYTES=MiB), db=db
        )
        payload = raw_mode_post(make_eml(body="B" * (2 * MiB)))
        response = await post_signed(app, payload, keys[0], authorization=basic(*BASIC_AUTH))

        assert response.status_code == 200
        assert response.json()["status"] == "quarantined"
        [message] = await stored(db)
        assert message.raw == payload.body[:MiB]


async def post_signed(
    app: Any, payload: SendGridPost, private_key: Any, **extra_headers: str
) -> httpx.Response:
    """Post `payload` to `app` with a fresh, valid signature (and any extra headers)."""
    timestamp = fresh()
    headers = {
        "content-type": payload.content_type,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(private_key, timestamp, payload.body),
        **extra_headers,
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.post(URL, content=payload.body, headers=headers)
