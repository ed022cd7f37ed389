"""Every setting the service reads, typed and validated once at startup.

Settings come only from the environment (or a `.env` file); `.env.example` lists exactly these
fields and a test keeps the two in step. Secrets are `SecretStr`, so they never print.
A bad value is reported as `NAME='value': reason`, one line per problem (`load_settings`), with
secrets shown as `NAME=<hidden>`.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import types
import typing
from typing import Annotated, Any, Literal, Self

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import (
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.agent.plan import Intent
from app.mail.settings import MailSettings
from app.replies.aftersale_settings import AftersaleSettings
from app.replies.autonomy_settings import AutonomySettings
from app.store.secrets import parse_keys
from app.store.segment_settings import SegmentSettings

MIN_PASSWORD_LENGTH = 12
_PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "changethis", "password"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATABASE_BACKENDS = ("sqlite", "postgresql", "postgres")
"""`DATABASE_URL` schemes we run on; any `+driver` suffix is replaced by the async driver."""
_DATABASE_HINT = (
    "use sqlite (sqlite:///path/to/file.sqlite3) or postgresql "
    "(postgresql://user:password@host:5432/name; postgres:// works too)"
)


def _split_csv(value: object) -> object:
    """Accept `a, b` as well as a list, so operators can write lists the shell way."""
    if isinstance(value, str):
        return [item.strip().lower() for item in value.split(",") if item.strip()]
    return value


class Settings(MailSettings, AutonomySettings, AftersaleSettings, SegmentSettings, BaseSettings):
    """The service's configuration; field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # Storage and processes.
    DATABASE_URL: str = "sqlite+aiosqlite:///var/support.sqlite3"
    SQLITE_BUSY_TIMEOUT_MS: int = Field(default=5000, ge=0)
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=8000, ge=1, le=65535)
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["text", "json"] = "text"
    # Who works for `serve`: its child process, a worker on its loop, or none (app/jobs/process.py).
    WORKER_MODE: Literal["process", "inline", "off"] = "process"
    WORKER_IN_PROCESS: bool | None = None  # Deprecated: see `app.jobs.process.worker_mode`.
    WORKER_POLL_SECONDS: float = Field(default=1.0, gt=0)
    WORKER_CONCURRENCY: int = Field(default=64, ge=1, le=1024)
    WORKER_STOP_SECONDS: float = Field(default=30.0, gt=0)
    JOB_LEASE_SECONDS: int = Field(default=120, ge=5)
    JOB_MAX_ATTEMPTS: int = Field(default=5, ge=1)

    # Store identity and our own addresses.
    STORE_NAME: str = "Demo Store"
    SUPPORT_FROM_EMAIL: str = "support@demo-store.example"
    OWN_EMAIL_DOMAINS: Annotated[list[str], NoDecode] = Field(default_factory=list)
    STORE_URL: str | None = None
    # Markdown help articles (front matter: title, url, language, tags) for `knowledge import`.
    KNOWLEDGE_DIR: str | None = None
    REPLY_SIGNATURE: str = Field(default="", max_length=300)
    # More addresses whose mail is the default store's (with several stores, mail is routed by
    # recipient; see "Many stores" in the README).
    SUPPORT_ADDRESSES: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Many stores: the keys that encrypt stores' credentials at rest (Fernet, comma-separated,
    # newest first: the first encrypts, every one decrypts), and how long store settings are
    # cached in each process.
    STORE_SECRET_KEYS: SecretStr | None = None
    STORE_CACHE_SECONDS: float = Field(default=30.0, ge=0)

    # Send policy: which replies go out on their own; everything else waits as a draft.
    AUTO_SEND_INTENTS: Annotated[list[Intent], NoDecode] = Field(
        default_factory=lambda: [
            Intent.ORDER_STATUS,
            Intent.STOCK_OR_PRICE,
            Intent.PRODUCT_QUESTION,
        ]
    )
    AUTO_SEND_MIN_CONFIDENCE: float = Field(default=0.8, ge=0.0, le=1.0)
    SHADOW_MODE: bool = False

    # OpenAI (issue "agent"); without a key the offline model runs.
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None
    OPENAI_MODEL: str = "gpt-4.1-mini"
    OPENAI_API_MODE: Literal["responses", "chat"] = "responses"
    OPENAI_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    OPENAI_MAX_RETRIES: int = Field(default=2, ge=0, le=10)
    OPENAI_TEMPERATURE: float | None = Field(default=None, ge=0.0, le=2.0)
    OPENAI_REQUESTS_PER_MINUTE: int = Field(default=0, ge=0)
    OPENAI_TOKENS_PER_MINUTE: int = Field(default=0, ge=0)
    OPENAI_PRICE_INPUT_PER_MILLION: float = Field(default=0.40, ge=0.0)
    OPENAI_PRICE_OUTPUT_PER_MILLION: float = Field(default=1.60, ge=0.0)

    # The agent loop's hard caps; a cap hit hands the email to a person.
    AGENT_MAX_STEPS: int = Field(default=6, ge=1, le=20)
    # Tool calls answered per model turn and per email; the rest are not run, and the email goes
    # to a person. A call repeating an earlier one of the email is answered from its result.
    AGENT_MAX_TOOL_CALLS_PER_TURN: int = Field(default=8, ge=1, le=64)
    AGENT_MAX_TOOL_CALLS_PER_EMAIL: int = Field(default=20, ge=1, le=200)
    AGENT_MAX_TOKENS_PER_EMAIL: int = Field(default=16_000, ge=1000)
    AGENT_MAX_OUTPUT_TOKENS: int = Field(default=800, ge=100)
    AGENT_MIN_CONFIDENCE: float = Field(default=0.5, ge=0.0, le=1.0)
    AGENT_OFFLINE_FALLBACK: bool = True

    # Outages: after this many consecutive failures a provider's circuit opens for a while.
    CIRCUIT_FAILURE_THRESHOLD: int = Field(default=5, ge=1)
    CIRCUIT_RESET_SECONDS: float = Field(default=30.0, gt=0)
    OUTAGE_MODE: Literal["draft", "retry"] = "draft"

    # Shopify Admin GraphQL; without credentials the bundled demo store runs.
    SHOPIFY_SHOP_DOMAIN: str | None = None
    SHOPIFY_ACCESS_TOKEN: SecretStr | None = None
    SHOPIFY_CLIENT_ID: str | None = None
    SHOPIFY_CLIENT_SECRET: SecretStr | None = None
    SHOPIFY_API_VERSION: str = "2026-10"
    SHOPIFY_API_BASE_URL: str | None = None
    SHOPIFY_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    SHOPIFY_MAX_ATTEMPTS: int = Field(default=4, ge=1, le=10)
    # The public https address of this service, for the Shopify app's OAuth redirect.
    SHOPIFY_APP_URL: str | None = None

    # Admin for support staff.
    ADMIN_SESSION_HOURS: int = Field(default=12, ge=1, le=24 * 30)
    API_TOKEN_DAYS: int = Field(default=90, ge=1, le=3650)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: addresses or networks
    # (or `*`); empty trusts none, so a client cannot pick the address login throttling counts.
    FORWARDED_ALLOW_IPS: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Never-answer guards.
    REPLY_CAP_PER_SENDER: int = Field(default=3, ge=0)
    REPLY_CAP_WINDOW_HOURS: int = Field(default=24, ge=1)
    REPLY_CAP_PER_THREAD: int = Field(default=2, ge=0)
    SPAM_SCORE_THRESHOLD: float = 5.0
    MAX_RECEIVED_HOPS: int = Field(default=30, ge=1)

    # Prometheus metrics (app/metrics.py; each setting's meaning is in .env.example).
    METRICS_TOKEN: SecretStr | None = None
    METRICS_PORT: int = Field(default=0, ge=0, le=65535)
    METRICS_HOST: str = "127.0.0.1"
    METRICS_DIR: str | None = None

    @field_validator("DATABASE_URL")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme, separator, _rest = value.strip().partition("://")
        if not separator:
            raise ValueError(f"not a database URL; {_DATABASE_HINT}")
        if scheme.split("+", 1)[0].lower() not in DATABASE_BACKENDS:
            raise ValueError(f"unsupported scheme {scheme!r}; {_DATABASE_HINT}")
        return value.strip()

    @field_validator("LOG_LEVEL")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("SUPPORT_FROM_EMAIL")
    @classmethod
    def _check_support_address(cls, value: str) -> str:
        if "@" not in value:
            raise ValueError("not an email address")
        return value

    @field_validator("SHOPIFY_SHOP_DOMAIN")
    @classmethod
    def _check_shop_domain(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", value.strip().lower()):
            raise ValueError("must look like your-store.myshopify.com")
        return value

    @field_validator("INBOUND_BASIC_AUTH_PASSWORD", "METRICS_TOKEN")
    @classmethod
    def _check_inbound_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (
            value.get_secret_value() in _PLACEHOLDER_SECRETS
            or len(value.get_secret_value()) < MIN_PASSWORD_LENGTH
        ):
            raise ValueError(
                f"must be a random secret of at least {MIN_PASSWORD_LENGTH} characters "
                f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
            )
        return value

    @field_validator("OWN_EMAIL_DOMAINS", mode="before")
    @classmethod
    def _parse_domains(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("STORE_SECRET_KEYS")
    @classmethod
    def _check_secret_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())
        return value

    @field_validator("SUPPORT_ADDRESSES", mode="before")
    @classmethod
    def _parse_addresses(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("AUTO_SEND_INTENTS", mode="before")
    @classmethod
    def _parse_intents(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("FORWARDED_ALLOW_IPS", mode="before")
    @classmethod
    def _parse_proxies(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("FORWARDED_ALLOW_IPS")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, *)"
                ) from None
        return value

    @field_validator("STORE_URL")
    @classmethod
    def _check_store_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value.strip()):
            raise ValueError("must be the shop's address, e.g. https://shop.example")
        return value.strip().rstrip("/")

    @field_validator("SHOPIFY_APP_URL")
    @classmethod
    def _check_app_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Shopify sends the merchant's browser (with the authorization code) and its webhooks
        # here: only https, and no query or fragment to mangle the paths appended to it.
        if not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?(/[^\s?#]*)?", value.strip()):
            raise ValueError(
                "must be this service's public https address, e.g. https://support.example"
            )
        return value.strip().rstrip("/")

    # SendGrid's Event Webhook key is the same kind of key as its Inbound Parse one.
    @field_validator("INBOUND_SIGNING_PUBLIC_KEY", "SENDGRID_EVENT_PUBLIC_KEY")
    @classmethod
    def _check_public_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        load_signing_key(value)
        return value.strip()

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        # Each problem is reported on the variable that is set, so the message shows its value.
        problems: list[InitErrorDetails] = []

        def problem(name: str, message: str) -> None:
            error = PydanticCustomError("settings_consistency", message)
            problems.append({"type": error, "loc": (name,), "input": getattr(self, name)})

        for first, second in (
            ("INBOUND_BASIC_AUTH_USER", "INBOUND_BASIC_AUTH_PASSWORD"),
            ("SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET"),
        ):
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                given, missing = (
                    (first, second) if getattr(self, second) is None else (second, first)
                )
                problem(given, f"{missing} is not set; set both {first} and {second}, or neither")
        # Mail read from a connected mailbox needs no webhook: with none configured, every
        # webhook route refuses every post.
        if (
            not self.inbound_auth_configured
            and not self.INBOUND_ALLOW_UNAUTHENTICATED
            and self.MAILBOX_IMAP_HOST is None
        ):
            problem(
                "INBOUND_ALLOW_UNAUTHENTICATED",
                "the inbound webhook has no authentication: set INBOUND_BASIC_AUTH_USER and "
                "INBOUND_BASIC_AUTH_PASSWORD (and/or INBOUND_SIGNING_PUBLIC_KEY, or a provider's "
                "signing key: MAILGUN_SIGNING_KEY, MAILERSEND_SIGNING_SECRET, "
                "RESEND_SIGNING_SECRET), or set "
                "INBOUND_ALLOW_UNAUTHENTICATED=true for a local experiment",
            )
        credential = next(
            (
                name
                for name in ("SHOPIFY_ACCESS_TOKEN", "SHOPIFY_CLIENT_ID", "SHOPIFY_CLIENT_SECRET")
                if getattr(self, name) is not None
            ),
            None,
        )
        if credential == "SHOPIFY_CLIENT_ID" and self.SHOPIFY_APP_URL:
            # A Shopify app: the client id and secret are the app's, each store gets its own
            # token at install, and the default store needs no shop of its own.
            credential = None
        if credential and not (self.SHOPIFY_SHOP_DOMAIN or self.SHOPIFY_API_BASE_URL):
            problem(
                credential,
                "Shopify credentials need SHOPIFY_SHOP_DOMAIN (your-store.myshopify.com)",
            )
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    @property
    def inbound_auth_configured(self) -> bool:
        """Whether some inbound route checks something (Basic auth or a signature).

        Each route refuses every post while its own provider's authentication is unset (unless
        INBOUND_ALLOW_UNAUTHENTICATED); this is only the startup check that one is set.
        """
        return any(
            getattr(self, name) is not None
            for name in (
                "INBOUND_BASIC_AUTH_USER",
                "INBOUND_SIGNING_PUBLIC_KEY",
                "MAILGUN_SIGNING_KEY",
                "MAILERSEND_SIGNING_SECRET",
                "RESEND_SIGNING_SECRET",
            )
        )

    @property
    def shopify_configured(self) -> bool:
        """Whether the default store has real Shopify credentials (otherwise the demo store runs).

        A Shopify app's client id without a shop of its own (`SHOPIFY_APP_URL` set) does not
        count: it installs other stores, each with its own token.
        """
        if self.SHOPIFY_ACCESS_TOKEN is not None:
            return True
        has_shop = bool(self.SHOPIFY_SHOP_DOMAIN or self.SHOPIFY_API_BASE_URL)
        return self.SHOPIFY_CLIENT_ID is not None and has_shop

    @property
    def shopify_endpoint(self) -> str:
        """The Admin GraphQL endpoint: the override, or the shop's pinned-version endpoint."""
        if self.SHOPIFY_API_BASE_URL:
            return self.SHOPIFY_API_BASE_URL
        domain = (self.SHOPIFY_SHOP_DOMAIN or "").strip().lower()
        return f"https://{domain}/admin/api/{self.SHOPIFY_API_VERSION}/graphql.json"

    @property
    def shopify_token_url(self) -> str:
        """Where the client-credentials grant is requested."""
        if self.SHOPIFY_SHOP_DOMAIN:
            return f"https://{self.SHOPIFY_SHOP_DOMAIN.strip().lower()}/admin/oauth/access_token"
        origin = re.match(r"^(https?://[^/]+)", self.SHOPIFY_API_BASE_URL or "")
        return f"{origin.group(1) if origin else ''}/admin/oauth/access_token"

    @property
    def own_addresses(self) -> frozenset[str]:
        """Addresses that are ours: mail from them is never answered (loop prevention)."""
        return frozenset({self.SUPPORT_FROM_EMAIL.lower()})

    @property
    def own_domains(self) -> frozenset[str]:
        """Domains that are ours: the support address's domain plus OWN_EMAIL_DOMAINS."""
        support_domain = self.SUPPORT_FROM_EMAIL.rpartition("@")[2].lower()
        return frozenset({support_domain, *self.OWN_EMAIL_DOMAINS})


def load_signing_key(value: str) -> ec.EllipticCurvePublicKey:
    """Load SendGrid's base64 DER (SubjectPublicKeyInfo) P-256 verification key."""
    try:
        key = load_der_public_key(base64.b64decode(value.strip(), validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("must be an EC P-256 public key")
    return key


class ConfigError(Exception):
    """The environment does not make valid Settings; `str()` is the message for the operator."""


def load_settings(**overrides: Any) -> Settings:
    """Read Settings from the environment, or raise `ConfigError` listing every problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in describe_errors(exc))
        raise ConfigError(f"configuration error:\n{lines}") from None


# --- Error messages ------------------------------------------------------------------------------

_SECRET_WORDS = frozenset({"KEY", "SECRET", "PASSWORD", "TOKEN"})
# A name ending in a unit holds a number (`API_TOKEN_DAYS`), whatever words come before it.
_UNIT_WORDS = frozenset({"DAYS", "HOURS", "MINUTES", "MINUTE", "SECONDS", "MS", "BYTES"})
_MAX_SHOWN = 80
# Pydantic's wording by error type, shortened to what an operator needs.
_REASONS = {
    "int_parsing": "not an integer",
    "int_from_float": "not an integer",
    "int_type": "not an integer",
    "float_parsing": "not a number",
    "float_type": "not a number",
    "bool_parsing": "not a boolean (use true or false)",
    "bool_type": "not a boolean (use true or false)",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "string_too_long": "longer than {max_length} characters",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "missing": "required",
}


def is_secret_setting(name: str) -> bool:
    """Whether a setting's value must never be shown: a SecretStr, or named like a secret.

    The name test looks at whole words (`OPENAI_API_KEY`, `SHOPIFY_ACCESS_TOKEN`), so counts
    such as `OPENAI_TOKENS_PER_MINUTE` still show their value, and so do durations and sizes
    (`API_TOKEN_DAYS`): a name ending in a unit is a number.
    """
    words = name.upper().split("_")
    if _SECRET_WORDS & set(words) and words[-1] not in _UNIT_WORDS:
        return True
    field = Settings.model_fields.get(name)
    return field is not None and _holds_secret(field.annotation)


def _holds_secret(annotation: object) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        return any(_holds_secret(arg) for arg in typing.get_args(annotation))
    return False


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, `NAME='value': reason`; secrets show as `NAME=<hidden>`."""
    return [_describe(error) for error in exc.errors(include_url=False)]


def _describe(error: Any) -> str:
    context = error.get("ctx") or {}
    template = _REASONS.get(error["type"])
    reason = template.format(**context) if template else str(error["msg"])
    reason = reason.removeprefix("Value error, ")
    if not error["loc"]:
        return reason
    name = str(error["loc"][0])
    value = error.get("input")
    if is_secret_setting(name) or isinstance(value, SecretStr | SecretBytes):
        return f"{name}=<hidden>: {reason}"
    return f"{name}={_shown(value)}: {reason}"


def _shown(value: object) -> str:
    """The value as written, quoted; URL passwords masked and long values shortened."""
    text = value if isinstance(value, str) else str(value)
    text = re.sub(r"(://[^/@:\s]*):[^@/\s]*@", r"\1:***@", text)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 1] + "…"
    return repr(text) if isinstance(value, str) else text
