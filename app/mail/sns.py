"""Amazon SNS messages posted to an HTTPS endpoint, and their signatures.

SNS signs every message it delivers (notification, subscription and unsubscription
confirmations) with the key of an X.509 certificate it serves at `SigningCertURL`:
SignatureVersion 1 is RSA with SHA-1, version 2 RSA with SHA-256, over a string built from the
message's fields. The certificate is trusted only when it comes over HTTPS from a host matching
one of the configured patterns (`*` stands for exactly one DNS label), so the TLS connection to
AWS is what vouches for it; it is fetched through the caller's `HttpGet` and kept in memory per
URL. A message is authentic only for a topic the operator listed: anyone can publish signed
messages on a topic of their own.

Messages carry a signed Timestamp, but no freshness window is applied: SNS redelivers with the
original timestamp for as long as its retry policy says (up to an hour), and a replayed message
is the same delivery again, which intake deduplicates.

Shared by every route that receives SNS (SES inbound mail, SES delivery events): `headers_ok`
and `body_ok` are the whole check, with SES_SNS_CERT_HOSTS and SES_SNS_TOPIC_ARNS, and
`confirm_url` the only link a SubscriptionConfirmation is followed to.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from app.mail.adapter import HttpGet, InboundRequest, InboundSecrets

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
MESSAGE_TYPES = frozenset({NOTIFICATION, SUBSCRIPTION_CONFIRMATION, UNSUBSCRIBE_CONFIRMATION})

# The fields each message type signs, in the order AWS documents them (absent ones are skipped).
_SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS[UNSUBSCRIBE_CONFIRMATION] = _SIGNED_FIELDS[SUBSCRIPTION_CONFIRMATION]
AWS_SNS_HOSTS = ("sns.*.amazonaws.com", "sns.*.amazonaws.com.cn")
"""AWS's own SNS endpoints: the only hosts a subscription confirmation link is followed to."""
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_CERTIFICATE_BYTES = 64 * 1024
TYPE_HEADER = "x-amz-sns-message-type"
TOPIC_HEADER = "x-amz-sns-topic-arn"


class SnsError(ValueError):
    """The body is not an SNS message."""


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """One SNS message as posted: its type, topic, payload and every field it carries."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    fields: dict[str, str]

    def get(self, name: str) -> str | None:
        """A field's value, or None."""
        return self.fields.get(name)


