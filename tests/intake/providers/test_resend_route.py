"""`POST /webhooks/resend/inbound` through the real app; the worker fetches the email."""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from app.mail.adapter import HttpReply
from tests.builders import make_eml, payload
from tests.conftest import SettingsFactory
from tests.intake.providers.harness import app_client, count, drain, message, skip_backoff
from tests.provider_fakes import RESEND_SECRET as SECRET
from tests.provider_fakes import FakeGet, svix_headers

URL = "/webhooks/resend/inbound"
# The email tests/payloads/resend/email_received.json names, and its raw link in the API reply.
API_URL = "https://api.resend.com/emails/receiving/4ef9a417-02e9-4d39-ad75-9611e0fcc33c"
RAW_URL = (
    "https://inbound-cdn.resend.com/4ef9a417-02e9-4d39-ad75-9611e0fcc33c/raw"
    "?signature=sig-123&expires=1795432502"
)


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(RESEND_SIGNING_SECRET=SECRET, RESEND_API_KEY="re_test_key")


def resend_api(eml: bytes) -> FakeGet:
    return FakeGet(
        {
            API_URL: HttpReply(
                status=200, body=payload("resend/received_email_raw.json"), headers={}
            ),
            RAW_URL: HttpReply(status=200, body=eml, headers={}),
        }
    )


async def post(
    settings: Settings, db: Database, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    async with app_client(settings, db, FakeGet()) as client:
        return await client.post(URL, content=body, headers=headers)


async def test_an_email_received_event_is_stored_and_the_worker_fetches_the_email(
    settings: Settings, db: Database
) -> None:
    body = payload("resend/email_received.json")
    response = await post(settings, db, body, svix_headers(body))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    again = await post(settings, db, body, svix_headers(body))
    assert again.json() == {"status": "duplicate"}
    eml = make_eml(message_id="<resend-1@mail.example.com>")
    http = resend_api(eml)
    assert await drain(db, settings, http) == 1
    assert http.urls() == [API_URL, RAW_URL]
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("resend", "resend-event")
    assert stored.from_address == "sara@example.com"
    # Resend reports no SPF or DKIM result: the sender is not verified.
    assert stored.sender_verified is False
    assert any(step["step"] == "fetch" for step in stored.steps or [])


async def test_a_bad_or_stale_signature_is_refused_and_nothing_is_stored(
    settings: Settings, db: Database
) -> None:
    body = payload("resend/email_received.json")
    forged = await post(settings, db, body, svix_headers(body, key=b"someone else"))
    assert forged.status_code == 401
    stale = await post(settings, db, body, svix_headers(body, at=0))
    assert stale.status_code == 401
    unsigned = await post(settings, db, body, {"content-type": "application/json"})
    assert unsigned.status_code == 401
    assert await count(db) == (0, 0)


async def test_without_a_signing_secret_the_route_refuses_everything(
    make_settings: SettingsFactory, db: Database
) -> None:
    body = payload("resend/email_received.json")
    response = await post(make_settings(), db, body, svix_headers(body))
    assert response.status_code == 401


async def test_other_resend_events_are_acknowledged_and_never_stored(
    settings: Settings, db: Database
) -> None:
    body = payload("resend/email_delivered.json")
    response = await post(settings, db, body, svix_headers(body))
    assert response.json() == {"status": "ignored", "event": "email.delivered"}
    assert await count(db) == (0, 0)


async def test_a_fetch_that_keeps_failing_leaves_the_email_quarantined(
    make_settings: SettingsFactory, db: Database
) -> None:
    settings = make_settings(
        RESEND_SIGNING_SECRET=SECRET, RESEND_API_KEY="re_test_key", JOB_MAX_ATTEMPTS=2
    )
    body = payload("resend/email_received.json")
    pk = (await post(settings, db, body, svix_headers(body))).json()["id"]
    down = FakeGet({API_URL: HttpReply(status=503, body=b"", headers={})})
    assert await drain(db, settings, down) == 1
    assert (await message(db, pk)).status == "received"
    await skip_backoff(db)
    assert await drain(db, settings, down) == 1
    stored = await message(db, pk)
    assert stored.status == "quarantined"
    assert "api.resend.com answered 503" in (stored.status_reason or "")


async def test_a_signed_event_that_is_not_json_is_quarantined(
    settings: Settings, db: Database
) -> None:
    body = b"not json"
    response = await post(settings, db, body, svix_headers(body))
    # Signed with our secret, so authentic: kept for staff rather than refused.
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable resend payload" in (stored.status_reason or "")
