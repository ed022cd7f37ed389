"""Amazon SES receiving through SNS: SNS and S3 actions, verdicts, events, S3 fetched with SigV4."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import (
    Delivery,
    Fetched,
    FetchFailed,
    HttpReply,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    UnusableEmail,
)
from app.mail.ceilings import MimeCeilings, OverCeiling
from app.mail.identity import verify_sender
from app.mail.mime import content_checksum
from app.mail.models import DkimResult, InboundEmail
from app.mail.providers.amazon_ses import (
    ADAPTER,
    FORMAT_FETCHED,
    FORMAT_S3,
    FORMAT_SNS,
    SPAM_FAIL_SCORE,
    s3_url,
)
from app.mail.sns import CERTIFICATES
from tests.builders import make_eml, payload
from tests.provider_fakes import (
    TOPIC,
    FakeGet,
    SnsSigner,
    certificate_pem,
    rsa_key,
    sns_headers,
)

SECRETS = InboundSecrets(
    sns_cert_hosts=("sns.*.amazonaws.com",),
    sns_topic_arns=(TOPIC,),
    aws_access_key_id="AKIDEXAMPLE",
    aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    aws_region="us-east-1",
)
S3_URL = "https://shop-inbound-mail.s3.us-east-1.amazonaws.com/inbound/4h1u7ses0example"


def notification(name: str, **changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(payload(f"amazon_ses/{name}"))
    found.update(changes)
    return found


def sns_body(message: dict[str, Any] | str) -> bytes:
    return json.dumps(SnsSigner().notification(message)).encode()


def request(body: bytes) -> InboundRequest:
    fields = json.loads(body)
    return InboundRequest(headers=sns_headers(fields), body=body, content_type="text/plain")


def read(body: bytes) -> Delivery | NotAnEmail:
    return ADAPTER.read(request(body), max_parts=1000)


def delivery_of(body: bytes) -> Delivery:
    found = read(body)
    assert isinstance(found, Delivery)
    return found


def parse(body: bytes, delivery: Delivery | None = None) -> InboundEmail:
    found = delivery or delivery_of(body)
    return ADAPTER.parse(body, "text/plain", found, max_parts=1000, ceilings=MimeCeilings())


def with_receipt(base: dict[str, Any], **verdicts: str) -> dict[str, Any]:
    receipt = dict(base["receipt"])
    for name, status in verdicts.items():
        receipt[name] = {"status": status}
    return dict(base, receipt=receipt)


def sns_action(eml: bytes, **verdicts: str) -> dict[str, Any]:
    base = notification("received_sns_base64.json", content=base64.b64encode(eml).decode())
    return with_receipt(base, **verdicts)


def test_an_sns_action_notification_is_read_from_its_base64_content() -> None:
    body = sns_body(notification("received_sns_base64.json"))
    delivery = delivery_of(body)
    eml = payload("amazon_ses/order_question.eml")
    assert delivery == Delivery(
        FORMAT_SNS, content_checksum(eml), "<ses-1@mail.example.com>", False, ("support@shop.test",)
    )
    assert not ADAPTER.needs_fetch(delivery.payload_format)


def test_the_email_carries_ses_verdicts_and_its_sender_is_verified() -> None:
    email = parse(sns_body(notification("received_sns_base64.json")))
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.subject == "Where is my order #1001?"
    assert "where is my order #1001" in email.text
    assert email.envelope_from == "sara@example.com"
    assert email.envelope_to == ("support@shop.test",)
    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="example.com", result="pass"),)
    assert email.auth.spam_score is None
    assert verify_sender(email).verified


def test_a_utf8_notification_with_a_latin1_email_is_decoded() -> None:
    email = parse(sns_body(notification("received_sns_utf8.json")))
    assert email.subject == "Devolución del pedido nº 1002"
    assert email.from_ is not None
    assert email.from_.name == "José Muñoz"
    assert "La talla es pequeña." in email.text
    assert [(a.filename, a.content_type, a.size) for a in email.attachments] == [
        ("factura.pdf", "application/pdf", 52)
    ]
    # No DKIM signature, SES said GRAY; SPF passed for an aligned envelope sender.
    assert email.auth.dkim == ()
    assert email.auth.spf == "pass"
    assert verify_sender(email).reason == "spf_pass_aligned:example.es"


@pytest.mark.parametrize(
    ("status", "spf"),
    [
        ("PASS", "pass"),
        ("FAIL", "fail"),
        ("GRAY", "none"),
        ("PROCESSING_FAILED", "temperror"),
        ("SOMETHING_NEW", None),
    ],
)
def test_the_spf_verdict_becomes_the_spf_result(status: str, spf: str | None) -> None:
    email = parse(sns_body(sns_action(payload("amazon_ses/order_question.eml"), spfVerdict=status)))
    assert email.auth.spf == spf


def test_a_dkim_fail_is_reported_for_the_signing_domain_and_verifies_nobody() -> None:
    eml = payload("amazon_ses/order_question.eml")
    email = parse(sns_body(sns_action(eml, dkimVerdict="FAIL", spfVerdict="FAIL")))
    assert email.auth.dkim == (DkimResult(domain="example.com", result="fail"),)
    assert not verify_sender(email).verified


def test_a_dkim_pass_with_several_signatures_names_no_domain() -> None:
    eml = payload("amazon_ses/order_question.eml").replace(
        b"From: Sara", b"DKIM-Signature: v=1; d=evil.test; s=x; b=abc=\r\nFrom: Sara", 1
    )
    email = parse(sns_body(sns_action(eml, spfVerdict="FAIL")))
    assert email.auth.dkim == ()
    assert any("several signatures" in d for d in email.defects)
    assert not verify_sender(email).verified


@pytest.mark.parametrize("verdict", ["spamVerdict", "virusVerdict"])
def test_a_spam_or_virus_fail_becomes_a_high_spam_score(verdict: str) -> None:
    eml = payload("amazon_ses/order_question.eml")
    email = parse(sns_body(sns_action(eml, **{verdict: "FAIL"})))
    assert email.auth.spam_score == SPAM_FAIL_SCORE
    assert f"SES {verdict} FAIL" in email.defects


def test_an_email_without_a_sender_still_parses() -> None:
    email = parse(sns_body(sns_action(make_eml(sender=""))))
    assert email.from_ is None
    assert email.subject == "Where is my order #1001?"


def test_an_empty_email_is_unusable() -> None:
    with pytest.raises(UnusableEmail):
        parse(sns_body(sns_action(b"")))


def test_an_s3_action_is_a_reference_keyed_by_its_object() -> None:
    delivery = delivery_of(sns_body(notification("received_s3.json")))
    where = b"ses-s3:shop-inbound-mail/inbound/4h1u7ses0example"
    assert delivery == Delivery(
        FORMAT_S3,
        content_checksum(where),
        "<ses-1@mail.example.com>",
        False,
        ("support@shop.test",),
    )
    assert ADAPTER.needs_fetch(FORMAT_S3)


def sigv4_signature(url: str, headers: dict[str, str], secret: str) -> str:
    """AWS Signature Version 4 of a GET, written out from AWS's documentation."""
    parts = urlsplit(url)
    authorization = headers["authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    values = dict(headers, host=parts.hostname or "")
    canonical = "\n".join(
        [
            "GET",
            parts.path,
            parts.query,
            "".join(f"{name}:{values[name].strip()}\n" for name in signed),
            ";".join(signed),
            headers["x-amz-content-sha256"],
        ]
    )
    stamp = headers["x-amz-date"]
    scope = f"{stamp[:8]}/us-east-1/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{secret}".encode()
    for piece in (stamp[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


async def test_the_s3_object_is_fetched_with_a_sigv4_signature_and_parsed() -> None:
    body = sns_body(notification("received_s3.json"))
    eml = payload("amazon_ses/order_question.eml")
    http = FakeGet({S3_URL: HttpReply(status=200, body=eml, headers={})})
    fetched = await ADAPTER.fetch(body, "text/plain", FORMAT_S3, SECRETS, http)
    assert fetched.payload_format == FORMAT_FETCHED
    [(url, headers)] = http.asked
    assert url == S3_URL
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/s3/aws4_request" in headers["authorization"]
    expected = sigv4_signature(url, headers, SECRETS.aws_secret_access_key or "")
    assert headers["authorization"].endswith(f"Signature={expected}")
    delivery = replace(delivery_of(body), payload_format=fetched.payload_format)
    email = ADAPTER.parse(
        fetched.raw, fetched.content_type, delivery, max_parts=1000, ceilings=MimeCeilings()
    )
    assert email.from_ is not None
    assert email.from_.address == "sara@example.com"
    assert email.auth.spf == "pass"
    assert email.auth.dkim == (DkimResult(domain="example.com", result="pass"),)
    assert email.envelope_from == "sara@example.com"
    assert verify_sender(email).verified


async def fetch_with(http: FakeGet, secrets: InboundSecrets = SECRETS, **action: Any) -> Fetched:
    base = notification("received_s3.json")
    base["receipt"] = dict(base["receipt"], action=dict(base["receipt"]["action"], **action))
    return await ADAPTER.fetch(sns_body(base), "text/plain", FORMAT_S3, secrets, http)


@pytest.mark.parametrize(
    ("secrets", "action", "error"),
    [
        (replace(SECRETS, aws_secret_access_key=None), {}, "AWS_ACCESS_KEY_ID"),
        (replace(SECRETS, aws_access_key_id=None), {}, "AWS_ACCESS_KEY_ID"),
        (replace(SECRETS, aws_region="us-east-1/../x"), {}, "AWS_REGION"),
        (SECRETS, {"bucketName": "../etc"}, "no usable bucket"),
        (SECRETS, {"objectKey": ""}, "no object key"),
        (SECRETS, {"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc"}, "KMS"),
    ],
)
async def test_a_fetch_that_cannot_be_made_fails_without_a_request(
    secrets: InboundSecrets, action: dict[str, Any], error: str
) -> None:
    http = FakeGet()
    with pytest.raises(FetchFailed, match=error):
        await fetch_with(http, secrets, **action)
    assert http.asked == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (HttpReply(status=403, body=b"AccessDenied", headers={}), "S3 answered 403"),
        (HttpReply(status=404, body=b"NoSuchKey", headers={}), "S3 answered 404"),
        (ConnectionError("connection reset"), "connection reset"),
    ],
)
async def test_an_s3_refusal_or_outage_is_a_failed_fetch(
    answer: HttpReply | OSError, error: str
) -> None:
    with pytest.raises(FetchFailed, match=error):
        await fetch_with(FakeGet({S3_URL: answer}))


@pytest.mark.parametrize(
    ("bucket", "key", "region", "url"),
    [
        ("mail", "a/b c+d", "eu-west-1", "https://mail.s3.eu-west-1.amazonaws.com/a/b%20c%2Bd"),
        ("my.mail", "k", "us-east-1", "https://s3.us-east-1.amazonaws.com/my.mail/k"),
        ("Old_Bucket", "k", "us-east-1", "https://s3.us-east-1.amazonaws.com/Old_Bucket/k"),
        ("mail", "k", "cn-north-1", "https://mail.s3.cn-north-1.amazonaws.com.cn/k"),
    ],
)
def test_s3_urls(bucket: str, key: str, region: str, url: str) -> None:
    assert s3_url(bucket, key, region) == url


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (json.loads(payload("amazon_ses/bounce.json")), "Bounce"),
        ({"notificationType": "Complaint", "complaint": {}}, "Complaint"),
        ({"eventType": "Delivery", "delivery": {}}, "Delivery"),
        ({"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}, "AMAZON_SES_SETUP_NOTIFICATION"),
        ({}, "unknown"),
    ],
)
def test_ses_sending_events_are_not_emails(message: dict[str, Any], kind: str) -> None:
    assert read(sns_body(message)) == NotAnEmail(kind=kind)


def test_a_subscription_confirmation_is_confirmed_only_on_an_aws_host() -> None:
    signer = SnsSigner()
    found = read(json.dumps(signer.confirmation()).encode())
    assert isinstance(found, NotAnEmail)
    assert found.kind == "SubscriptionConfirmation"
    assert found.confirm_url is not None
    assert found.confirm_url.startswith("https://sns.us-east-1.amazonaws.com/?Action=Confirm")
    for url in ("https://evil.test/confirm", "http://sns.us-east-1.amazonaws.com/x"):
        elsewhere = read(json.dumps(signer.confirmation(subscribe_url=url)).encode())
        assert elsewhere == NotAnEmail(kind="SubscriptionConfirmation")
    unsubscribe = read(json.dumps(signer.confirmation("UnsubscribeConfirmation")).encode())
    assert unsubscribe == NotAnEmail(kind="UnsubscribeConfirmation")


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (
            json.dumps({"notificationType": "Received", "receipt": {"action": {"type": "Lambda"}}}),
            "carries no email",
        ),
        (
            json.dumps(
                {
                    "notificationType": "Received",
                    "receipt": {"action": {"type": "SNS", "encoding": "BASE64"}},
                }
            ),
            "without content",
        ),
        (
            json.dumps(
                {
                    "notificationType": "Received",
                    "content": "!!!",
                    "receipt": {"action": {"type": "SNS", "encoding": "BASE64"}},
                }
            ),
            "not base64",
        ),
        (
            json.dumps({"notificationType": "Received", "receipt": {"action": {"type": "S3"}}}),
            "bucketName",
        ),
    ],
)
def test_an_unreadable_notification_is_a_read_error(message: str, error: str) -> None:
    with pytest.raises(ReadError, match=error):
        read(sns_body(message))


