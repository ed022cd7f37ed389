"""Text column types that store only what every supported database accepts.

PostgreSQL refuses NUL in text outright, and asyncpg cannot encode a lone surrogate (what
`surrogateescape` leaves behind); one such character in one value used to fail the whole
transaction that carried it. Every text column of the models therefore uses `SafeText` or
`SafeString`, which clean values on their way in. The exact bytes an email arrived as are
kept in the raw (bytes) columns, which no cleaning touches.
"""

from __future__ import annotations

from sqlalchemy import String, Text, TypeDecorator
from sqlalchemy.engine import Dialect

# One rule for "what a text column may hold", shared with the mail parser: NUL and the C0/C1
# controls other than tab, line feed and carriage return go (PostgreSQL cannot hold NUL, and the
# others only ever hide things from whoever reads the text); lone surrogates become U+FFFD.
from app.mail.charsets import storable_as_written as storable

__all__ = ["SafeString", "SafeText", "storable"]


class SafeText(TypeDecorator[str]):
    """`Text` that stores `storable(value)`."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable(value) if isinstance(value, str) else value


class SafeString(TypeDecorator[str]):
    """`String(length)` that stores `storable(value)`."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable(value) if isinstance(value, str) else value
