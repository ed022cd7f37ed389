"""Text column types that store only what every supported database accepts.

PostgreSQL refuses NUL in text outright, and asyncpg cannot encode a lone surrogate (what
`surrogateescape` leaves behind); one such character in one value used to fail the whole
transaction that carried it. Every text column of the models therefore uses `SafeText` or
`SafeString`, which clean values on their way in. The exact bytes an email arrived as are
kept in the raw (bytes) columns, which no cleaning touches.
"""

from __future__ import annotations

import re

from sqlalchemy import String, Text, TypeDecorator
from sqlalchemy.engine import Dialect

# NUL and the C0/C1 controls other than tab, line feed and carriage return: PostgreSQL cannot
# hold NUL, and the others only ever hide things from whoever reads the text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def storable(text: str) -> str:
    """Return `text` without control characters, lone surrogates as U+FFFD.

    Tab, line feed and carriage return stay. Text that needs no cleaning is returned as is
    (one scan, no copy), which is nearly always.
    """
    if _UNSAFE.search(text) is None:
        return text
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


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
