"""Reading a webhook's body as it streams in, so a request never costs more memory than it may.

Until a request has proved where it comes from (a signature can only be checked at the end of
the body), at most `SPOOL_MEMORY_BYTES` of it are held in memory; the rest waits in a temporary
file (the stdlib's `SpooledTemporaryFile`). Bytes past the size limit are never kept: a request
that is not yet authenticated is refused there (`BodyTooLarge`, answered 413), an authenticated
one keeps its first `limit` bytes for staff.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self

SPOOL_MEMORY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """A not yet authenticated body went past the size limit; nothing of it is kept."""


class SpooledBody:
    """A request body: its first `limit` bytes (in memory or on disk) and its full size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._kept = 0
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    @property
    def truncated(self) -> bool:
        """Whether the body was longer than what was kept."""
        return self.size > self._kept

    def add(self, chunk: bytes) -> None:
        """Count a chunk and keep what fits under the limit."""
        self.size += len(chunk)
        if self._kept < self.limit:
            piece = chunk[: self.limit - self._kept]
            self._file.write(piece)
            self._kept += len(piece)

    def read(self) -> bytes:
        """Return the kept bytes (call only once the request is authenticated)."""
        self._file.seek(0)
        return self._file.read()


async def read_body(
    chunks: AsyncIterator[bytes],
    *,
    limit: int,
    digest: Any | None,
    refuse_over_limit: bool,
) -> SpooledBody:
    """Spool a streamed body, hashing all of it into `digest` (for the signature) on the way.

    Raises:
        BodyTooLarge: `refuse_over_limit` and the body went past `limit`; reading stops there.
    """
    body = SpooledBody(limit)
    try:
        async for chunk in chunks:
            if refuse_over_limit and body.size + len(chunk) > limit:
                raise BodyTooLarge(f"more than {limit} bytes")
            if digest is not None:
                digest.update(chunk)
            body.add(chunk)
    except BaseException:
        body.__exit__(None, None, None)
        raise
    return body
