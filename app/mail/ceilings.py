"""Ceilings on what an email's sender controls: parts, nesting, lines, header lines, decoded size.

The stdlib parser builds the whole message tree before anyone can look at it, so a ceiling
checked afterwards comes too late (a 200,000-part email cost a worker a minute and 726 MB). These
ceilings are counted while the parser runs, by the message objects it creates, and stop it at the
first one crossed with `OverCeiling`; the caller quarantines the email for staff.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # The stubs make policies generic in the message class they build; the runtime does not.
    _EmailMessagePolicy = EmailPolicy[EmailMessage]
else:
    _EmailMessagePolicy = EmailPolicy


@dataclass(frozen=True, slots=True)
class MimeCeilings:
    """The limits one email must stay within (defaults match the settings' defaults)."""

    max_parts: int = 500
    max_depth: int = 20
    max_lines: int = 1_000_000
    max_header_lines: int = 5000
    max_header_bytes: int = 128 * 1024
    max_decoded_bytes: int = 50 * 1024 * 1024


class OverCeiling(ValueError):
    """An email crossed one of its `MimeCeilings`; the message names which one."""

    def __init__(self, setting: str, limit: int, unit: str) -> None:
        super().__init__(f"{setting} (more than {limit:,} {unit})")
        self.setting = setting


def count_lines(data: bytes | str) -> int:
    """Count lines as the stdlib parser splits them: on CRLF, LF or a lone CR."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    breaks = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    unterminated = bool(data) and not data.endswith((b"\n", b"\r"))
    return breaks + int(unterminated)


def check_lines(data: bytes, ceilings: MimeCeilings) -> None:
    """Refuse more lines than the ceiling before any parsing (a count at C speed)."""
    if count_lines(data) > ceilings.max_lines:
        raise OverCeiling("MIME_MAX_LINES", ceilings.max_lines, "lines")


def check_header_block(block: bytes, ceilings: MimeCeilings) -> None:
    """Refuse a header block of more lines or bytes than the ceilings before it is parsed."""
    if count_lines(block) > ceilings.max_header_lines:
        raise OverCeiling("MIME_MAX_HEADER_LINES", ceilings.max_header_lines, "header lines")
    if len(block) > ceilings.max_header_bytes:
        raise OverCeiling("MIME_MAX_HEADER_BYTES", ceilings.max_header_bytes, "header bytes")


class Tally:
    """What one parse has used so far; each `add_*` raises once a ceiling is crossed."""

    def __init__(self, ceilings: MimeCeilings) -> None:
        self.ceilings = ceilings
        self.parts = 0
        self.header_lines = 0
        self.header_bytes = 0
        self.decoded_bytes = 0

    def add_part(self) -> None:
        """Count one more message or MIME part."""
        self.parts += 1
        if self.parts > self.ceilings.max_parts:
            raise OverCeiling("MIME_MAX_PARTS", self.ceilings.max_parts, "parts")

    def check_depth(self, depth: int) -> None:
        """Refuse a part nested deeper than the ceiling (the message itself is depth 0)."""
        if depth > self.ceilings.max_depth:
            raise OverCeiling("MIME_MAX_DEPTH", self.ceilings.max_depth, "levels of nesting")

    def add_header(self, name: str, value: str) -> None:
        """Count a header's lines (its first line and its continuations) and its bytes."""
        self.header_lines += max(1, count_lines(value))
        if self.header_lines > self.ceilings.max_header_lines:
            raise OverCeiling(
                "MIME_MAX_HEADER_LINES", self.ceilings.max_header_lines, "header lines"
            )
        # The stdlib's structured header parser costs tens of µs per byte of comments or
        # parameters, and more than linearly so within one header: header bytes, not only
        # lines, bound a parse's time, and no single header may take over a quarter of them.
        size = len(name) + len(value)
        if size > self.ceilings.max_header_bytes // 4:
            raise OverCeiling(
                "MIME_MAX_HEADER_BYTES", self.ceilings.max_header_bytes // 4, "bytes in one header"
            )
        self.header_bytes += size
        if self.header_bytes > self.ceilings.max_header_bytes:
            raise OverCeiling(
                "MIME_MAX_HEADER_BYTES", self.ceilings.max_header_bytes, "header bytes"
            )

    def add_decoded(self, size: int) -> None:
        """Count the decoded bytes of one part."""
        self.decoded_bytes += size
        if self.decoded_bytes > self.ceilings.max_decoded_bytes:
            raise OverCeiling(
                "MIME_MAX_DECODED_BYTES", self.ceilings.max_decoded_bytes, "decoded bytes"
            )


class CountedMessage(EmailMessage):
    """A message (or part) that reports to its parse's `Tally` as the parser builds the tree."""

    tally: Tally | None = None
    depth = 0

    def set_raw(self, name: str, value: Any) -> None:
        # The parser adds each header through here, once its continuation lines are joined.
        if self.tally is not None:
            self.tally.add_header(name, str(value))
        super().set_raw(name, value)

    def attach(self, payload: Any) -> None:
        # The parser attaches each new part to its parent before reading the part's content.
        if self.tally is not None and isinstance(payload, CountedMessage):
            payload.depth = self.depth + 1
            self.tally.check_depth(payload.depth)
        super().attach(payload)


def counting_policy(tally: Tally) -> EmailPolicy[EmailMessage]:
    """The default policy, with parts that report to `tally` and each header parsed once.

    The stdlib parses a header again on every read, and Content-Type is read a dozen times per
    part (by the parser and by us); a header is immutable, so one parse per value is enough.
    """
    parsed_headers: dict[tuple[str, str], Any] = {}

    class CountingPolicy(_EmailMessagePolicy):
        def header_fetch_parse(self, name: str, value: str) -> Any:
            if not isinstance(value, str):
                return super().header_fetch_parse(name, value)
            key = (name, value)
            if key not in parsed_headers:
                parsed_headers[key] = super().header_fetch_parse(name, value)
            return parsed_headers[key]

    def factory(policy: Policy[EmailMessage]) -> EmailMessage:
        tally.add_part()
        message = CountedMessage(policy)
        message.tally = tally
        return message

    return CountingPolicy(message_factory=factory)
