"""Building requests shaped like SendGrid Inbound Parse posts (for the demo, tests and benches).

Field names and shapes follow SendGrid's documentation: raw mode puts the whole message in
`email`; parsed mode sends `headers`, `text`, `html`, `from`, `to`, `subject` and files, each
text field in the charset that `charsets` names. Both modes carry `envelope`, `SPF`, `dkim`,
`sender_ip` and, with spam checking on, `spam_score` and `spam_report`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from email import message_from_bytes, policy


@dataclass(frozen=True, slots=True)
class FilePart:
    """An uploaded file part of a form."""

    name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SendGridPost:
    """A ready-to-send request body and its Content-Type header."""

    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Transport:
    """What SendGrid reports about the delivery itself rather than the message."""

    envelope_from: str = "customer@example.com"
    envelope_to: tuple[str, ...] = ("support@demo-store.example",)
    spf: str = "pass"
    dkim: str = "{@example.com : pass}"
    spam_score: str | None = "0.1"
    sender_ip: str = "203.0.113.10"
    extra: dict[str, bytes] = field(default_factory=dict)

    def fields(self) -> list[tuple[str, bytes]]:
        """The transport fields as SendGrid names them."""
        envelope = json.dumps({"to": list(self.envelope_to), "from": self.envelope_from})
        found: list[tuple[str, bytes]] = [
            ("dkim", self.dkim.encode()),
            ("sender_ip", self.sender_ip.encode()),
            ("envelope", envelope.encode()),
            ("SPF", self.spf.encode()),
        ]
        if self.spam_score is not None:
            found += [
                ("spam_score", self.spam_score.encode()),
                ("spam_report", b"Spam detection software has checked this message."),
            ]
        return found + list(self.extra.items())


def encode_form(
    parts: list[tuple[str, bytes] | FilePart], *, boundary: str | None = None
) -> SendGridPost:
    """Encode parts as multipart/form-data, values as raw bytes (no charset conversion)."""
    boundary = boundary or f"xYzZY{secrets.token_hex(12)}"
    chunks: list[bytes] = []
    for part in parts:
        chunks.append(b"--" + boundary.encode() + b"\r\n")
        if isinstance(part, FilePart):
            chunks.append(
                b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                b"Content-Type: %s\r\n\r\n"
                % (part.name.encode(), part.filename.encode(), part.content_type.encode())
            )
            chunks.append(part.data)
        else:
            name, value = part
            chunks.append(b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode())
            chunks.append(value)
        chunks.append(b"\r\n")
    chunks.append(b"--" + boundary.encode() + b"--\r\n")
    return SendGridPost(b"".join(chunks), f"multipart/form-data; boundary={boundary}")


def raw_mode_post(eml: bytes, transport: Transport | None = None) -> SendGridPost:
    """A raw-mode post: the exact message in `email`, plus the summary fields SendGrid adds."""
    transport = transport or Transport()
    message = message_from_bytes(eml, policy=policy.default)
    summary = [
        (name, str(message.get(name, "")).encode("utf-8")) for name in ("to", "from", "subject")
    ]
    charsets = json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"}).encode()
    parts: list[tuple[str, bytes] | FilePart] = [
        *transport.fields(),
        ("email", eml),
        *summary,
        ("charsets", charsets),
    ]
    return encode_form(parts)


def parsed_mode_post(
    fields: dict[str, tuple[str, str]],
    transport: Transport | None = None,
    files: list[FilePart] | None = None,
    attachment_info: dict[str, dict[str, str]] | None = None,
) -> SendGridPost:
    """A parsed-mode post; `fields` maps a field name to (charset, text) and is encoded so."""
    transport = transport or Transport()
    charsets = {name: charset for name, (charset, _) in fields.items()}
    parts: list[tuple[str, bytes] | FilePart] = [
        (name, text.encode(charset)) for name, (charset, text) in fields.items()
    ]
    parts += [*transport.fields(), ("charsets", json.dumps(charsets).encode())]
    parts.append(("attachments", str(len(files or [])).encode()))
    if attachment_info:
        parts.append(("attachment-info", json.dumps(attachment_info).encode()))
    parts += list(files or [])
    return encode_form(parts)
