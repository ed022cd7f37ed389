"""Inbound providers at the HTTP boundary, for tests: SNS and Svix signing, and a fake GET.

Amazon SNS: a self-signed certificate and messages signed with its key. Resend: Svix's headers.
The signing is the demo's (`app.demo.outside_world`, written from the providers' documentation
independently of `app.mail`); here it gets the tests' fixed keys, topic and URLs.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import rsa

from app.demo.outside_world import SnsSigner as DemoSnsSigner
from app.demo.outside_world import certificate_pem, sns_headers, string_to_sign
from app.demo.outside_world import svix_headers as demo_svix_headers
from app.mail.adapter import HttpReply

__all__ = ["certificate_pem", "sns_headers", "string_to_sign"]

RESEND_KEY = b"resend-test-signing-key-0123456789"
RESEND_SECRET = "whsec_" + base64.b64encode(RESEND_KEY).decode()
TOPIC = "arn:aws:sns:us-east-1:123456789012:shop-inbound"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000test.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425"
)


@functools.cache
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class SnsSigner(DemoSnsSigner):
    """The demo's SNS signer with the tests' key, certificate URL and topic as defaults."""

    key: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    cert_url: str = CERT_URL
    topic: str = TOPIC

    def confirmation(
        self,
        kind: str = "SubscriptionConfirmation",
        *,
        subscribe_url: str = SUBSCRIBE_URL,
        version: str = "1",
    ) -> dict[str, str]:
        """A signed SubscriptionConfirmation (or UnsubscribeConfirmation)."""
        return super().confirmation(kind, subscribe_url=subscribe_url, version=version)


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
    """Svix's headers for `body` under the tests' key: id, timestamp (now unless `at`), v1."""
    return demo_svix_headers(body, key=key, at=at)
