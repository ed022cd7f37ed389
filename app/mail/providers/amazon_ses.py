"""Amazon SES email receiving: a receipt rule's action notifies an SNS topic, SNS posts here.

Authentication is SNS's message signature (`app.mail.sns`), in the body: the certificate comes
only from SES_SNS_CERT_HOSTS, and only the topics in SES_SNS_TOPIC_ARNS are accepted (the
headers already refuse another topic). A `SubscriptionConfirmation` for a listed topic is
confirmed by following its SubscribeURL, which must be on AWS's own SNS hosts.

A `Notification` carries SES's receipt notification as JSON. With the SNS action, its `content`
is the raw message (base64 or UTF-8, as the action's encoding says); with the S3 action, the
message is the object `bucketName`/`objectKey`, which the worker fetches from S3 signed with
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (Signature Version 4, by botocore) in AWS_REGION.
SES's verdicts become the authentication results: spfVerdict for the envelope sender
(`mail.source`), dkimVerdict for the domain of the message's DKIM signature when it has exactly
one (SES does not say which of several passed), and a spam or virus FAIL becomes a spam score far
above any threshold. SES sending events (Bounce, Complaint, Delivery...) posted here are
acknowledged, never stored: their route is `/webhooks/amazon_ses/events` (`app.mail.events`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from app.mail.adapter import (
    Delivery,
    Fetched,
    FetchFailed,
    HttpGet,
    InboundAdapter,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
)
from app.mail.ceilings import MimeCeilings
from app.mail.mime import content_checksum, find_message_id
from app.mail.models import AuthResults, DkimResult, InboundEmail
from app.mail.normalise import build_email, delivery_keys, from_raw, raw_delivery
from app.mail.sns import (
    NOTIFICATION,
    SUBSCRIPTION_CONFIRMATION,
    SnsError,
    SnsMessage,
    body_ok,
    configured,
    confirm_url,
    headers_ok,
    parse_message,
)

PROVIDER = "amazon_ses"
FORMAT_SNS = "ses-sns"
FORMAT_S3 = "ses-s3"
FORMAT_FETCHED = "ses-fetched"
"""The notification as one JSON line, then the message fetched from S3."""
SPAM_FAIL_SCORE = 100.0
"""The spam score of mail SES judged spam or infected: far above any SpamAssassin threshold."""

# SES's verdict statuses as RFC 8601 result words (GRAY: no policy or no signature to check).
_VERDICTS = {"PASS": "pass", "FAIL": "fail", "GRAY": "none", "PROCESSING_FAILED": "temperror"}
_DKIM_DOMAIN = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)
# S3 bucket names: today 3-63 lower-case letters, digits, dots and hyphens; older us-east-1
# buckets may also have capitals and underscores, up to 255 characters.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")
_DNS_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]")


def _sns(body: bytes) -> SnsMessage:
    try:
        return parse_message(body)
    except SnsError as exc:
        raise ReadError(str(exc)) from exc


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def notification_of(message: SnsMessage) -> dict[str, Any]:
    """The SES notification an SNS Notification carries.

    Raises:
        ReadError: the message is not a JSON object.
    """
    try:
        loaded = json.loads(message.message)
    except (ValueError, RecursionError) as exc:
        raise ReadError(f"the SNS message is not JSON: {type(exc).__name__}") from exc
    if not isinstance(loaded, dict):
        raise ReadError("the SNS message is not a JSON object")
    return loaded


def read_message(message: SnsMessage) -> Delivery | NotAnEmail:
    """The dedupe keys of a received email, or the SNS or SES event the message is instead."""
    if message.type == SUBSCRIPTION_CONFIRMATION:
        return NotAnEmail(kind=message.type, confirm_url=confirm_url(message))
    if message.type != NOTIFICATION:
        return NotAnEmail(kind=message.type)
    notification = notification_of(message)
    kind = notification.get("notificationType", notification.get("eventType"))
    if kind != "Received":
        return NotAnEmail(kind=kind[:60] if isinstance(kind, str) and kind else "unknown")
    receipt = _object(notification.get("receipt"))
    mail = _object(notification.get("mail"))
    action = _object(receipt.get("action"))
    recipients = _recipients(receipt, mail)
    if action.get("type") == "SNS":
        return raw_delivery(_content(notification, action), FORMAT_SNS, recipients)
    if action.get("type") == "S3":
        if not all(isinstance(action.get(k), str) for k in ("bucketName", "objectKey")):
            raise ReadError("S3 action without bucketName and objectKey")
        # Keyed by where the message is stored: the content is not here yet.
        where = f"{action['bucketName']}/{action['objectKey']}"
        checksum = content_checksum(b"ses-s3:" + where.encode("utf-8", "surrogatepass"))
        common = _object(mail.get("commonHeaders"))
        message_id = common.get("messageId")
        written = message_id if isinstance(message_id, str) else ""
        found = find_message_id(b"Message-ID: " + written.encode("utf-8", "replace"))
        return delivery_keys(FORMAT_S3, checksum, found, recipients)
    raise ReadError(f"SES action {str(action.get('type'))[:40]!r} carries no email")


def _recipients(receipt: dict[str, Any], mail: dict[str, Any]) -> list[str]:
    values = receipt.get("recipients")
    if not isinstance(values, list):
        values = mail.get("destination")
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def _content(notification: dict[str, Any], action: dict[str, Any]) -> bytes:
    content = notification.get("content")
    if not isinstance(content, str):
        raise ReadError("SNS action notification without content")
    encoding = str(action.get("encoding", "UTF8")).upper().replace("-", "")
    if encoding == "BASE64":
        try:
            return base64.b64decode("".join(content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ReadError("content is not base64") from exc
    # SES decoded the message to text; a lone surrogate escape is kept rather than refused.
    return content.encode("utf-8", "surrogatepass")


def parse_notification(
    notification: dict[str, Any], raw: bytes, delivery: Delivery, ceilings: MimeCeilings
) -> InboundEmail:
    """The email `raw` with what SES's receipt said about it.

    Raises:
        UnusableEmail: the message is empty or has no header section.
        OverCeiling: the message crosses one of `ceilings`.
    """
    receipt = _object(notification.get("receipt"))
    mail = _object(notification.get("mail"))
    mime, raw_from = from_raw(raw, ceilings)
    defects: list[str] = []
    source = mail.get("source")
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=source if isinstance(source, str) else None,
        envelope_to=tuple(_recipients(receipt, mail)),
        auth=auth_results(receipt, mime.headers, defects),
        defects=defects,
    )


def _status(receipt: dict[str, Any], name: str) -> str:
    status = _object(receipt.get(name)).get("status")
    return status.upper() if isinstance(status, str) else ""


def auth_results(
    receipt: dict[str, Any], headers: list[tuple[str, str]], defects: list[str]
) -> AuthResults:
    """SES's verdicts as authentication results (see the module docstring)."""
    dkim: tuple[DkimResult, ...] = ()
    dkim_result = _VERDICTS.get(_status(receipt, "dkimVerdict"))
    signatures = [value for name, value in headers if name.lower() == "dkim-signature"]
    domains = [m.group(1).lower() for s in signatures if (m := _DKIM_DOMAIN.search(s))]
    if dkim_result and len(signatures) == 1 and len(domains) == 1:
        dkim = (DkimResult(domain=domains[0], result=dkim_result),)
    elif dkim_result == "pass" and len(signatures) > 1:
        defects.append("SES's DKIM PASS does not say which of several signatures passed")
    spam_score = None
    for name in ("spamVerdict", "virusVerdict"):
        if _status(receipt, name) == "FAIL":
            defects.append(f"SES {name} FAIL")
            spam_score = SPAM_FAIL_SCORE
    return AuthResults(
        spf=_VERDICTS.get(_status(receipt, "spfVerdict")), dkim=dkim, spam_score=spam_score
    )


