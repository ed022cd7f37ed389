"""Settings: every variable documented in .env.example, validated at startup, secrets hidden."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from app.config import ConfigError, Settings, describe_errors, is_secret_setting, load_settings
from app.db.engine import normalise_database_url

ENV_EXAMPLE = Path(__file__).parent.parent / ".env.example"
VALID = {
    "INBOUND_BASIC_AUTH_USER": "sendgrid",
    "INBOUND_BASIC_AUTH_PASSWORD": "a-long-random-secret",
}


def build(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_env_example_lists_exactly_the_settings_fields() -> None:
    listed = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert set(listed) == set(Settings.model_fields)


def test_env_example_values_are_valid_once_the_password_is_set(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text().replace("=change-me", "=a-long-random-secret"))
    settings = Settings(_env_file=env)
    assert settings.SHOPIFY_API_VERSION == "2026-10"
    # Empty values mean "not set", not "set to the empty string".
    assert settings.OPENAI_API_KEY is None
    assert settings.OWN_EMAIL_DOMAINS == []


def problems(**values: Any) -> list[str]:
    """The operator's lines for these values (each `NAME='value': reason`)."""
    with pytest.raises(ValidationError) as caught:
        build(**values)
    return describe_errors(caught.value)


def test_the_placeholder_password_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text())
    with pytest.raises(ValidationError) as caught:
        Settings(_env_file=env)
    assert describe_errors(caught.value) == [
        "INBOUND_BASIC_AUTH_PASSWORD=<hidden>: must be a random secret of at least 12 "
        "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)"
    ]


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"PORT": "abc"}, "PORT='abc': not an integer"),
        ({"PORT": "0"}, "PORT='0': must be at least 1"),
        ({"PORT": "70000"}, "PORT='70000': must be at most 65535"),
        ({"WORKER_POLL_SECONDS": "fast"}, "WORKER_POLL_SECONDS='fast': not a number"),
        ({"SHADOW_MODE": "maybe"}, "SHADOW_MODE='maybe': not a boolean (use true or false)"),
        (
            {"LOG_LEVEL": "verbose"},
            "LOG_LEVEL='verbose': not a log level; use one of DEBUG, INFO, WARNING, ERROR, "
            "CRITICAL",
        ),
        (
            {"DATABASE_URL": "mysql://shop@db.example/shop"},
            "DATABASE_URL='mysql://shop@db.example/shop': unsupported scheme 'mysql'; use sqlite "
            "(sqlite:///path/to/file.sqlite3) or postgresql "
            "(postgresql://user:password@host:5432/name; postgres:// works too)",
        ),
        (
            {"DATABASE_URL": "var/support.sqlite3"},
            "DATABASE_URL='var/support.sqlite3': not a database URL; use sqlite "
            "(sqlite:///path/to/file.sqlite3) or postgresql "
            "(postgresql://user:password@host:5432/name; postgres:// works too)",
        ),
        ({"OUTAGE_MODE": "panic"}, "OUTAGE_MODE='panic': must be 'draft' or 'retry'"),
        ({"SUPPORT_FROM_EMAIL": "support"}, "SUPPORT_FROM_EMAIL='support': not an email address"),
        (
            {"STORE_URL": "shop.example"},
            "STORE_URL='shop.example': must be the shop's address, e.g. https://shop.example",
        ),
        (
            {"SHOPIFY_SHOP_DOMAIN": "https://x.example.com/"},
            "SHOPIFY_SHOP_DOMAIN='https://x.example.com/': must look like your-store.myshopify.com",
        ),
        (
            {"INBOUND_SIGNING_PUBLIC_KEY": "not base64!"},
            "INBOUND_SIGNING_PUBLIC_KEY=<hidden>: not a base64 DER public key",
        ),
        (
            {"SENDGRID_EVENT_PUBLIC_KEY": "not base64!"},
            "SENDGRID_EVENT_PUBLIC_KEY=<hidden>: not a base64 DER public key",
        ),
        (
            {"INBOUND_BASIC_AUTH_PASSWORD": "short"},
            "INBOUND_BASIC_AUTH_PASSWORD=<hidden>: must be a random secret of at least 12 "
            "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(24))'`)",
        ),
        (
            {"REPLY_SIGNATURE": "x" * 301},
            f"REPLY_SIGNATURE='{'x' * 79}…': longer than 300 characters",
        ),
    ],
)
def test_a_bad_value_is_named_with_its_value_and_reason(values: dict[str, Any], line: str) -> None:
    assert problems(**{**VALID, **values}) == [line]


def test_a_bad_list_item_is_named() -> None:
    [line] = problems(**VALID, AUTO_SEND_INTENTS="order_status, bogus")
    assert line.startswith("AUTO_SEND_INTENTS='bogus': must be 'order_status', ")


