"""Inbound providers at the HTTP boundary, for tests: SNS and Svix signing, and a fake GET.

Amazon SNS: a self-signed certificate and messages signed with its key. Resend: Svix's headers.
The strings to sign are written out here from the providers' documentation, independently of
`app.mail`, so a mistake there cannot cancel itself out in the tests.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from app.mail.adapter import HttpReply

RESEND_KEY = b"resend-test-signing-key-0123456789"
RESEND_SECRET = "whsec_" + base64.b64encode(RESEND_KEY).decode()
TOPIC = "arn:aws:sns:us-east-1:123456789012:shop-inbound"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000test.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate_pem(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> bytes:
    """A self-signed certificate for `key` (no CA: the host it is served from is the trust)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def string_to_sign(message: Mapping[str, str]) -> bytes:
    """AWS's documented string to sign: `name\\nvalue\\n` per signed field present."""
    names = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode("utf-8")


@dataclass
class SnsSigner:
    """Signs SNS messages with one key, as if its certificate were served at `cert_url`."""

    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    cert_url: str = CERT_URL
    topic: str = TOPIC

    def sign(self, message: dict[str, str], version: str = "1") -> dict[str, str]:
        """Add SignatureVersion, SigningCertURL and the signature to `message`."""
        signed = dict(message, SignatureVersion=version, SigningCertURL=self.cert_url)
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed

    def notification(
        self,
        message: str | dict[str, Any],
        *,
        version: str = "1",
        subject: str | None = None,
        message_id: str = "7c3e5b2a-1f4d-5e6a-9b8c-0d1e2f3a4b5c",
    ) -> dict[str, str]:
        """A signed Notification carrying `message` (JSON-encoded when it is an object)."""
        body = {
            "Type": "Notification",
            "MessageId": message_id,
            "TopicArn": self.topic,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": "2026-11-23T09:15:02.512Z",
            "UnsubscribeURL": (
                "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"
                f"&SubscriptionArn={self.topic}:0b1c2d3e"
            ),
        }
        if subject is not None:
            body["Subject"] = subject
        return self.sign(body, version)

    def confirmation(
        self,
        kind: str = "SubscriptionConfirmation",
        *,
        subscribe_url: str = SUBSCRIBE_URL,
        version: str = "1",
    ) -> dict[str, str]:
        """A signed SubscriptionConfirmation (or UnsubscribeConfirmation)."""
        body = {
            "Type": kind,
            "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
            "Token": "2336412f37fb687f5d51e6e2425",
            "TopicArn": self.topic,
            "Message": f"You have chosen to subscribe to the topic {self.topic}.",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-11-23T09:00:00.000Z",
        }
        return self.sign(body, version)


def sns_headers(message: Mapping[str, str]) -> dict[str, str]:
    """The headers SNS sends with a message."""
    return {
        "content-type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
    }


class FakeGet:
    """The outside world at the HTTP boundary: answers from a table, records what was asked."""

    def __init__(self, answers: Mapping[str, HttpReply | OSError] | None = None) -> None:
        self.answers: dict[str, HttpReply | OSError] = dict(answers or {})
        self.asked: list[tuple[str, dict[str, str]]] = []

    @classmethod
    def serving(cls, pem: bytes, url: str = CERT_URL) -> FakeGet:
        """A GET that serves the certificate `pem` at `url`."""
        return cls({url: HttpReply(status=200, body=pem, headers={})})

    async def __call__(self, url: str, headers: Mapping[str, str]) -> HttpReply:
        self.asked.append((url, dict(headers)))
        answer = self.answers.get(url)
        if answer is None:
            return HttpReply(status=404, body=b"not found", headers={})
        if isinstance(answer, OSError):
            raise answer
        return answer

    def urls(self) -> list[str]:
        """Every URL asked for, in order."""
        return [url for url, _ in self.asked]


def svix_headers(
    body: bytes, *, key: bytes = RESEND_KEY, at: float | None = None
) -> dict[str, str]:
    """Svix's headers for `body`: id, timestamp (now unless `at`), and the v1 signature."""
    timestamp = str(int(time.time() if at is None else at))
    signed = b"msg_2LJpKxRkqPmLdYw5." + timestamp.encode() + b"." + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": "msg_2LJpKxRkqPmLdYw5",
        "svix-timestamp": timestamp,
        "svix-signature": f"v1,{signature}",
        "content-type": "application/json",
    }
