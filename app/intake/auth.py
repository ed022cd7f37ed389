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
from app.mail.adapter import InboundSecrets

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
        # With neither set (another provider's key is), SendGrid's route is open only when
        # unauthenticated posts are explicitly allowed.
        self._open = self._key is None and settings.INBOUND_ALLOW_UNAUTHENTICATED

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
            return self._key is not None or self._open
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


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def inbound_secrets(settings: Settings) -> InboundSecrets:
    """Every inbound provider's credentials from settings, for the adapters (`app.mail`)."""
    return InboundSecrets(
        basic_user=settings.INBOUND_BASIC_AUTH_USER,
        basic_password=_secret(settings.INBOUND_BASIC_AUTH_PASSWORD),
        allow_unauthenticated=settings.INBOUND_ALLOW_UNAUTHENTICATED,
        max_age_seconds=settings.INBOUND_SIGNATURE_MAX_AGE_SECONDS,
        mailgun_signing_key=_secret(settings.MAILGUN_SIGNING_KEY),
        mailersend_signing_secret=_secret(settings.MAILERSEND_SIGNING_SECRET),
        resend_signing_secret=_secret(settings.RESEND_SIGNING_SECRET),
        sns_cert_hosts=tuple(settings.SES_SNS_CERT_HOSTS),
        resend_api_key=_secret(settings.RESEND_API_KEY),
        resend_api_base_url=settings.RESEND_API_BASE_URL,
        brevo_api_key=_secret(settings.BREVO_API_KEY),
        brevo_api_base_url=settings.BREVO_API_BASE_URL,
        aws_access_key_id=settings.AWS_ACCESS_KEY_ID,
        aws_secret_access_key=_secret(settings.AWS_SECRET_ACCESS_KEY),
        aws_region=settings.AWS_REGION,
        sns_topic_arns=tuple(settings.SES_SNS_TOPIC_ARNS),
    )