@pytest.mark.parametrize(
    ("values", "lines"),
    [
        (
            {"INBOUND_BASIC_AUTH_USER": "sendgrid", "INBOUND_ALLOW_UNAUTHENTICATED": True},
            [
                "INBOUND_BASIC_AUTH_USER='sendgrid': INBOUND_BASIC_AUTH_PASSWORD is not set; set "
                "both INBOUND_BASIC_AUTH_USER and INBOUND_BASIC_AUTH_PASSWORD, or neither"
            ],
        ),
        (
            {"INBOUND_BASIC_AUTH_PASSWORD": "a-long-random-secret"},
            [
                "INBOUND_BASIC_AUTH_PASSWORD=<hidden>: INBOUND_BASIC_AUTH_USER is not set; set "
                "both INBOUND_BASIC_AUTH_USER and INBOUND_BASIC_AUTH_PASSWORD, or neither",
                "INBOUND_ALLOW_UNAUTHENTICATED=False: the inbound webhook has no authentication: "
                "set INBOUND_BASIC_AUTH_USER and INBOUND_BASIC_AUTH_PASSWORD (and/or "
                "INBOUND_SIGNING_PUBLIC_KEY, or a provider's signing key: MAILGUN_SIGNING_KEY, "
                "MAILERSEND_SIGNING_SECRET, RESEND_SIGNING_SECRET), or set "
                "INBOUND_ALLOW_UNAUTHENTICATED=true for a "
                "local experiment",
            ],
        ),
        (
            {**VALID, "SHOPIFY_SHOP_DOMAIN": "x.myshopify.com", "SHOPIFY_CLIENT_ID": "id"},
            [
                "SHOPIFY_CLIENT_ID='id': SHOPIFY_CLIENT_SECRET is not set; set both "
                "SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET, or neither"
            ],
        ),
        (
            {**VALID, "SHOPIFY_ACCESS_TOKEN": "shpat_x"},
            [
                "SHOPIFY_ACCESS_TOKEN=<hidden>: Shopify credentials need SHOPIFY_SHOP_DOMAIN "
                "(your-store.myshopify.com)"
            ],
        ),
    ],
)
def test_settings_that_only_make_sense_together_name_the_one_that_is_set(
    values: dict[str, Any], lines: list[str]
) -> None:
    assert problems(**values) == lines


SECRETS = {
    "OPENAI_API_KEY": "sk-live-secret-value",
    "SHOPIFY_ACCESS_TOKEN": "shpat_secret_value",
    "SHOPIFY_CLIENT_SECRET": "shpss_secret_value",
    "SENDGRID_API_KEY": "SG.secret-value",
    "INBOUND_BASIC_AUTH_PASSWORD": "a-long-random-secret",
}


@pytest.mark.parametrize(
    ("broken", "hidden"),
    [
        # A problem with one value: a password too short, a URL with an unsupported scheme.
        (
            {
                "INBOUND_BASIC_AUTH_PASSWORD": "tiny-secret",
                "DATABASE_URL": "mysql://shop:db-password-value@db.example/shop",
            },
            ["INBOUND_BASIC_AUTH_PASSWORD=<hidden>"],
        ),
        # Problems between values: Shopify credentials without a shop, a password without a user.
        ({}, ["SHOPIFY_ACCESS_TOKEN=<hidden>", "INBOUND_BASIC_AUTH_PASSWORD=<hidden>"]),
    ],
)
def test_a_secret_value_never_appears_in_the_message(
    monkeypatch: pytest.MonkeyPatch, broken: dict[str, str], hidden: list[str]
) -> None:
    for name, value in {**SECRETS, **broken}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith("configuration error:\n  ")
    for line in hidden:
        assert line in message
    if "DATABASE_URL" in broken:
        assert "DATABASE_URL='mysql://shop:***@db.example/shop'" in message
    for value in [*SECRETS.values(), "tiny-secret", "db-password-value"]:
        assert value not in message


def test_every_secret_typed_setting_is_hidden_and_counts_are_not() -> None:
    for name, field in Settings.model_fields.items():
        if "SecretStr" in str(field.annotation):
            assert is_secret_setting(name), name
    assert is_secret_setting("INBOUND_SIGNING_PUBLIC_KEY")
    # Names are read word by word: a token count is not a token.
    assert not is_secret_setting("OPENAI_TOKENS_PER_MINUTE")
    assert problems(**VALID, OPENAI_TOKENS_PER_MINUTE="lots") == [
        "OPENAI_TOKENS_PER_MINUTE='lots': not an integer"
    ]


