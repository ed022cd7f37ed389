"""Store credentials sealed with STORE_SECRET_KEYS: any listed key opens, the first seals."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from app.config import ConfigError, describe_errors, load_settings
from app.db.engine import Database
from app.db.models import Store
from app.db.scope import ALL_STORES
from app.store.directory import StoreDirectory
from app.store.registry import StoreRefused, rotate_credentials
from app.store.secrets import SecretBox, SecretsUnavailable, new_key, parse_keys
from tests.conftest import SettingsFactory

CREDENTIALS = {"admin_api_token": "shpat_secret-token-value", "client_secret": "shh-client"}


def box(*keys: str) -> SecretBox:
    return SecretBox.from_setting(SecretStr(",".join(keys)))


def test_sealed_credentials_open_to_what_was_sealed_and_show_nothing() -> None:
    key = new_key()
    sealed = box(key).seal(CREDENTIALS)
    for value in CREDENTIALS.values():
        assert value.encode() not in sealed
    assert box(key).open(sealed) == CREDENTIALS
    # Fernet tokens carry a random IV: sealing twice never gives the same bytes.
    assert box(key).seal(CREDENTIALS) != sealed
    assert box(key).open(None) == {}
    assert box(key).open(b"") == {}


def test_a_wrong_key_or_no_key_opens_nothing() -> None:
    sealed = box(new_key()).seal(CREDENTIALS)
    with pytest.raises(SecretsUnavailable, match="no key in STORE_SECRET_KEYS opens"):
        box(new_key()).open(sealed)
    with pytest.raises(SecretsUnavailable, match="no key in STORE_SECRET_KEYS opens"):
        box(new_key()).open(sealed[:-4] + b"AAAA")
    for nothing in (SecretBox.from_setting(None), SecretBox.from_setting(SecretStr(" , "))):
        with pytest.raises(SecretsUnavailable, match="STORE_SECRET_KEYS is not set"):
            nothing.seal(CREDENTIALS)
        with pytest.raises(SecretsUnavailable, match="STORE_SECRET_KEYS is not set"):
            nothing.open(sealed)


def test_rotation_with_two_keys_then_the_old_key_removed() -> None:
    old, new = new_key(), new_key()
    sealed = box(old).seal(CREDENTIALS)
    # Step 1: the new key goes first; both open the old credentials, new ones use the new key.
    both = box(new, old)
    assert both.open(sealed) == CREDENTIALS
    assert box(new).open(both.seal(CREDENTIALS)) == CREDENTIALS
    # Step 2: rotate re-encrypts with the first key.
    rotated = both.rotate(sealed)
    assert Fernet(new.encode()).decrypt(rotated)
    # Step 3: the old key removed, the rotated credentials still open, the unrotated do not.
    assert box(new).open(rotated) == CREDENTIALS
    with pytest.raises(SecretsUnavailable):
        box(new).open(sealed)
    with pytest.raises(SecretsUnavailable, match="no key in STORE_SECRET_KEYS opens"):
        box(new).rotate(sealed)


async def test_rotation_on_the_database_then_the_old_key_removed(
    db: Database, make_settings: SettingsFactory
) -> None:
    old, new = new_key(), new_key()
    async with db.write(ALL_STORES) as session:
        session.add(
            Store(
                slug="acme",
                name="Acme",
                support_email="help@acme.test",
                credentials=box(old).seal(CREDENTIALS),
            )
        )
    async with db.write(ALL_STORES) as session:
        assert await rotate_credentials(session, box(new, old)) == 1
    directory = StoreDirectory(db, make_settings(STORE_SECRET_KEYS=new))
    [acme] = [store for store in await directory.all() if store.slug == "acme"]
    assert directory.secrets.open(acme.sealed_credentials) == CREDENTIALS
    # A key that opens nothing stored: refused, and the row keeps what it had.
    async with db.read(ALL_STORES) as session:
        before = await session.execute(select(Store.credentials).where(Store.slug == "acme"))
        stored = before.scalar_one()
    with pytest.raises(StoreRefused, match="credentials of store 'acme'"):
        async with db.write(ALL_STORES) as session:
            await rotate_credentials(session, box(new_key(), old))
    async with db.read(ALL_STORES) as session:
        after = await session.execute(select(Store.credentials).where(Store.slug == "acme"))
        assert after.scalar_one() == stored


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not-a-key", "key 1 is not a Fernet key"),
        ("{good},short", "key 2 is not a Fernet key"),
        ("{good},{good}x", "key 2 is not a Fernet key"),
        ("{good},clé-é", "key 2 is not a Fernet key"),
    ],
)
def test_malformed_keys_are_refused_by_settings_without_showing_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, reason: str
) -> None:
    good = new_key()
    value = value.format(good=good)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    monkeypatch.setenv("INBOUND_ALLOW_UNAUTHENTICATED", "true")
    monkeypatch.setenv("STORE_SECRET_KEYS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.splitlines() == [
        "configuration error:",
        f"  STORE_SECRET_KEYS=<hidden>: {reason} (make one with `python -m app stores new-key`)",
    ]
    assert good not in message
    assert value not in message
    with pytest.raises(ValueError, match=reason):
        parse_keys(value)


def test_well_formed_keys_are_accepted_newest_first(make_settings: SettingsFactory) -> None:
    first, second = new_key(), new_key()
    settings = make_settings(STORE_SECRET_KEYS=f" {first} , {second},")
    assert settings.STORE_SECRET_KEYS is not None
    assert parse_keys(settings.STORE_SECRET_KEYS.get_secret_value()) == [first, second]
    sealed = SecretBox.from_setting(settings.STORE_SECRET_KEYS).seal(CREDENTIALS)
    assert Fernet(first.encode()).decrypt(sealed)
    with pytest.raises(ValidationError) as caught:
        make_settings(STORE_SECRET_KEYS="nope")
    assert describe_errors(caught.value) == [
        "STORE_SECRET_KEYS=<hidden>: key 1 is not a Fernet key (make one with "
        "`python -m app stores new-key`)"
    ]
