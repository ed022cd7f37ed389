"""Mail settings: sending, inbound webhooks and their providers, MIME ceilings.

The mail half of `Settings` (`app.config`, which adds these fields to its own): each mail
provider's settings sit together, beside the adapters that use them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""Where a mailbox server may be reached without TLS (tests, a server on the same machine)."""
# RFC 8601's authserv-id as mail servers write it (a host name); IMAP's flag or keyword atom.
_AUTHSERV_ID = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})")
_FLAG = re.compile(r"\\(?:Seen|Flagged|Answered)|\$?[A-Za-z0-9_.-]{1,64}")


class MailSettings(BaseSettings):
    """The mail half of `Settings`; field names are the environment variable names."""

    # SendGrid sending; without a key replies go to the logging transport.
    SENDGRID_API_KEY: SecretStr | None = None
    SENDGRID_API_BASE_URL: str = "https://api.sendgrid.com"
    SENDGRID_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0)
    SENDGRID_SANDBOX_MODE: bool = False
    MAIL_LOG_DIR: str = "var/outbox"

    # Inbound webhook authentication and limits.
    INBOUND_BASIC_AUTH_USER: str | None = None
    INBOUND_BASIC_AUTH_PASSWORD: SecretStr | None = None
    INBOUND_SIGNING_PUBLIC_KEY: str | None = None
    INBOUND_SIGNATURE_MAX_AGE_SECONDS: int = Field(default=600, ge=0)
    INBOUND_ALLOW_UNAUTHENTICATED: bool = False
    INBOUND_MAX_BODY_BYTES: int = Field(default=40 * 1024 * 1024, ge=1024)
    INBOUND_MAX_PARTS: int = Field(default=1000, ge=1)

    # Ceilings on one email's MIME structure, counted while it is parsed; past one, the email is
    # quarantined for staff (app/mail/ceilings.py).
    MIME_MAX_PARTS: int = Field(default=500, ge=1)
    MIME_MAX_DEPTH: int = Field(default=20, ge=1, le=200)
    MIME_MAX_LINES: int = Field(default=1_000_000, ge=1000)
    MIME_MAX_HEADER_LINES: int = Field(default=5000, ge=100)
    MIME_MAX_HEADER_BYTES: int = Field(default=128 * 1024, ge=16 * 1024)
    MIME_MAX_DECODED_BYTES: int = Field(default=50 * 1024 * 1024, ge=1024 * 1024)

    # Inbound providers' own authentication (each checked only on its provider's route).
    MAILGUN_SIGNING_KEY: SecretStr | None = None
    MAILERSEND_SIGNING_SECRET: SecretStr | None = None
    RESEND_SIGNING_SECRET: SecretStr | None = None
    # Hosts an Amazon SNS signing certificate may be fetched from (regional SNS endpoints).
    SES_SNS_CERT_HOSTS: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["sns.*.amazonaws.com", "sns.*.amazonaws.com.cn"]
    )
    # Credentials for fetching content a provider sends by reference (see "Connecting your mail").
    RESEND_API_KEY: SecretStr | None = None
    RESEND_API_BASE_URL: str = "https://api.resend.com"
    BREVO_API_KEY: SecretStr | None = None
    BREVO_API_BASE_URL: str = "https://api.brevo.com"
    AWS_ACCESS_KEY_ID: str | None = None
    AWS_SECRET_ACCESS_KEY: SecretStr | None = None
    AWS_REGION: str = "us-east-1"
    # How long a fetch of referenced content may take, per attempt.
    INBOUND_FETCH_TIMEOUT_SECONDS: float = Field(default=20.0, gt=0)
    # The SNS topics (ARNs) whose messages the SES routes accept (inbound mail and delivery
    # events); empty keeps both closed.
    SES_SNS_TOPIC_ARNS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # SendGrid's Signed Event Webhook verification key (delivery events of our replies).
    SENDGRID_EVENT_PUBLIC_KEY: str | None = None

    # A connected mailbox (IMAP in, SMTP out): README "Connecting your mail", app/intake/mailbox/.
    MAILBOX_IMAP_HOST: str | None = None
    MAILBOX_IMAP_PORT: int = Field(default=993, ge=1, le=65535)
    MAILBOX_IMAP_SECURITY: Literal["tls", "starttls", "none"] = "tls"
    MAILBOX_USER: str | None = None
    MAILBOX_PASSWORD: SecretStr | None = None
    MAILBOX_OAUTH2_TOKEN_URL: str | None = None
    MAILBOX_OAUTH2_CLIENT_ID: str | None = None
    MAILBOX_OAUTH2_CLIENT_SECRET: SecretStr | None = None
    MAILBOX_OAUTH2_REFRESH_TOKEN: SecretStr | None = None
    MAILBOX_OAUTH2_SCOPE: str | None = None
    MAILBOX_FOLDER: str = "INBOX"
    MAILBOX_PROCESSED: Literal["flag", "move"] = "flag"
    MAILBOX_PROCESSED_FLAG: str = "\\Seen"
    MAILBOX_PROCESSED_FOLDER: str = "Processed"
    MAILBOX_SENT_FOLDER: str | None = None
    MAILBOX_POLL_SECONDS: float = Field(default=60.0, gt=0)
    MAILBOX_SMTP_HOST: str | None = None
    MAILBOX_SMTP_PORT: int = Field(default=465, ge=1, le=65535)
    MAILBOX_SMTP_SECURITY: Literal["tls", "starttls", "none"] = "tls"
    MAILBOX_SMTP_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    MAILBOX_AUTHSERV_ID: str | None = None

    @field_validator("SES_SNS_CERT_HOSTS", mode="before")
    @classmethod
    def _parse_cert_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value

    @field_validator("SES_SNS_TOPIC_ARNS", mode="before")
    @classmethod
    def _parse_topic_arns(cls, value: object) -> object:
        # ARNs are case-sensitive: kept as written.
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @property
    def mailbox_oauth2(self) -> bool:
        """Whether the mailbox signs in with OAuth2 (XOAUTH2) rather than a password."""
        return self.MAILBOX_OAUTH2_REFRESH_TOKEN is not None

    @model_validator(mode="after")
    def _check_mailbox(self) -> Self:
        problems: list[InitErrorDetails] = []

        def problem(name: str, message: str) -> None:
            error = PydanticCustomError("mailbox_settings", message)
            problems.append({"type": error, "loc": (name,), "input": getattr(self, name)})

        for role in ("IMAP", "SMTP"):
            for name, message in self._mailbox_role_problems(role):
                problem(name, message)
        if self.mailbox_oauth2:
            for name in ("MAILBOX_OAUTH2_TOKEN_URL", "MAILBOX_OAUTH2_CLIENT_ID"):
                if not getattr(self, name):
                    problem("MAILBOX_OAUTH2_REFRESH_TOKEN", f"OAuth2 also needs {name}")
        if self.MAILBOX_AUTHSERV_ID is not None and not _AUTHSERV_ID.fullmatch(
            self.MAILBOX_AUTHSERV_ID
        ):
            problem(
                "MAILBOX_AUTHSERV_ID",
                "must be the receiving server's authserv-id as its Authentication-Results "
                "header starts, e.g. mx.google.com",
            )
        if not _FLAG.fullmatch(self.MAILBOX_PROCESSED_FLAG):
            problem(
                "MAILBOX_PROCESSED_FLAG",
                "must be \\Seen, \\Flagged, \\Answered or a keyword such as $Answered_by_bot",
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def _mailbox_role_problems(self, role: str) -> list[tuple[str, str]]:
        """What is missing or unsafe to reach the mailbox's IMAP or SMTP server."""
        host = getattr(self, f"MAILBOX_{role}_HOST")
        if host is None:
            return []
        found: list[tuple[str, str]] = []
        if not self.MAILBOX_USER:
            found.append((f"MAILBOX_{role}_HOST", "the mailbox needs MAILBOX_USER to sign in"))
        if self.MAILBOX_PASSWORD is None and not self.mailbox_oauth2:
            found.append(
                (
                    f"MAILBOX_{role}_HOST",
                    "the mailbox needs MAILBOX_PASSWORD, or MAILBOX_OAUTH2_REFRESH_TOKEN with "
                    "MAILBOX_OAUTH2_TOKEN_URL and MAILBOX_OAUTH2_CLIENT_ID",
                )
            )
        if getattr(self, f"MAILBOX_{role}_SECURITY") == "none" and (
            host.strip().lower() not in LOCAL_HOSTS
        ):
            found.append(
                (
                    f"MAILBOX_{role}_SECURITY",
                    "without TLS the password would cross the network in clear: use tls or "
                    f"starttls (none is only for a server on this machine: {sorted(LOCAL_HOSTS)})",
                )
            )
        return found