def s3_url(bucket: str, key: str, region: str) -> str:
    """The object's HTTPS URL: virtual-hosted style, or path style for a name that is no label.

    A dotted name would not match S3's wildcard TLS certificate, and an old bucket's capitals or
    underscores are no DNS label at all.
    """
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    path = quote(key, safe="/~")
    if not _DNS_BUCKET.fullmatch(bucket):
        return f"https://s3.{region}.{domain}/{quote(bucket, safe='')}/{path}"
    return f"https://{bucket}.s3.{region}.{domain}/{path}"


def signed_headers(url: str, secrets: InboundSecrets) -> dict[str, str]:
    """The Signature Version 4 headers of a GET of `url` from S3 (botocore's signer)."""
    # Imported here: botocore takes a tenth of a second to import, and only this fetch needs it.
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(secrets.aws_access_key_id, secrets.aws_secret_access_key)
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(credentials, "s3", secrets.aws_region).add_auth(request)
    return {str(name).lower(): str(value) for name, value in request.headers.items()}


async def fetch_object(
    notification: dict[str, Any], secrets: InboundSecrets, http: HttpGet
) -> Fetched:
    """The message an S3 action stored, after the notification it belongs to.

    Raises:
        FetchFailed: no credentials, or S3 did not give the object this time.
    """
    if not secrets.aws_access_key_id or not secrets.aws_secret_access_key:
        raise FetchFailed("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
    if not _REGION.fullmatch(secrets.aws_region):
        raise FetchFailed(f"AWS_REGION {secrets.aws_region!r} is not a region name")
    action = _object(_object(notification.get("receipt")).get("action"))
    bucket, key = action.get("bucketName"), action.get("objectKey")
    if not isinstance(bucket, str) or not _BUCKET.fullmatch(bucket):
        raise FetchFailed("the S3 action names no usable bucket")
    if not isinstance(key, str) or not key:
        raise FetchFailed("the S3 action names no object key")
    if action.get("kmsKeyArn"):
        # SES encrypted the object client-side: only the AWS SDK's encryption client reads it.
        raise FetchFailed("the S3 action encrypts with KMS, which is not supported: turn it off")
    url = s3_url(bucket, key, secrets.aws_region)
    try:
        reply = await http(url, signed_headers(url, secrets))
    except OSError as exc:
        raise FetchFailed(f"S3: {exc}") from exc
    if reply.status != 200:
        raise FetchFailed(f"S3 answered {reply.status} for s3://{bucket}/{key}")
    line = json.dumps(notification).encode("ascii")
    return Fetched(
        raw=line + b"\n" + reply.body, content_type="message/rfc822", payload_format=FORMAT_FETCHED
    )


class AmazonSesAdapter(InboundAdapter):
    """SES receiving through SNS; the signature is in the body."""

    name = PROVIDER
    headers_authenticate = False

    def configured(self, secrets: InboundSecrets) -> bool:
        """Whether certificate hosts and the accepted topics are set."""
        return configured(secrets)

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """Refuse what SNS's own headers show is not an SNS message for one of our topics."""
        return headers_ok(headers, secrets)

    async def check_body(
        self, request: InboundRequest, secrets: InboundSecrets, now: float, http: HttpGet
    ) -> bool:
        """Verify the SNS signature (`app.mail.sns.body_ok`)."""
        return await body_ok(request, secrets, now, http)

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """The email's dedupe keys, or the event the message is (`read_message`)."""
        return read_message(_sns(request.body))

    def needs_fetch(self, payload_format: str) -> bool:
        """An S3 action's notification is a reference to the stored object."""
        return payload_format == FORMAT_S3

    async def fetch(
        self,
        raw: bytes,
        content_type: str,
        payload_format: str,
        secrets: InboundSecrets,
        http: HttpGet,
    ) -> Fetched:
        """Fetch the object the stored notification names (`fetch_object`)."""
        try:
            notification = notification_of(_sns(raw))
        except ReadError as exc:
            raise FetchFailed(str(exc)) from exc
        return await fetch_object(notification, secrets, http)

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """The email of an SNS action's notification, or of an S3 object fetched for one."""
        if delivery.payload_format == FORMAT_FETCHED:
            line, _, message = raw.partition(b"\n")
            try:
                notification = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ReadError("fetched S3 object without its notification") from exc
            return parse_notification(_object(notification), message, delivery, ceilings)
        if delivery.payload_format == FORMAT_SNS:
            notification = notification_of(_sns(raw))
            action = _object(_object(notification.get("receipt")).get("action"))
            return parse_notification(
                notification, _content(notification, action), delivery, ceilings
            )
        raise ReadError(f"{delivery.payload_format} is not an email; it was never fetched")


ADAPTER = AmazonSesAdapter()