def test_a_body_that_is_no_sns_message_is_a_read_error() -> None:
    with pytest.raises(ReadError):
        ADAPTER.read(InboundRequest(headers={}, body=b"{}", content_type=""), max_parts=10)


def test_the_headers_refuse_another_topic_or_a_missing_message_type() -> None:
    now = time.time()
    good = sns_headers(SnsSigner().notification("x"))
    assert ADAPTER.check_headers(good, SECRETS, now)
    assert not ADAPTER.check_headers({**good, "x-amz-sns-topic-arn": "arn:other"}, SECRETS, now)
    assert not ADAPTER.check_headers({**good, "x-amz-sns-message-type": "Other"}, SECRETS, now)
    without_type = {k: v for k, v in good.items() if k != "x-amz-sns-message-type"}
    assert not ADAPTER.check_headers(without_type, SECRETS, now)


def test_without_topics_the_route_is_closed_unless_unauthenticated_posts_are_allowed() -> None:
    good = sns_headers(SnsSigner().notification("x"))
    closed = replace(SECRETS, sns_topic_arns=())
    assert not ADAPTER.configured(closed)
    assert not ADAPTER.check_headers(good, closed, time.time())
    assert ADAPTER.check_headers(good, replace(closed, allow_unauthenticated=True), time.time())


