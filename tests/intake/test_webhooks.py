"""The SendGrid Inbound Parse webhook: its status codes are promises about retries.

200: stored (or already stored), never send it again. 401: not from our provider, nothing
stored. 5xx: our own trouble, retry. An authentic post we cannot parse is stored as quarantined
and acknowledged, because SendGrid drops mail answered with a 4xx.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import undefer

from app.db.engine import Database
from app.db.models import Job, Message
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import SendGridPost, encode_form, parsed_mode_post, raw_mode_post
from app.intake import writer
from app.intake.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER
from app.mail.formdata import parse_form_data
from app.main import create_app
from tests.builders import make_eml
from tests.conftest import BASIC_AUTH, SettingsFactory

URL = "/webhooks/sendgrid/inbound"


async def post(
    client: httpx.AsyncClient,
    payload: SendGridPost,
    *,
    auth: tuple[str, str] | None = BASIC_AUTH,
    url: str = URL,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request = client.build_request(
        "POST",
        url,
        content=payload.body,
        headers={"content-type": payload.content_type, **(headers or {})},
    )
    if auth is not None:
        credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.headers["authorization"] = f"Basic {credentials}"
    return await client.send(request, follow_redirects=False)


async def count(db: Database, model: type[Any]) -> int:
    async with db.read(ALL_STORES) as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def stored_messages(db: Database) -> list[Message]:
    async with db.read(ALL_STORES) as session:
        return list(
            (
                await session.execute(
                    select(Message).options(undefer(Message.raw)).order_by(Message.id)
                )
            ).scalars()
        )


class TestAcceptance:
    async def test_raw_mode_post_is_stored_byte_exact_with_one_job(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        payload = raw_mode_post(make_eml())
        response = await post(client, payload)
        assert response.status_code == 200
        assert response.json()["status"] == "received"
        [message] = await stored_messages(db)
        assert message.raw == payload.body
        assert message.payload_format == "sendgrid-raw"
        assert message.message_id == "<msg-1@example.com>"
        assert message.status == "received"
        async with db.read(ALL_STORES) as session:
            [job] = (await session.execute(select(Job))).scalars()
        assert (job.kind, job.message_id, job.status) == ("process_inbound", message.id, "queued")

    async def test_parsed_mode_post_is_stored(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        payload = parsed_mode_post(
            {
                "headers": ("utf-8", "From: a@example.com\nMessage-ID: <parsed-1@example.com>\n"),
                "from": ("utf-8", "a@example.com"),
                "subject": ("cp850", "Devolución"),
                "text": ("windows-1252", "¿Dónde está mi pedido?"),
            }
        )
        response = await post(client, payload)
        assert response.status_code == 200
        [message] = await stored_messages(db)
        assert message.payload_format == "sendgrid-parsed"
        assert message.message_id == "<parsed-1@example.com>"

    async def test_trailing_slash_is_served_not_redirected(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        response = await post(client, raw_mode_post(make_eml()), url=URL + "/")
        assert response.status_code == 200
        assert await count(db, Message) == 1

    async def test_a_25_mb_email_is_stored_not_refused(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        # Starlette's form parser refuses any part over 1 MB with a 400, which loses the mail.
        body = "Photo of the damaged parcel follows.\n" + "A" * (25 * 1024 * 1024)
        payload = raw_mode_post(make_eml(body=body))
        response = await post(client, payload)
        assert response.status_code == 200
        [message] = await stored_messages(db)
        assert message.raw_size == len(payload.body) > 25 * 1024 * 1024


class TestAuthentication:
    @pytest.mark.parametrize(
        "auth",
        [
            None,
            ("sendgrid", "wrong-password"),
            ("someone", BASIC_AUTH[1]),
            ("sendgrid", BASIC_AUTH[1] + "x"),
            ("sendgrid", "pässwörd-ünïcode"),
        ],
    )
    async def test_wrong_or_missing_credentials_get_401_and_nothing_is_stored(
        self, client: httpx.AsyncClient, db: Database, auth: tuple[str, str] | None
    ) -> None:
        response = await post(client, raw_mode_post(make_eml()), auth=auth)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert await count(db, Message) == 0
        assert await count(db, Job) == 0

    @pytest.mark.parametrize("header", ["Basic !!!not-base64", "Bearer abc", "Basic " + "x" * 10])
    async def test_malformed_authorization_headers_get_401(
        self, client: httpx.AsyncClient, db: Database, header: str
    ) -> None:
        response = await post(
            client, raw_mode_post(make_eml()), auth=None, headers={"authorization": header}
        )
        assert response.status_code == 401
        assert await count(db, Message) == 0

    async def test_non_ascii_password_is_compared_as_utf8(
        self, make_settings: SettingsFactory, db: Database
    ) -> None:
        password = "pässwörd-ünïcode-ok"
        app = create_app(make_settings(INBOUND_BASIC_AUTH_PASSWORD=password), db=db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            header = "Basic " + base64.b64encode(f"sendgrid:{password}".encode()).decode()
            ok = await post(
                client, raw_mode_post(make_eml()), auth=None, headers={"authorization": header}
            )
        assert ok.status_code == 200


def _keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def _sign(private: ec.EllipticCurvePrivateKey, timestamp: str, body: bytes) -> str:
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


class TestSignature:
    @pytest.fixture
    def keys(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        return _keypair()

    @pytest.fixture
    async def signed_client(
        self,
        make_settings: SettingsFactory,
        db: Database,
        keys: tuple[ec.EllipticCurvePrivateKey, str],
    ) -> Any:
        settings = make_settings(
            INBOUND_SIGNING_PUBLIC_KEY=keys[1],
            INBOUND_BASIC_AUTH_USER=None,
            INBOUND_BASIC_AUTH_PASSWORD=None,
        )
        transport = httpx.ASGITransport(app=create_app(settings, db=db))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client

    async def test_a_valid_signature_over_timestamp_and_raw_body_is_accepted(
        self, signed_client: httpx.AsyncClient, db: Database, keys: Any
    ) -> None:
        payload = raw_mode_post(make_eml())
        timestamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: _sign(keys[0], timestamp, payload.body),
        }
        response = await post(signed_client, payload, auth=None, headers=headers)
        assert response.status_code == 200
        assert await count(db, Message) == 1

    @pytest.mark.parametrize(
        "tamper",
        ["missing_signature", "missing_timestamp", "other_body", "stale", "future", "garbage"],
    )
    async def test_bad_signatures_get_401_and_nothing_is_stored(
        self, signed_client: httpx.AsyncClient, db: Database, keys: Any, tamper: str
    ) -> None:
        payload = raw_mode_post(make_eml())
        now = int(time.time())
        timestamp = {"stale": now - 3600, "future": now + 3600}.get(tamper, now)
        signed_body = payload.body + b" " if tamper == "other_body" else payload.body
        headers = {
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: _sign(keys[0], str(timestamp), signed_body),
        }
        if tamper == "missing_signature":
            del headers[SIGNATURE_HEADER]
        if tamper == "missing_timestamp":
            del headers[TIMESTAMP_HEADER]
        if tamper == "garbage":
            headers[SIGNATURE_HEADER] = "bm90IGEgc2lnbmF0dXJl"
        response = await post(signed_client, payload, auth=None, headers=headers)
        assert response.status_code == 401
        assert await count(db, Message) == 0

    async def test_a_signature_from_another_key_is_refused(
        self, signed_client: httpx.AsyncClient, db: Database
    ) -> None:
        other_private, _ = _keypair()
        payload = raw_mode_post(make_eml())
        timestamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: _sign(other_private, timestamp, payload.body),
        }
        response = await post(signed_client, payload, auth=None, headers=headers)
        assert response.status_code == 401
        assert await count(db, Message) == 0


class TestDeduplication:
    async def test_a_retried_post_is_acknowledged_and_stored_once(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        eml = make_eml()
        # A retry is a new HTTP request: the multipart boundary differs, the email does not.
        first = await post(client, raw_mode_post(eml))
        second = await post(client, raw_mode_post(eml))
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.json() == {"status": "duplicate"}
        assert await count(db, Message) == 1
        assert await count(db, Job) == 1

    async def test_ten_identical_posts_at_once_give_one_row_and_one_job(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        eml = make_eml()
        responses = await asyncio.gather(*(post(client, raw_mode_post(eml)) for _ in range(10)))
        assert [r.status_code for r in responses] == [200] * 10
        statuses = sorted(r.json()["status"] for r in responses)
        assert statuses == ["duplicate"] * 9 + ["received"]
        assert await count(db, Message) == 1
        assert await count(db, Job) == 1

    async def test_missing_message_id_gets_a_synthetic_id_from_the_checksum(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await post(client, raw_mode_post(make_eml(message_id=None, body="first")))
        await post(client, raw_mode_post(make_eml(message_id=None, body="second")))
        again = await post(client, raw_mode_post(make_eml(message_id=None, body="first")))
        assert again.json() == {"status": "duplicate"}
        messages = await stored_messages(db)
        assert len(messages) == 2
        for message in messages:
            assert message.has_synthetic_message_id
            assert message.message_id == f"<{message.checksum}@checksum.invalid>"

    async def test_same_message_id_with_different_content_is_stored(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        await post(client, raw_mode_post(make_eml(body="Where is my order?")))
        response = await post(client, raw_mode_post(make_eml(body="Cancel my order!")))
        assert response.json()["status"] == "received"
        messages = await stored_messages(db)
        assert [m.message_id for m in messages] == ["<msg-1@example.com>"] * 2
        assert messages[0].checksum != messages[1].checksum


class TestUnparseableButAuthentic:
    @pytest.mark.parametrize(
        ("content_type", "body", "reason"),
        [
            ("application/json", b'{"event": "delivered"}', "expected multipart/form-data"),
            ("multipart/form-data", b"--x\r\n", "without a boundary"),
            (
                "multipart/form-data; boundary=abc",
                b'--abc\r\nContent-Disposition: form-data; name="email"\r\n\r\ntruncat',
                "closing delimiter is missing",
            ),
        ],
    )
    async def test_is_quarantined_with_the_reason_and_acknowledged(
        self,
        client: httpx.AsyncClient,
        db: Database,
        content_type: str,
        body: bytes,
        reason: str,
    ) -> None:
        response = await post(client, SendGridPost(body, content_type))
        assert response.status_code == 200
        assert response.json()["status"] == "quarantined"
        [message] = await stored_messages(db)
        assert message.status == "quarantined"
        assert message.status_reason is not None
        assert reason in message.status_reason
        assert message.raw == body
        # Nothing for the worker: staff decide what to do with it.
        assert await count(db, Job) == 0

    async def test_an_oversized_post_keeps_a_prefix_quarantined(
        self, make_settings: SettingsFactory, db: Database
    ) -> None:
        app = create_app(make_settings(INBOUND_MAX_BODY_BYTES=4096), db=db)
        transport = httpx.ASGITransport(app=app)
        payload = raw_mode_post(make_eml(body="x" * 10_000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await post(client, payload)
        assert response.status_code == 200
        assert response.json()["status"] == "quarantined"
        [message] = await stored_messages(db)
        assert message.raw == payload.body[:4096]
        assert message.status_reason is not None
        assert "over INBOUND_MAX_BODY_BYTES" in message.status_reason

    async def test_too_many_parts_is_quarantined(
        self, make_settings: SettingsFactory, db: Database
    ) -> None:
        app = create_app(make_settings(INBOUND_MAX_PARTS=5), db=db)
        transport = httpx.ASGITransport(app=app)
        payload = encode_form([(f"field{i}", b"x") for i in range(50)])
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await post(client, payload)
        assert response.json()["status"] == "quarantined"


class TestBytes:
    async def test_nul_bytes_and_invalid_utf8_survive_byte_exact(
        self, client: httpx.AsyncClient, db: Database
    ) -> None:
        eml = (
            b"From: Sara <sara@example.com>\r\nTo: support@shop.test\r\n"
            b"Subject: bad \x00 bytes \xff\xfe\r\nMessage-ID: <nul-1@example.com>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Order \x00 #1001 \xc3\x28 \xed\xa0\x80 end\r\n"
        )
        payload = raw_mode_post(eml)
        response = await post(client, payload)
        assert response.status_code == 200
        [message] = await stored_messages(db)
        assert message.raw == payload.body
        form = parse_form_data(message.raw, message.content_type, max_parts=100)
        assert form.get("email") == eml


class TestOurOwnFailure:
    async def test_connection_dropped_mid_transaction_gives_503_and_no_partial_rows(
        self, client: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # An outage, not a refused row: a row the database refuses is stored quarantined and
        # acknowledged instead (tests/intake/test_refused_deliveries.py).
        def dropped(message_pk: int, store_id: int | None, now: Any) -> dict[str, Any]:
            # The connection drops after the message insert, inside the same transaction.
            raise OperationalError("INSERT INTO jobs", {}, ConnectionResetError("server closed"))

        monkeypatch.setattr(writer, "_job_row", dropped)
        payload = raw_mode_post(make_eml())
        response = await post(client, payload)
        assert response.status_code == 503
        assert "server closed" not in response.text
        # The message insert was rolled back with the failed job insert.
        assert await count(db, Message) == 0
        monkeypatch.undo()
        # SendGrid's retry of the same delivery then succeeds, once.
        retry = await post(client, payload)
        assert retry.json()["status"] == "received"
        assert await count(db, Message) == 1
        assert await count(db, Job) == 1

    async def test_unreachable_database_gives_503(self, make_settings: SettingsFactory) -> None:
        unreachable = Database.connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
        app = create_app(make_settings(), db=unreachable)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await post(client, raw_mode_post(make_eml()))
        await unreachable.dispose()
        assert response.status_code == 503
