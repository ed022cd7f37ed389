"""`POST /webhooks/amazon_ses/inbound` through the real app: SNS signed, S3 fetched."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.db.engine import Database
from app.mail.adapter import HttpReply
from app.mail.sns import CERTIFICATES
from tests.builders import payload
from tests.conftest import SettingsFactory
from tests.intake.providers.harness import app_client, count, drain, message, skip_backoff
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

URL = "/webhooks/amazon_ses/inbound"
S3_URL = "https://shop-inbound-mail.s3.us-east-1.amazonaws.com/inbound/4h1u7ses0example"
AWS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENGbPxRfiCY"}


@pytest.fixture(autouse=True)
def fresh_certificates() -> None:
    """Each test fetches the certificate itself: the cache lives as long as the process."""
    CERTIFICATES.clear()


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(SES_SNS_TOPIC_ARNS=TOPIC, **AWS)


@pytest.fixture
def aws() -> FakeGet:
    """SNS serving its certificate and confirming subscriptions; S3 holding one email."""
    return FakeGet(
        {
            CERT_URL: HttpReply(status=200, body=certificate_pem(rsa_key()), headers={}),
            SUBSCRIBE_URL: HttpReply(
                status=200, body=b"<ConfirmSubscriptionResponse/>", headers={}
            ),
            S3_URL: HttpReply(
                status=200, body=payload("amazon_ses/order_question.eml"), headers={}
            ),
        }
    )


def notification(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"amazon_ses/{name}"))
    return found


async def post(
    settings: Settings, db: Database, aws: FakeGet, message: dict[str, str]
) -> httpx.Response:
    async with app_client(settings, db, aws) as client:
        return await client.post(
            URL, content=json.dumps(message).encode(), headers=sns_headers(message)
        )


async def test_a_signed_sns_action_notification_is_stored_and_answered(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    signed = SnsSigner().notification(notification("received_sns_base64.json"), version="2")
    response = await post(settings, db, aws, signed)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "received"
    again = await post(settings, db, aws, signed)
    assert again.json() == {"status": "duplicate"}
    # The certificate was fetched once, then kept.
    assert aws.urls() == [CERT_URL]
    assert await drain(db, settings, aws) == 1
    stored = await message(db, response.json()["id"])
    assert (stored.provider, stored.payload_format) == ("amazon_ses", "ses-sns")
    assert stored.from_address == "sara@example.com"
    assert stored.sender_verified
    assert stored.identity_reason == "dkim_pass_aligned:example.com"
    assert stored.status in ("drafted", "answered")


async def test_an_s3_action_is_stored_and_the_worker_fetches_the_object(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    response = await post(
        settings, db, aws, SnsSigner().notification(notification("received_s3.json"))
    )
    assert response.json()["status"] == "received"
    assert await drain(db, settings, aws) == 1
    assert aws.urls() == [CERT_URL, S3_URL]
    s3_headers = aws.asked[1][1]
    assert s3_headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    stored = await message(db, response.json()["id"])
    assert stored.payload_format == "ses-s3"
    assert stored.subject == "Where is my order #1001?"
    assert stored.sender_verified


async def test_an_s3_object_that_cannot_be_read_is_retried_then_quarantined(
    make_settings: SettingsFactory, db: Database, aws: FakeGet
) -> None:
    settings = make_settings(SES_SNS_TOPIC_ARNS=TOPIC, JOB_MAX_ATTEMPTS=2, **AWS)
    aws.answers[S3_URL] = HttpReply(status=403, body=b"AccessDenied", headers={})
    signed = SnsSigner().notification(notification("received_s3.json"))
    pk = (await post(settings, db, aws, signed)).json()["id"]
    assert await drain(db, settings, aws) == 1
    assert (await message(db, pk)).status == "received"
    await skip_backoff(db)
    assert await drain(db, settings, aws) == 1
    stored = await message(db, pk)
    assert stored.status == "quarantined"
    assert "S3 answered 403" in (stored.status_reason or "")


async def test_a_forged_signature_is_refused_and_nothing_is_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    signed = SnsSigner().notification(notification("received_sns_base64.json"))
    forged = dict(signed, Message=signed["Message"].replace("PASS", "FAIL"))
    assert (await post(settings, db, aws, forged)).status_code == 401
    assert await count(db) == (0, 0)


async def test_a_certificate_from_a_disallowed_host_is_refused_without_being_fetched(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    evil = "https://certs.evil.test/SimpleNotificationService.pem"
    aws.answers[evil] = HttpReply(status=200, body=certificate_pem(rsa_key()), headers={})
    signed = SnsSigner(cert_url=evil).notification(notification("received_sns_base64.json"))
    assert (await post(settings, db, aws, signed)).status_code == 401
    assert aws.asked == []
    assert await count(db) == (0, 0)


async def test_another_topic_is_refused_by_its_headers(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    stranger = SnsSigner(topic="arn:aws:sns:us-east-1:999999999999:not-ours")
    signed = stranger.notification(notification("received_sns_base64.json"))
    assert (await post(settings, db, aws, signed)).status_code == 401
    assert aws.asked == []


async def test_without_topics_the_route_refuses_everything(
    make_settings: SettingsFactory, db: Database, aws: FakeGet
) -> None:
    signed = SnsSigner().notification(notification("received_sns_base64.json"))
    assert (await post(make_settings(**AWS), db, aws, signed)).status_code == 401


async def test_a_subscription_confirmation_is_confirmed_and_not_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    response = await post(settings, db, aws, SnsSigner().confirmation())
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "event": "SubscriptionConfirmation"}
    assert aws.urls() == [CERT_URL, SUBSCRIBE_URL]
    assert await count(db) == (0, 0)


async def test_a_confirmation_that_cannot_be_followed_asks_sns_to_retry(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    aws.answers[SUBSCRIBE_URL] = ConnectionError("connection refused")
    response = await post(settings, db, aws, SnsSigner().confirmation())
    assert response.status_code == 503


async def test_an_ses_bounce_posted_here_is_acknowledged_and_never_stored(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    signed = SnsSigner().notification(notification("bounce.json"))
    response = await post(settings, db, aws, signed)
    assert response.json() == {"status": "ignored", "event": "Bounce"}
    assert await count(db) == (0, 0)


async def test_a_signed_notification_that_is_no_ses_mail_is_quarantined(
    settings: Settings, db: Database, aws: FakeGet
) -> None:
    response = await post(settings, db, aws, SnsSigner().notification("plain text, not JSON"))
    assert response.json()["status"] == "quarantined"
    stored = await message(db, response.json()["id"])
    assert "unreadable amazon_ses payload" in (stored.status_reason or "")
