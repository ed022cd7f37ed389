"""Signing delivery-event requests as each provider does, for the tests (keys made here)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.mail.events.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER

EVENTS = Path(__file__).resolve().parents[2] / "payloads" / "events"
MAILGUN_KEY = "key-0123456789abcdef-mailgun-signing"


def fixture(provider: str, name: str) -> bytes:
    """A fixture written from the provider's documented format."""
    return (EVENTS / provider / name).read_bytes()


@dataclass(frozen=True)
class SendGridKey:
    """An EC P-256 key pair as SendGrid's Signed Event Webhook uses."""

    private: ec.EllipticCurvePrivateKey
    public_b64: str
    """What SendGrid shows as the verification key: base64 DER SubjectPublicKeyInfo."""

    def headers(self, body: bytes, timestamp: int) -> dict[str, str]:
        """The signature headers SendGrid sends with `body`."""
        signature = self.private.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: str(timestamp),
            "content-type": "application/json",
        }


def sendgrid_key(seed: int = 0) -> SendGridKey:
    """A key pair made once per seed (a test can hold a second, wrong one)."""
    return _key_pair(seed)


@cache
def _key_pair(seed: int) -> SendGridKey:
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SendGridKey(private=private, public_b64=base64.b64encode(der).decode())


def mailgun_signed(
    payload: dict[str, Any] | bytes, timestamp: int, *, key: str = MAILGUN_KEY, token: str = "t"
) -> bytes:
    """The payload with its `signature` block signed as Mailgun signs it."""
    data = json.loads(payload) if isinstance(payload, bytes) else dict(payload)
    token = token * 50 if len(token) == 1 else token
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    data["signature"] = {"timestamp": str(timestamp), "token": token, "signature": digest}
    return json.dumps(data).encode()
