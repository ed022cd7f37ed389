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

from app.config import Settings
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


def test_the_placeholder_password_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text())
    with pytest.raises(
        ValidationError, match="INBOUND_BASIC_AUTH_PASSWORD must be a random secret"
    ):
        Settings(_env_file=env)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "the inbound webhook has no authentication"),
        ({"INBOUND_BASIC_AUTH_USER": "sendgrid"}, "set both"),
        ({"INBOUND_BASIC_AUTH_PASSWORD": "a-long-random-secret"}, "set both"),
        ({**VALID, "INBOUND_BASIC_AUTH_PASSWORD": "short"}, "at least 12 characters"),
        ({**VALID, "SUPPORT_FROM_EMAIL": "support"}, "SUPPORT_FROM_EMAIL"),
        ({**VALID, "INBOUND_SIGNING_PUBLIC_KEY": "not base64!"}, "not a base64 DER public key"),
        ({**VALID, "PORT": "0"}, "greater than or equal to 1"),
    ],
)
def test_invalid_settings_fail_at_startup_with_a_clear_message(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        build(**values)


def test_a_signing_key_must_be_ec_p256() -> None:
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValidationError, match="EC P-256"):
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
