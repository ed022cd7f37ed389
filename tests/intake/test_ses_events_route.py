"""`POST /webhooks/amazon_ses/events` through the real app: SES's events as SNS posts them.

SNS is faked at the HTTP boundary only: it serves its signing certificate and answers the
subscription link; the messages are signed with that certificate's key. Replies are rows as the
outbox leaves them (`tests.intake.test_events_route`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from app.mail.adapter import HttpReply
from app.mail.sns import CERTIFICATES
from tests.conftest import SettingsFactory
from tests.intake.providers.harness import app_client
from tests.intake.test_events_route import events_stored, sent_reply, suppressions
from tests.mail.events.signers import fixture
from tests.provider_fakes import (
    CERT_URL,
    SUBSCRIBE_URL,
    TOPIC,
    FakeGet,
    SnsSigner,
    certificate_pem,
    rsa_key,
    sns_headers,
)
from tests.replies.test_outbox import load_reply

URL = "/webhooks/amazon_ses/events"


@pytest.fixture(autouse=True)
def fresh_certificates() -> None:
    """Each test fetches the certificate itself: the cache lives as long as the process."""
    CERTIFICATES.clear()


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(SES_SNS_TOPIC_ARNS=TOPIC)


@pytest.fixture
def aws() -> FakeGet:
    """SNS serving its certificate and confirming subscriptions."""
    return FakeGet(
        {
            CERT_URL: HttpReply(status=200, body=certificate_pem(rsa_key()), headers={}),
            SUBSCRIBE_URL: HttpReply(
                status=200, body=b"<ConfirmSubscriptionResponse/>", headers={}
            ),
        }
    )


def ses(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(fixture("amazon_ses", name))
    return found


async def post(
    settings: Settings, db: Database, aws: FakeGet, *messages: dict[str, str]
) -> list[httpx.Response]:
    async with app_client(settings, db, aws) as client:
        return [
            await client.post(URL, content=json.dumps(m).encode(), headers=sns_headers(m))
            for m in messages
        ]


async def test_a_signed_permanent_bounce_is_stored_matched_and_suppresses(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    reply_pk = await sent_reply(
        db, provider_message_id=None, rfc_message_id="<reply.77aa@shop.test>"
    )
    [response] = await post(
        settings, db, aws, SnsSigner().notification(ses("bounce_permanent.json"))
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"stored": 2, "duplicates": 0, "matched": 2, "ignored": 0}
    reply = await load_reply(db, reply_pk)
    assert (reply.delivery_state, reply.delivery_hard) == ("bounced", True)
    assert sorted(s.address for s in await suppressions(db)) == [
        "gone@example.com",
        "old.address@example.org",
    ]


async def test_a_redelivered_sns_message_is_stored_once(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    message = SnsSigner().notification(ses("delivery.json"))
    first, again = await post(settings, db, aws, message, message)
    assert first.json()["stored"] == 1
    assert again.json() == {"stored": 0, "duplicates": 1, "matched": 0, "ignored": 0}
    assert len(await events_stored(db)) == 1


async def test_forged_or_foreign_messages_are_refused_and_nothing_is_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    await sent_reply(db, provider_message_id=None, rfc_message_id="<reply.77aa@shop.test>")
    bounce = ses("bounce_permanent.json")
    tampered = SnsSigner().notification(bounce)
    tampered["Message"] = tampered["Message"].replace("Permanent", "Transient")
    theirs = SnsSigner(topic="arn:aws:sns:us-east-1:999999999999:theirs").notification(bounce)
    elsewhere = SnsSigner(cert_url="https://evil.test/cert.pem").notification(bounce)
    responses = await post(settings, db, aws, tampered, theirs, elsewhere)
    assert [response.status_code for response in responses] == [401, 401, 401]
    assert await events_stored(db) == []
    assert await suppressions(db) == []
    assert "https://evil.test/cert.pem" not in aws.urls()


async def test_without_topics_the_route_refuses_everything(
    make_settings: SettingsFactory, db: Database, aws: FakeGet
) -> None:
    [response] = await post(
        make_settings(), db, aws, SnsSigner().notification(ses("delivery.json"))
    )
    assert response.status_code == 401
    assert aws.urls() == []


async def test_a_subscription_confirmation_is_followed_and_nothing_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    [response] = await post(settings, db, aws, SnsSigner().confirmation())
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "confirmed"}
    assert aws.urls() == [CERT_URL, SUBSCRIBE_URL]
    assert await events_stored(db) == []


async def test_an_open_is_acknowledged_and_not_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    [response] = await post(settings, db, aws, SnsSigner().notification(ses("event_open.json")))
    assert response.json() == {"stored": 0, "duplicates": 0, "matched": 0, "ignored": 1}
    assert await events_stored(db) == []
