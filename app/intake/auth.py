"""Authenticating inbound webhook requests: HTTP Basic credentials and SendGrid's signature.

Basic credentials are compared in constant time. The signature (when a public key is configured)
is ECDSA P-256 / SHA-256 over the timestamp header followed by the exact request body; the body
is hashed as it streams in, so even an oversized request can be verified without keeping it.
Everything that can be judged from the headers alone (Basic credentials, a missing or stale
timestamp, a missing or malformed signature) is judged before the body is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from app.config import Settings, load_signing_key

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class InboundAuthenticator:
    """Checks built once from settings and shared by every request."""

    def __init__(self, settings: Settings) -> None:
        self._user = (settings.INBOUND_BASIC_AUTH_USER or "").encode("utf-8")
        password = settings.INBOUND_BASIC_AUTH_PASSWORD
        self._password = password.get_secret_value().encode("utf-8") if password else b""
        self._basic_required = settings.INBOUND_BASIC_AUTH_USER is not None
        key = settings.INBOUND_SIGNING_PUBLIC_KEY
        self._key: ec.EllipticCurvePublicKey | None = load_signing_key(key) if key else None
        self._max_age = settings.INBOUND_SIGNATURE_MAX_AGE_SECONDS

    @property
    def signature_required(self) -> bool:
        """Whether requests must carry a valid SendGrid signature."""
        return self._key is not None

    @property
    def headers_authenticate(self) -> bool:
        """Whether a request is proved authentic by its headers alone (Basic credentials)."""
        return self._basic_required

    def basic_auth_ok(self, authorization: str | None) -> bool:
        """Check an `Authorization: Basic ...` header against the configured credentials."""
        if not self._basic_required:
            return True
        if not authorization or not authorization[:6].lower() == "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        # Compare both parts every time, so timing says nothing about which one was wrong.
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(password, self._password)
        return bool(colon) and user_ok and password_ok

    def begin_signature(self, timestamp: str | None, *, now: float | None = None) -> Any | None:
        """Start hashing a signed request; None when the timestamp is missing or stale."""
        if timestamp is None or not timestamp.strip().isdigit():
            return None
        age = abs((now if now is not None else time.time()) - int(timestamp.strip()))
        # A window of 0 is off: recorded deliveries can be replayed.
        if self._max_age and age > self._max_age:
            return None
        digest = hashlib.sha256()
        digest.update(timestamp.strip().encode("ascii"))
        return digest

    def signature_well_formed(self, signature: str | None) -> bool:
        """Whether a signature header is there and is base64 DER, before the body is read."""
        if signature is None:
            return False
        try:
            utils.decode_dss_signature(base64.b64decode(signature.strip(), validate=True))
        except (binascii.Error, ValueError):
            return False
        return True

    def signature_ok(self, digest: Any, signature: str | None) -> bool:
        """Verify the base64 DER signature over the hashed timestamp and body."""
        if self._key is None or signature is None:
            return False
        try:
            der = base64.b64decode(signature.strip(), validate=True)
            self._key.verify(der, digest.digest(), ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True
