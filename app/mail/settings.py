"""Mail settings: sending, inbound webhooks and their providers, MIME ceilings.

The mail half of `Settings` (`app.config`, which adds these fields to its own): each mail
provider's settings sit together, beside the adapters that use them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode


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
    # The SNS topics (ARNs) whose messages the SES route accepts; empty keeps the route closed.
    SES_SNS_TOPIC_ARNS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # SendGrid's Signed Event Webhook verification key (delivery events of our replies).
    SENDGRID_EVENT_PUBLIC_KEY: str | None = None

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
