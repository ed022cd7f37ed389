"""An inbound mail provider as one adapter: authenticate its request, read it, parse it.

Each provider is one module in `app.mail.providers` that defines `ADAPTER`, an instance of a
subclass of `InboundAdapter`; the registry finds it, so adding a provider touches no other
module. The webhook route (`POST /webhooks/<name>/inbound`) asks the adapter, in order:

1. `check_headers`: can the headers alone refuse the request (no or wrong Basic credentials, a
   missing or stale signature)? Then nothing is read.
2. `check_body`: is the body the provider's (a signature over it)?
3. `read`: the cheap facts needed before acknowledging (`Delivery`: format, dedupe keys,
   envelope recipients), a `Batch` of them when one request carries several emails, or
   `NotAnEmail` for the provider's other events, which are acknowledged and never answered.
   `ReadError` stores the body quarantined for staff.

The worker later calls `parse` on the stored body; when the provider sent a reference rather
than the content, `fetch` first gets the content through the provider's API. Everything here is
pure: network access is the `HttpGet` function the caller passes in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from app.mail.ceilings import MimeCeilings
from app.mail.models import InboundEmail


class UnusableEmail(ValueError):
    """The delivery is authentic but holds no email we can work with (it is quarantined)."""


class ReadError(ValueError):
    """The request is authentic but not in the provider's format (it is stored quarantined)."""