def test_log_level_and_database_url_accept_what_operators_write() -> None:
    settings = build(**VALID, LOG_LEVEL="debug", DATABASE_URL="postgres://u@db/app")
    assert settings.LOG_LEVEL == "DEBUG"
    assert build(**VALID, DATABASE_URL="postgresql+psycopg2://u@db/app").DATABASE_URL
    assert build(**VALID, DATABASE_URL="sqlite:///var/x.sqlite3").DATABASE_URL


def test_a_signing_key_must_be_ec_p256() -> None:
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValidationError, match="must be an EC P-256 public key"):
        build(**VALID, INBOUND_SIGNING_PUBLIC_KEY=base64.b64encode(rsa_der).decode())
    p256_der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = build(INBOUND_SIGNING_PUBLIC_KEY=base64.b64encode(p256_der).decode())
    assert settings.inbound_auth_configured


def test_unauthenticated_webhook_needs_an_explicit_opt_in() -> None:
    assert not build(INBOUND_ALLOW_UNAUTHENTICATED=True).inbound_auth_configured


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOUND_BASIC_AUTH_USER", "sendgrid")
    monkeypatch.setenv("INBOUND_BASIC_AUTH_PASSWORD", "a-long-random-secret")
    monkeypatch.setenv("OWN_EMAIL_DOMAINS", "Parse.Shop.test, shop.test ,")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-secret-value")
    settings = build()
    assert settings.OWN_EMAIL_DOMAINS == ["parse.shop.test", "shop.test"]
    assert settings.own_domains == {"demo-store.example", "parse.shop.test", "shop.test"}
    assert settings.own_addresses == {"support@demo-store.example"}
    # Secrets never show in reprs, logs or error messages.
    assert "sk-live-secret-value" not in repr(settings)
    assert "a-long-random-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgresql://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:///var/x.sqlite3", "sqlite+aiosqlite:///var/x.sqlite3"),
        ("sqlite+aiosqlite:///var/x.sqlite3", "sqlite+aiosqlite:///var/x.sqlite3"),
    ],
)
def test_database_urls_get_an_async_driver(given: str, expected: str) -> None:
    assert normalise_database_url(given).render_as_string(hide_password=False) == expected


def test_durations_named_after_tokens_are_numbers_not_secrets() -> None:
    assert not is_secret_setting("API_TOKEN_DAYS")
    assert is_secret_setting("SHOPIFY_ACCESS_TOKEN")
    assert build(**VALID).API_TOKEN_DAYS == 90
    assert problems(**VALID, API_TOKEN_DAYS="0") == ["API_TOKEN_DAYS='0': must be at least 1"]


def test_forwarded_allow_ips_takes_addresses_and_networks_and_trusts_none_by_default() -> None:
    assert build(**VALID).FORWARDED_ALLOW_IPS == []
    proxies = build(**VALID, FORWARDED_ALLOW_IPS="127.0.0.1, 10.0.0.0/8,::1")
    assert proxies.FORWARDED_ALLOW_IPS == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert build(**VALID, FORWARDED_ALLOW_IPS="*").FORWARDED_ALLOW_IPS == ["*"]
    [line] = problems(**VALID, FORWARDED_ALLOW_IPS="10.0.0.1,proxy.internal")
    assert line.startswith("FORWARDED_ALLOW_IPS=")
    assert "'proxy.internal' is not an IP address or network" in line


@pytest.mark.parametrize(
    "url",
    [
        "http://support.example",
        "support.example",
        "https://support.example/?next=x",
        "https://support.example/#top",
        "ftp://support.example",
    ],
)
def test_the_shopify_app_url_is_an_https_address(url: str) -> None:
    [line] = problems(**VALID, SHOPIFY_APP_URL=url)
    assert line.endswith(
        "must be this service's public https address, e.g. https://support.example"
    )


def test_the_shopify_app_url_loses_its_trailing_slash() -> None:
    assert build(**VALID, SHOPIFY_APP_URL=" https://support.example/mail/ ").SHOPIFY_APP_URL == (
        "https://support.example/mail"
    )


def test_a_shopify_apps_client_credentials_need_no_shop_of_their_own() -> None:
    # The client id and secret are the app's: each installed store gets its own token, and the
    # default store keeps running on the demo store (or its own SHOPIFY_ACCESS_TOKEN).
    settings = build(
        **VALID,
        SHOPIFY_CLIENT_ID="app-id",
        SHOPIFY_CLIENT_SECRET="shpss_app_secret",
        SHOPIFY_APP_URL="https://support.example",
    )
    assert not settings.shopify_configured
    with_shop = build(
        **VALID,
        SHOPIFY_CLIENT_ID="app-id",
        SHOPIFY_CLIENT_SECRET="shpss_app_secret",
        SHOPIFY_SHOP_DOMAIN="x.myshopify.com",
    )
    assert with_shop.shopify_configured