def parse_message(body: bytes) -> SnsMessage:
    """Read an SNS message from a request body.

    Raises:
        SnsError: not a JSON object with SNS's string fields and a known type.
    """
    try:
        loaded: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise SnsError(f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(loaded, dict):
        raise SnsError("not a JSON object")
    fields = {key: value for key, value in loaded.items() if isinstance(value, str)}
    message_type = fields.get("Type", "")
    if message_type not in MESSAGE_TYPES:
        raise SnsError(f"unknown SNS message type {message_type[:60]!r}")
    for name in ("MessageId", "TopicArn", "Message"):
        if name not in fields:
            raise SnsError(f"no {name}")
    return SnsMessage(
        type=message_type,
        message_id=fields["MessageId"],
        topic_arn=fields["TopicArn"],
        message=fields["Message"],
        fields=fields,
    )


def string_to_sign(message: SnsMessage) -> bytes:
    """The bytes SNS signed: each signed field present, in order, as its name and value lines."""
    lines: list[str] = []
    for name in _SIGNED_FIELDS[message.type]:
        value = message.get(name)
        if value is not None:
            lines += [name, value]
    return ("\n".join(lines) + "\n").encode("utf-8")


def host_allowed(url: str, patterns: Iterable[str]) -> bool:
    """Whether `url` is HTTPS on the default port to a host matching one of `patterns`.

    A pattern is a DNS name whose `*` labels each match exactly one label (`sns.*.amazonaws.com`
    matches `sns.eu-west-1.amazonaws.com`, never `sns.evil.example.amazonaws.com`). User
    information, another port or anything but https refuses the URL.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return False
    if port not in (None, 443) or not parts.hostname:
        return False
    labels = parts.hostname.rstrip(".").split(".")
    return any(_matches(labels, pattern) for pattern in patterns)


def _matches(labels: list[str], pattern: str) -> bool:
    wanted = pattern.strip().lower().rstrip(".").split(".")
    if len(wanted) != len(labels):
        return False
    for label, want in zip(labels, wanted, strict=True):
        if want == "*":
            if not _LABEL.fullmatch(label):
                return False
        elif label != want:
            return False
    return True


def topic_allowed(topic_arn: str, allowed: Iterable[str]) -> bool:
    """Whether the topic is one the operator listed (exact ARN match)."""
    return topic_arn in {arn.strip() for arn in allowed if arn.strip()}


class SigningCertificates:
    """SNS signing certificates by URL, fetched on first use and kept (a bounded number)."""

    def __init__(self, max_entries: int = 32) -> None:
        self._max_entries = max_entries
        self._keys: OrderedDict[str, x509.Certificate] = OrderedDict()

    def clear(self) -> None:
        """Forget every certificate (tests; a rotated key is a new URL anyway)."""
        self._keys.clear()

    async def get(self, url: str, http: HttpGet) -> x509.Certificate | None:
        """The certificate at `url` (already vetted), or None when what came back is not one.

        Raises:
            OSError: nothing came back (the caller refuses the message; SNS retries).
        """
        found = self._keys.get(url)
        if found is not None:
            self._keys.move_to_end(url)
            return found
        reply = await http(url, {})
        if reply.status != 200 or len(reply.body) > _MAX_CERTIFICATE_BYTES:
            return None
        try:
            certificate = x509.load_pem_x509_certificate(reply.body)
        except ValueError:
            return None
        self._keys[url] = certificate
        while len(self._keys) > self._max_entries:
            self._keys.popitem(last=False)
        return certificate


async def verify(
    message: SnsMessage,
    *,
    cert_hosts: Iterable[str],
    topics: Iterable[str],
    certificates: SigningCertificates,
    http: HttpGet,
    now: float,
) -> bool:
    """Whether SNS signed `message` for one of `topics`, with a certificate from `cert_hosts`.

    The certificate URL is vetted before anything is fetched; a certificate outside its
    validity period, or with anything but an RSA key, proves nothing.

    Raises:
        OSError: the certificate could not be fetched.
    """
    if not topic_allowed(message.topic_arn, topics):
        return False
    algorithm = _HASHES.get(message.get("SignatureVersion") or "")
    cert_url = message.get("SigningCertURL") or ""
    # Vetted first: `host_allowed` also refuses what does not parse as a URL at all.
    if algorithm is None or not host_allowed(cert_url, cert_hosts):
        return False
    if not urlsplit(cert_url).path.endswith(".pem"):
        return False
    try:
        signature = base64.b64decode(message.get("Signature") or "", validate=True)
    except (binascii.Error, ValueError):
        return False
    certificate = await certificates.get(cert_url, http)
    if certificate is None or not _valid_at(certificate, now):
        return False
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature:
        return False
    return True


def _valid_at(certificate: x509.Certificate, now: float) -> bool:
    moment = datetime.fromtimestamp(now, UTC)
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


CERTIFICATES = SigningCertificates()
"""SNS signing certificates this process has fetched, by URL (one cache for every SNS route)."""


def configured(secrets: InboundSecrets) -> bool:
    """Whether certificate hosts and the accepted topics are set."""
    return bool(secrets.sns_cert_hosts) and bool(secrets.sns_topic_arns)


def headers_ok(headers: Mapping[str, str], secrets: InboundSecrets) -> bool:
    """Refuse what SNS's own headers show is not an SNS message for one of our topics."""
    if not configured(secrets):
        return secrets.allow_unauthenticated
    if headers.get(TYPE_HEADER) not in MESSAGE_TYPES:
        return False
    return topic_allowed(headers.get(TOPIC_HEADER) or "", secrets.sns_topic_arns)


async def body_ok(
    request: InboundRequest, secrets: InboundSecrets, now: float, http: HttpGet
) -> bool:
    """Whether SNS signed the body (`verify`), as the type header says; a SubscribeURL is vetted.

    Raises:
        OSError: the signing certificate could not be fetched.
    """
    if not configured(secrets):
        return secrets.allow_unauthenticated
    try:
        message = parse_message(request.body)
    except SnsError:
        return False
    if message.type != request.headers.get(TYPE_HEADER):
        return False
    subscribe = message.get("SubscribeURL")
    if subscribe is not None and not host_allowed(subscribe, secrets.sns_cert_hosts):
        return False
    return await verify(
        message,
        cert_hosts=secrets.sns_cert_hosts,
        topics=secrets.sns_topic_arns,
        certificates=CERTIFICATES,
        http=http,
        now=now,
    )


def confirm_url(message: SnsMessage) -> str | None:
    """The SubscribeURL of a SubscriptionConfirmation, when it is on AWS's own SNS hosts."""
    if message.type != SUBSCRIPTION_CONFIRMATION:
        return None
    url = message.get("SubscribeURL") or ""
    return url if host_allowed(url, AWS_SNS_HOSTS) else None
