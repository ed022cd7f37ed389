"""Resend and Amazon SES as the demo plays them: signed webhooks and the APIs the worker calls.

Resend posts an `email.received` event signed through Svix (`svix-id`, `svix-timestamp`,
`svix-signature`: base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the key after `whsec_`);
the worker then fetches the email from `GET /emails/receiving/{id}` and its raw message from the
`raw.download_url` the answer names. Amazon SES's receipt rule publishes a `Received`
notification, with the message in `content` (the SNS action), to an SNS topic that posts it here
signed with the key of a certificate served at `SigningCertURL` (AWS's documented string to
sign: each signed field's name and value, each on a line of its own).

The signing is written out from the providers' documentation, independently of `app.mail`, so a
mistake there cannot cancel itself out in the demo or in the tests that share these builders.
`FakeWeb` answers the worker's GETs in process (an `httpx.MockTransport`): nothing reaches the
network, and any URL it was not given is a 404.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from app.demo.provider_posts import DEMO_RECIPIENT, ProviderPost, read_sample

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


def svix_headers(
    body: bytes, *, key: bytes, at: float | None = None, message_id: str = "msg_2LJpKxRkqPmLdYw5"
) -> dict[str, str]:
    """Svix's headers for `body`: id, timestamp (now unless `at`), and the v1 signature."""
    timestamp = str(int(time.time() if at is None else at))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


def resend_secret(key: bytes) -> str:
    """The webhook's signing secret as Resend shows it (RESEND_SIGNING_SECRET)."""
    return "whsec_" + base64.b64encode(key).decode()


def resend_received_event(eml: bytes, email_id: str) -> dict[str, Any]:
    """The `email.received` event: the email's metadata only, its id to fetch it by."""
    email = read_sample(eml)
    return {
        "type": "email.received",
        "created_at": _iso(datetime.now(UTC)),
        "data": {
            "email_id": email_id,
            "created_at": _iso(email.sent_at()),
            "from": email.from_header,
            "to": [a.addr_spec for a in email.to] or [DEMO_RECIPIENT],
            "bcc": [],
            "cc": [],
            "message_id": email.message_id,
            "subject": email.subject,
            "attachments": [],
        },
    }


def resend_received_email(eml: bytes, email_id: str, download_url: str) -> dict[str, Any]:
    """`GET /emails/receiving/{id}`'s answer: the fields, and a signed link to the raw message."""
    email = read_sample(eml)
    return {
        "object": "email",
        "id": email_id,
        "to": [a.addr_spec for a in email.to],
        "from": email.from_header,
        "created_at": _iso(email.sent_at()),
        "subject": email.subject,
        "html": email.html or None,
        "text": email.text or None,
        "headers": {name.lower(): value for name, value in email.headers},
        "bcc": [],
        "cc": [],
        "reply_to": [],
        "message_id": email.message_id,
        "attachments": [],
        "raw": {
            "download_url": download_url,
            "expires_at": _iso(datetime.now(UTC) + timedelta(hours=1)),
        },
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    """AWS's documented string to sign: name and value lines for each signed field present."""
    names = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode("utf-8")


@dataclass
class SnsSigner:
    """Signs SNS messages with one key, as if its certificate were served at `cert_url`."""

    key: rsa.RSAPrivateKey
    cert_url: str
    topic: str

    def sign(self, message: dict[str, str], version: str = "1") -> dict[str, str]:
        """Add SignatureVersion, SigningCertURL and the signature to `message`."""
        signed = dict(message, SignatureVersion=version, SigningCertURL=self.cert_url)
        # SNS SignatureVersion 1 is RSA with SHA-1, as AWS still sends by default.
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303
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
        subscribe_url: str,
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


def ses_received_notification(
    eml: bytes,
    *,
    topic: str,
    recipient: str = DEMO_RECIPIENT,
    message_id: str = "demo0ses0message",
    verdicts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """SES's `Received` notification of an SNS action: the message base64 in `content`.

    `verdicts` overrides receipt verdicts by name (`dkimVerdict="FAIL"`); all PASS otherwise.
    """
    email = read_sample(eml)
    stamp = _iso(datetime.now(UTC))
    receipt: dict[str, Any] = {
        "timestamp": stamp,
        "processingTimeMillis": 412,
        "recipients": [recipient],
    }
    for name in ("spamVerdict", "virusVerdict", "spfVerdict", "dkimVerdict", "dmarcVerdict"):
        receipt[name] = {"status": (verdicts or {}).get(name, "PASS")}
    receipt["action"] = {"type": "SNS", "topicArn": topic, "encoding": "BASE64"}
    return {
        "notificationType": "Received",
        "mail": {
            "timestamp": stamp,
            "source": email.from_address,
            "messageId": message_id,
            "destination": [recipient],
            "headersTruncated": False,
            "headers": [{"name": n, "value": v} for n, v in email.headers],
            "commonHeaders": {
                "returnPath": email.from_address,
                "from": [email.from_header],
                "date": email.date,
                "to": [str(a) for a in email.to],
                "messageId": email.message_id,
                "subject": email.subject,
            },
        },
        "receipt": receipt,
        "content": base64.b64encode(eml).decode("ascii"),
    }


def ses_post(signer: SnsSigner, notification: dict[str, Any], message_id: str) -> ProviderPost:
    """SNS's POST of `notification` on the signer's topic."""
    message = signer.notification(notification, message_id=message_id)
    return ProviderPost(json.dumps(message).encode(), sns_headers(message))


@dataclass
class FakeWeb:
    """The outside world at the HTTP boundary: answers GETs from a table, records the URLs."""

    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def serve(self, url: str, body: bytes, status: int = 200) -> None:
        """Answer GET `url` with `body`."""
        self.answers[url] = (status, body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The MockTransport handler: the table's answer, or 404 for any other URL."""
        url = str(request.url)
        self.asked.append(url)
        status, body = self.answers.get(url, (404, b"not found"))
        return httpx.Response(status, content=body)

    def transport(self) -> httpx.MockTransport:
        """An httpx transport that never leaves the process."""
        return httpx.MockTransport(self.handle)