class FetchFailed(Exception):
    """Content sent by reference could not be fetched this time (the job retries)."""


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One webhook request as the adapter sees it: header names are lower case."""

    headers: Mapping[str, str]
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """The cheap facts the webhook needs before it acknowledges: format and dedupe keys."""

    payload_format: str
    checksum: str
    message_id: str
    has_synthetic_message_id: bool
    recipients: tuple[str, ...] = ()
    """The envelope's recipients (lower case): which store's mail this is, before any parse."""
    body: bytes | None = None
    """This email's own bytes, stored (and later parsed) instead of the request's body: set by
    an adapter whose provider posts several emails in one request (see `Batch`)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Several emails posted in one request (SparkPost relays them in batches).

    Each is stored as its own delivery, from its own `Delivery.body`, with its own dedupe keys
    and job, as if it had come alone; the request is acknowledged once all are stored.
    """

    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class NotAnEmail:
    """A provider event posted to the inbound route (tracking, delivery, a test ping)."""

    kind: str
    confirm_url: str | None = None
    """A subscription the provider asks us to confirm by GET (Amazon SNS), already vetted."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """What an `HttpGet` returns."""

    status: int
    body: bytes
    headers: Mapping[str, str]


HttpGet = Callable[[str, Mapping[str, str]], Awaitable[HttpReply]]
"""GET a URL with the given headers. Raises OSError (or a subclass) when nothing came back."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """Content fetched for an email sent by reference, in a format the adapter parses."""

    raw: bytes
    content_type: str
    payload_format: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundSecrets:
    """Every provider's credentials, as plain values (built from `Settings` by the caller)."""

    basic_user: str | None = None
    basic_password: str | None = None
    allow_unauthenticated: bool = False
    max_age_seconds: int = 600
    """Freshness window of signed timestamps; 0 turns it off (replaying recorded deliveries)."""
    mailgun_signing_key: str | None = None
    mailersend_signing_secret: str | None = None
    resend_signing_secret: str | None = None
    sns_cert_hosts: tuple[str, ...] = ()
    resend_api_key: str | None = None
    resend_api_base_url: str = "https://api.resend.com"
    brevo_api_key: str | None = None
    brevo_api_base_url: str = "https://api.brevo.com"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_region: str = "us-east-1"
    sns_topic_arns: tuple[str, ...] = ()
    """The SNS topics accepted (anyone can have SNS sign messages on a topic of their own)."""

    @property
    def basic_configured(self) -> bool:
        """Whether Basic credentials are set."""
        return bool(self.basic_user and self.basic_password)

    def basic_ok(self, authorization: str | None) -> bool:
        """Check an `Authorization: Basic ...` header in constant time."""
        if not self.basic_configured or not authorization:
            return False
        if authorization[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        # Compare both parts every time, so timing says nothing about which one was wrong.
        user_ok = hmac.compare_digest(user, (self.basic_user or "").encode("utf-8"))
        password_ok = hmac.compare_digest(password, (self.basic_password or "").encode("utf-8"))
        return bool(colon) and user_ok and password_ok

    def fresh(self, timestamp: float, now: float) -> bool:
        """Whether a signed timestamp is inside the freshness window (always, when it is off)."""
        return self.max_age_seconds == 0 or abs(now - timestamp) <= self.max_age_seconds


class InboundAdapter(ABC):
    """One provider's inbound webhook. Subclasses set `name` and override what differs.

    The defaults suit a provider that offers only Basic auth in the webhook URL: the headers
    decide, and an unconfigured route refuses everything unless unauthenticated posts are
    explicitly allowed (local experiments).
    """

    name: ClassVar[str]
    headers_authenticate: ClassVar[bool] = True
    """Whether passing `check_headers` proves the sender, so an oversized body is kept (truncated,
    quarantined) rather than refused before it is read."""

    def headers_prove_sender(self, secrets: InboundSecrets) -> bool:
        """`headers_authenticate` for these secrets.

        A provider that signs its body but also accepts Basic credentials overrides this: the
        headers prove the sender only when Basic auth is configured (and so required).
        """
        return self.headers_authenticate

    def configured(self, secrets: InboundSecrets) -> bool:
        """Whether this provider's authentication is set up."""
        return secrets.basic_configured

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """Refuse what the headers alone can refuse (before the body is read)."""
        if not self.configured(secrets):
            return secrets.allow_unauthenticated
        return secrets.basic_ok(headers.get("authorization"))

    async def check_body(
        self, request: InboundRequest, secrets: InboundSecrets, now: float, http: HttpGet
    ) -> bool:
        """Whether the body is the provider's (a signature over it); True when none is used."""
        return True

    @abstractmethod
    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | Batch | NotAnEmail:
        """The delivery's format and dedupe keys (a `Batch` of them), or the event it is instead.

        Raises:
            ReadError: not in the provider's format (stored quarantined).
        """

    @abstractmethod
    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """The stored body as an email.

        Raises:
            ReadError, UnusableEmail, OverCeiling: quarantined for staff.
        """

    def needs_fetch(self, payload_format: str) -> bool:
        """Whether the stored body is a reference whose content `fetch` must get first."""
        return False

    async def fetch(
        self,
        raw: bytes,
        content_type: str,
        payload_format: str,
        secrets: InboundSecrets,
        http: HttpGet,
    ) -> Fetched:
        """Get the content a reference points to.

        Raises:
            FetchFailed: the provider did not give it this time (retried, then quarantined).
        """
        raise FetchFailed(f"{self.name} sends no references")


class SignedOrBasicAdapter(InboundAdapter):
    """A provider that signs its body with a shared secret, behind Basic auth if set as well.

    Either credential configures the route. Basic credentials, when set, are required and are
    checked from the headers, so they alone prove the sender before the body is read; the
    signature, when its secret is set, is checked over the body. Subclasses say where their
    secret is (`signing_secret`) and how the body is signed (`signature_ok`).
    """

    headers_authenticate = False

    @abstractmethod
    def signing_secret(self, secrets: InboundSecrets) -> str | None:
        """This provider's signing secret, if set."""

    @abstractmethod
    def signature_ok(
        self, request: InboundRequest, secret: str, secrets: InboundSecrets, now: float
    ) -> bool:
        """Whether the request carries a valid signature under `secret`."""

    def signature_header_ok(self, headers: Mapping[str, str]) -> bool:
        """Whether the headers can carry the signature (when it is in the body: always)."""
        return True

    def configured(self, secrets: InboundSecrets) -> bool:
        """A signing secret, Basic credentials, or both."""
        return bool(self.signing_secret(secrets)) or secrets.basic_configured

    def headers_prove_sender(self, secrets: InboundSecrets) -> bool:
        """Only Basic credentials, which the headers carry, prove the sender unread."""
        return secrets.basic_configured

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """Basic credentials when configured; a well-formed signature header when a secret is."""
        if not self.configured(secrets):
            return secrets.allow_unauthenticated
        if secrets.basic_configured and not secrets.basic_ok(headers.get("authorization")):
            return False
        return not self.signing_secret(secrets) or self.signature_header_ok(headers)

    async def check_body(
        self, request: InboundRequest, secrets: InboundSecrets, now: float, http: HttpGet
    ) -> bool:
        """The signature over the body, when a signing secret is configured."""
        secret = self.signing_secret(secrets)
        return not secret or self.signature_ok(request, secret, secrets, now)
