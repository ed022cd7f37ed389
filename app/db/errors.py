"""Telling "the database is down" apart from "the database refused this row".

The difference is a promise to the mail provider: a 5xx asks it to send the email again later,
which helps when the database is unreachable and never helps when the database refuses the
email's own content (the retry would be refused the same way, for three days). Only errors
known to be about the connection or the server count as an outage; anything else is treated
as a refusal, which intake answers by storing the delivery in a plainer form (see
`app.intake.writer`), so a misjudged outage still ends in a 5xx when even that fails.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLSTATE classes of trouble with the connection or the server, not with the statement's data:
# 08 connection exception, 25 invalid transaction state (a read-only replica after a failover),
# 28 invalid authorisation, 3D unknown database, 40 transaction rollback (deadlock,
# serialisation), 53 insufficient resources (disk full, too many connections), 55 object not in
# prerequisite state (lock not available), 57 operator intervention (shutdown, statement
# timeout), 58 system error, XX internal error.
_OUTAGE_CLASSES = frozenset({"08", "25", "28", "3D", "40", "53", "55", "57", "58", "XX"})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE the server gave (PostgreSQL), or None (SQLite, client-side errors)."""
    if not isinstance(exc, sa_exc.DBAPIError) or exc.orig is None:
        return None
    for candidate in (exc.orig, exc.orig.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database is unreachable or failing, whatever was written.

    True for network errors, pool timeouts, dropped connections, SQLite's operational errors
    (locked, disk I/O, read-only) and the SQLSTATE classes above; False for data and integrity
    errors, which are about the row.
    """
    if isinstance(exc, (OSError, TimeoutError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is not None:
        return code[:2] in _OUTAGE_CLASSES
    cause: BaseException | None = exc.orig
    while cause is not None:
        if isinstance(cause, (OSError, TimeoutError)):
            return True
        cause = cause.__cause__
    return isinstance(exc, sa_exc.OperationalError)


def describe(exc: BaseException) -> str:
    """Name an error for logs and staff without quoting any value: driver error and its code.

    Driver messages can quote the refused value (an email's content) or, on connecting, a
    connection string; neither belongs in a log line or a status reason.
    """
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        driver = exc.orig.__cause__ if exc.orig.__cause__ is not None else exc.orig
        code = sqlstate(exc) or getattr(exc.orig, "sqlite_errorname", None)
        name = type(driver).__name__
        return f"{name} ({code})" if code else name
    return type(exc).__name__
