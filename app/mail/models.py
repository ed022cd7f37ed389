"""Provider-neutral mail models: what every other part of the service sees of an email.

No SendGrid (or other vendor) field names appear here. Everything in these models came from an
untrusted sender; only `AuthResults` was asserted by our mail provider, never by the message.
"""

from __future__ import annotations

from datetime import datetime
from email.utils import getaddresses

from pydantic import BaseModel, ConfigDict


class Mailbox(BaseModel):
    """One parsed address: `name <addr>`; `address` is lower-cased (a sender's in ASCII only)."""

    model_config = ConfigDict(frozen=True)

    name: str
    address: str

    @property
    def domain(self) -> str:
        """The domain part, lower-cased."""
        return self.address.rpartition("@")[2].lower()


class AttachmentMeta(BaseModel):
    """What we keep of an attachment: never its bytes, never a path built from its name."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content_type: str
    size: int
    content_id: str | None = None
    is_inline: bool = False


class DkimResult(BaseModel):
    """One DKIM signature result as reported by the receiving provider."""

    model_config = ConfigDict(frozen=True)

    domain: str
    result: str


class AuthResults(BaseModel):
    """Authentication verdicts asserted by the mail provider, not by the message itself."""

    model_config = ConfigDict(frozen=True)

    spf: str | None = None
    dkim: tuple[DkimResult, ...] = ()
    spam_score: float | None = None
    sender_ip: str | None = None


class InboundEmail(BaseModel):
    """One received customer email, normalised and ready for guards, identity and the agent.

    Text fields are valid Unicode with NUL and other control characters removed, so they can be
    stored in any SQL text column; the exact bytes stay in the stored raw payload.
    """

    model_config = ConfigDict(frozen=True)

    message_id: str
    """The Message-ID with angle brackets, or a synthetic one derived from the content checksum."""
    has_synthetic_message_id: bool
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_header: str
    """The first From header's raw value (unfolded; encoded words left as sent)."""
    from_: Mailbox | None
    """The single sender mailbox, or None when From does not parse to exactly one address."""
    reply_to: tuple[Mailbox, ...]
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    envelope_from: str | None
    """The SMTP envelope sender; the empty string means the null sender `<>` (a bounce)."""
    envelope_to: tuple[str, ...]
    subject: str
    date: datetime | None
    content_type: str
    text: str
    html: str
    clean_text: str
    """What the customer wrote this time: quotes, signature and hidden HTML content removed."""
    headers: tuple[tuple[str, str], ...]
    attachments: tuple[AttachmentMeta, ...]
    auth: AuthResults
    defects: tuple[str, ...] = ()
    """Parser complaints about the message, kept for staff."""

    def header(self, name: str) -> str | None:
        """Return the first value of a header, case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Return every value of a header, case-insensitively, in message order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def recipients(self) -> list[str]:
        """Every address this email was delivered or written to, lower case, most telling first.

        The SMTP envelope says where the mail was actually delivered; Delivered-To and
        X-Original-To are what a forwarding mailbox records of it; To and Cc are what the sender
        wrote (a Bcc'd or forwarded copy names other addresses there).
        """
        found = list(self.envelope_to)
        for name in ("delivered-to", "x-original-to"):
            for value in self.header_values(name):
                found += [address for _, address in _addresses(value)]
        found += [mailbox.address for mailbox in (*self.to, *self.cc)]
        return list(dict.fromkeys(a.strip().strip("<>").lower() for a in found if "@" in a))


def _addresses(value: str) -> list[tuple[str, str]]:
    """The addresses of one header value, or none when it is too odd to parse."""
    try:
        return getaddresses([value])
    except RecursionError:
        # Comments nested hundreds deep: no address worth routing by.
        return []