@pytest.fixture
def served() -> FakeGet:
    CERTIFICATES.clear()
    return FakeGet.serving(certificate_pem(rsa_key()))


async def test_the_body_check_verifies_the_signature(served: FakeGet) -> None:
    body = sns_body(notification("received_sns_base64.json"))
    assert await ADAPTER.check_body(request(body), SECRETS, time.time(), served)
    tampered = body.replace(b"support@shop.test", b"someone@shop.test")
    assert not await ADAPTER.check_body(request(tampered), SECRETS, time.time(), served)


async def test_the_body_check_refuses_a_type_other_than_the_header_says(served: FakeGet) -> None:
    body = sns_body("x")
    lying = InboundRequest(
        headers={**request(body).headers, "x-amz-sns-message-type": "SubscriptionConfirmation"},
        body=body,
        content_type="text/plain",
    )
    assert not await ADAPTER.check_body(lying, SECRETS, time.time(), served)
    garbage = InboundRequest(headers=lying.headers, body=b"garbage", content_type="")
    assert not await ADAPTER.check_body(garbage, SECRETS, time.time(), served)


async def test_a_signed_confirmation_to_a_disallowed_host_is_refused(served: FakeGet) -> None:
    signed = SnsSigner().confirmation(subscribe_url="https://evil.test/confirm")
    body = json.dumps(signed).encode()
    assert not await ADAPTER.check_body(request(body), SECRETS, time.time(), served)
    assert served.asked == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "notificationType",
        "receipt",
        "mail",
        "content",
        "action",
        "type",
        "encoding",
        "bucketName",
        "objectKey",
        "recipients",
        "source",
        "spfVerdict",
        "dkimVerdict",
        "status",
    ]
)
SES_LIKE = st.recursive(
    st.none() | st.text(max_size=30) | st.sampled_from(["Received", "SNS", "S3", "BASE64", "PASS"]),
    lambda inner: st.dictionaries(KEYS, inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=25,
)


@given(JSON | SES_LIKE)
def test_reading_and_parsing_raise_only_the_documented_errors(message: object) -> None:
    body = sns_body(json.dumps(message))
    try:
        found = read(body)
        if isinstance(found, Delivery) and found.payload_format == FORMAT_SNS:
            parse(body, found)
    except (ReadError, UnusableEmail, OverCeiling):
        pass
