"""Log output: one line per event, as text with key=value fields (default) or as JSON.

`LOG_FORMAT=text` appends each `extra={...}` field to the message, so logs stay greppable;
`LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message, every extra
field, the exception's traceback) for a log collector.

`log_context(message_pk=..., job_id=...)` binds fields to everything logged inside its block,
by any logger, in this task and the tasks it starts (a context variable): the worker binds the
job and its email around each job, so every line of an email's processing carries its id.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_DROPPED = frozenset({"color_message"})
"""Extras that repeat the message: uvicorn's `color_message` is the message with ANSI colours."""
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "log_context", default=None
)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged inside the block (None values are left out)."""
    bound = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(bound)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds the fields bound by `log_context` to each record (a record's own extras win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra` fields (and bound context), without the ones that repeat the message."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and key not in _DROPPED
    }


class KeyValueFormatter(logging.Formatter):
    """Appends each `extra={...}` field to the message, so logs stay greppable."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = extra_fields(record)
        if extras:
            line += " " + " ".join(f"{key}={value!r}" for key, value in sorted(extras.items()))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the extras, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Send logs to stderr at `level` in `log_format`, replacing any earlier configuration."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
