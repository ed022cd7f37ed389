"""Store credentials encrypted at rest with Fernet keys from `STORE_SECRET_KEYS`.

Keys are listed newest first: the first encrypts, every one decrypts, so a key is rotated by
putting a new one in front, re-encrypting (`python -m app stores rotate-key`) and then removing
the old one. Credentials are one JSON object per store (`admin_api_token`, `client_secret`,
mailbox passwords, provider signing keys); they are decrypted only where they are used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class SecretsUnavailable(RuntimeError):
    """No key is configured, or none of the keys opens the stored credentials."""


def new_key() -> str:
    """A fresh Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(value: str) -> list[str]:
    """The keys of a `STORE_SECRET_KEYS` value; raises ValueError naming a malformed one."""
    keys = [key.strip() for key in value.split(",") if key.strip()]
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                f"key {number} is not a Fernet key (make one with `python -m app stores new-key`)"
            ) from None
    return keys


@dataclass(frozen=True, slots=True)
class SecretBox:
    """Encrypts and decrypts store credentials; `None` keys: no store may hold credentials."""

    fernet: MultiFernet | None

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> SecretBox:
        """The box for `STORE_SECRET_KEYS` (validated by Settings)."""
        if value is None:
            return cls(fernet=None)
        keys = parse_keys(value.get_secret_value())
        if not keys:
            return cls(fernet=None)
        return cls(fernet=MultiFernet([Fernet(key.encode("ascii")) for key in keys]))

    def _keys(self) -> MultiFernet:
        if self.fernet is None:
            raise SecretsUnavailable(
                "STORE_SECRET_KEYS is not set: a store's credentials cannot be stored or read"
            )
        return self.fernet

    def seal(self, credentials: dict[str, str]) -> bytes:
        """Encrypt credentials with the newest key."""
        return self._keys().encrypt(json.dumps(credentials, sort_keys=True).encode("utf-8"))

    def open(self, sealed: bytes | None) -> dict[str, str]:
        """Decrypt credentials (empty when none are stored)."""
        if not sealed:
            return {}
        try:
            plain = self._keys().decrypt(sealed)
        except InvalidToken:
            raise SecretsUnavailable(
                "no key in STORE_SECRET_KEYS opens these credentials (was a key removed before "
                "`python -m app stores rotate-key` ran?)"
            ) from None
        data: Any = json.loads(plain)
        return {str(name): str(value) for name, value in data.items()}

    def rotate(self, sealed: bytes) -> bytes:
        """Re-encrypt with the newest key (MultiFernet.rotate)."""
        try:
            return self._keys().rotate(sealed)
        except InvalidToken:
            raise SecretsUnavailable(
                "no key in STORE_SECRET_KEYS opens these credentials"
            ) from None
