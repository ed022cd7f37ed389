"""Amazon SNS message signatures: versions 1 and 2, certificates only from allowed hosts, cached."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given
from hypothesis import strategies as st

from app.mail.adapter import HttpReply
from app.mail.sns import (
    SigningCertificates,
    SnsError,
    SnsMessage,
    host_allowed,
    parse_message,
    verify,
)
from tests.provider_fakes import CERT_URL, TOPIC, FakeGet, SnsSigner, certificate_pem, rsa_key

HOSTS = ("sns.*.amazonaws.com", "sns.*.amazonaws.com.cn")
NOW = time.time()


def message_of(fields: dict[str, str]) -> SnsMessage:
    return parse_message(json.dumps(fields).encode())


async def check(
    fields: dict[str, str],
    http: FakeGet,
    *,
    certificates: SigningCertificates | None = None,
    topics: tuple[str, ...] = (TOPIC,),
    now: float = NOW,
) -> bool:
    return await verify(
        message_of(fields),
        cert_hosts=HOSTS,
        topics=topics,
        certificates=certificates or SigningCertificates(),
        http=http,
        now=now,
    )


@pytest.fixture
def http() -> FakeGet:
    return FakeGet.serving(certificate_pem(rsa_key()))


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_notification_verifies_with_either_signature_version(
    http: FakeGet, version: str
) -> None:
    signer = SnsSigner()
    assert await check(signer.notification({"a": 1}, version=version), http)
    assert await check(signer.notification("plain text", subject="Hello", version=version), http)
    assert http.urls() == [CERT_URL, CERT_URL]


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
async def test_confirmations_sign_their_subscribe_url_and_token(http: FakeGet, kind: str) -> None:
    signed = SnsSigner().confirmation(kind, version="2")
    assert await check(signed, http)
    forged = dict(signed, SubscribeURL="https://sns.us-east-1.amazonaws.com/?Action=Other")
    assert not await check(forged, http)
    assert not await check(dict(signed, Token="another-token"), http)


@pytest.mark.parametrize(
    "field", ["Message", "MessageId", "Timestamp", "TopicArn", "Subject", "Type"]
)
async def test_changing_any_signed_field_breaks_the_signature(http: FakeGet, field: str) -> None:
    signed = SnsSigner().notification({"notificationType": "Received"}, subject="Hi")
    changed = dict(signed, **{field: "Notification" if field == "Type" else signed[field] + "x"})
    if field == "Type":
        # The only other type a notification could claim to be signs other fields.
        changed["Type"] = "UnsubscribeConfirmation"
        changed["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/"
        changed["Token"] = "t"
    topics = (TOPIC, changed["TopicArn"])
    assert not await check(changed, http, topics=topics)


async def test_a_subject_added_or_removed_breaks_the_signature(http: FakeGet) -> None:
    with_subject = SnsSigner().notification("text", subject="Hi")
    without = dict(with_subject)
    del without["Subject"]
    assert not await check(without, http)
    assert not await check(dict(SnsSigner().notification("text"), Subject="Hi"), http)


async def test_another_key_does_not_verify(http: FakeGet) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not await check(SnsSigner(key=other).notification("x"), http)


@pytest.mark.parametrize("version", ["", "3", "0", "SHA256"])
async def test_an_unknown_signature_version_is_refused_without_a_fetch(version: str) -> None:
    http = FakeGet.serving(certificate_pem(rsa_key()))
    signed = dict(SnsSigner().notification("x"), SignatureVersion=version)
    assert not await check(signed, http)
    assert http.asked == []


@pytest.mark.parametrize("signature", ["", "not base64!!", "AAAA=AAAA"])
async def test_a_malformed_signature_is_refused(http: FakeGet, signature: str) -> None:
    assert not await check(dict(SnsSigner().notification("x"), Signature=signature), http)


async def test_a_topic_not_listed_is_refused_before_any_fetch() -> None:
    http = FakeGet.serving(certificate_pem(rsa_key()))
    other_topic = SnsSigner(topic="arn:aws:sns:us-east-1:999999999999:someone-elses")
    assert not await check(other_topic.notification("x"), http)
    assert not await check(SnsSigner().notification("x"), http, topics=())
    assert http.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com.evil.test/cert.pem",
        "https://evil.test/cert.pem",
        "https://sns.a.b.amazonaws.com/cert.pem",
        "https://sns..amazonaws.com/cert.pem",
        "https://sqs.us-east-1.amazonaws.com/cert.pem",
        "https://attacker@sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/cert.pem",
        "https://sns.us-east-1.amazonaws.com/cert.txt",
        "https://sns.us_east_1.amazonaws.com/cert.pem",
        "file:///etc/ssl/cert.pem",
        "https://[::1/cert.pem",
        "https://sns.us-east-1.amazonaws.com:99999/cert.pem",
        "",
    ],
)
async def test_a_certificate_from_a_disallowed_url_is_refused_without_being_fetched(
    url: str,
) -> None:
    key = rsa_key()
    http = FakeGet({url: HttpReply(status=200, body=certificate_pem(key), headers={})})
    assert not await check(SnsSigner(cert_url=url).notification("x"), http)
    assert http.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
        "https://sns.us-east-1.amazonaws.com:443/x.pem",
    ],
)
async def test_certificates_from_allowed_hosts_are_used(url: str) -> None:
    http = FakeGet.serving(certificate_pem(rsa_key()), url)
    assert await check(SnsSigner(cert_url=url).notification("x"), http)


async def test_a_certificate_is_fetched_once_per_url_and_kept() -> None:
    http = FakeGet.serving(certificate_pem(rsa_key()))
    cache = SigningCertificates()
    for _ in range(3):
        assert await check(SnsSigner().notification("x"), http, certificates=cache)
    assert http.urls() == [CERT_URL]
    cache.clear()
    assert await check(SnsSigner().notification("x"), http, certificates=cache)
    assert http.urls() == [CERT_URL, CERT_URL]


async def test_the_cache_keeps_a_bounded_number_of_certificates() -> None:
    pem = certificate_pem(rsa_key())
    urls = [f"https://sns.us-east-1.amazonaws.com/cert-{i}.pem" for i in range(3)]
    http = FakeGet({url: HttpReply(status=200, body=pem, headers={}) for url in urls})
    cache = SigningCertificates(max_entries=2)
    for url in [*urls, urls[0]]:
        assert await check(SnsSigner(cert_url=url).notification("x"), http, certificates=cache)
    # The first certificate was evicted by the third, so it was fetched again.
    assert http.urls() == [*urls, urls[0]]


async def test_a_failed_fetch_is_not_cached_and_an_unreachable_host_raises() -> None:
    cache = SigningCertificates()
    missing = FakeGet()
    assert not await check(SnsSigner().notification("x"), missing, certificates=cache)
    assert not await check(SnsSigner().notification("x"), missing, certificates=cache)
    assert missing.urls() == [CERT_URL, CERT_URL]
    down = FakeGet({CERT_URL: ConnectionError("connection refused")})
    with pytest.raises(OSError, match="refused"):
        await check(SnsSigner().notification("x"), down, certificates=cache)


@pytest.mark.parametrize("body", [b"", b"not a certificate", b"-----BEGIN CERTIFICATE-----\nxx"])
async def test_a_body_that_is_no_certificate_proves_nothing(body: bytes) -> None:
    http = FakeGet({CERT_URL: HttpReply(status=200, body=body, headers={})})
    assert not await check(SnsSigner().notification("x"), http)


async def test_an_oversized_certificate_body_is_refused() -> None:
    pem = certificate_pem(rsa_key())
    http = FakeGet({CERT_URL: HttpReply(status=200, body=pem + b"\n" * 70_000, headers={})})
    assert not await check(SnsSigner().notification("x"), http)


async def test_a_certificate_outside_its_validity_period_proves_nothing() -> None:
    now = datetime.now(UTC)
    expired = certificate_pem(
        rsa_key(), not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    assert not await check(SnsSigner().notification("x"), FakeGet.serving(expired))
    future = certificate_pem(rsa_key(), not_before=now + timedelta(days=1))
    assert not await check(SnsSigner().notification("x"), FakeGet.serving(future))


async def test_a_certificate_without_an_rsa_key_proves_nothing() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    http = FakeGet.serving(certificate_pem(ec_key))
    assert not await check(SnsSigner().notification("x"), http)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"Type": "Other", "MessageId": "1", "TopicArn": "t", "Message": "m"}',
        b'{"Type": "Notification", "TopicArn": "t", "Message": "m"}',
        b'{"Type": "Notification", "MessageId": "1", "Message": "m"}',
        b'{"Type": "Notification", "MessageId": "1", "TopicArn": "t", "Message": 5}',
        b"[" * 100_000,
    ],
)
def test_what_is_not_an_sns_message_raises_sns_error(body: bytes) -> None:
    with pytest.raises(SnsError):
        parse_message(body)


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_message_raises_only_sns_error(body: bytes) -> None:
    try:
        parse_message(body)
    except SnsError:
        pass


@given(st.text(max_size=200), st.lists(st.text(max_size=40), max_size=3))
def test_host_allowed_never_raises_and_allows_only_https(url: str, patterns: list[str]) -> None:
    if host_allowed(url, patterns):
        assert url.lower().startswith("https://")
