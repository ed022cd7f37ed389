"""SendGrid Inbound Parse: from a posted form to a provider-neutral `InboundEmail`.

Two modes, detected per request because the setting can flip without a deploy: *raw* (the whole
MIME message in the `email` field; preferred, byte-exact) and *parsed* (SendGrid's own fields,
each in the charset its `charsets` entry names). `read_delivery` is the cheap part the webhook
runs before acknowledging; `parse_delivery` is the full parse the worker runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.mail.adapter import (
    Delivery,
    InboundAdapter,
    InboundRequest,
    NotAnEmail,
    ReadError,
    UnusableEmail,
)
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import decode_bytes, safe_filename, storable_text
from app.mail.formdata import FormData, FormDataError, parse_form_data
from app.mail.mime import (
    MAX_MESSAGE_ID_LENGTH,
    ParsedMime,
    content_checksum,
    find_message_id,
    first_header,
    header_block,
    parse_date,
    parse_header_block,
    synthetic_message_id,
)
from app.mail.models import AttachmentMeta, AuthResults, DkimResult, InboundEmail
from app.mail.normalise import build_email, from_raw, raw_from_values

PROVIDER = "sendgrid"
FORMAT_RAW = "sendgrid-raw"
FORMAT_PARSED = "sendgrid-parsed"

# Fields that describe the delivery, not the email: a retry or a second envelope recipient
# carries the same email, so they stay out of the dedupe checksum.
_TRANSPORT_FIELDS = frozenset(
    {"envelope", "sender_ip", "SPF", "dkim", "spam_score", "spam_report", "charsets"}
)
# One `@domain : result` entry of SendGrid's dkim field: a dotted domain of letter-digit-hyphen
# labels (underscores too, as in selectors' domains), one result word.
_DKIM_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DKIM_ENTRY = re.compile(rf"@({_DKIM_LABEL}(?:\.{_DKIM_LABEL})+)\s*:\s*([A-Za-z]+)")
# RFC 8601's DKIM results; any other word means we do not know what SendGrid saw.
_DKIM_RESULTS = frozenset({"pass", "fail", "neutral", "none", "policy", "temperror", "permerror"})
_DKIM_NOT_UNDERSTOOD = "dkim field not understood; no DKIM result trusted"
_SPF_RESULTS = frozenset(
    {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"}
)
_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")


def read_delivery(form: FormData) -> Delivery:
    """Detect the mode, compute the dedupe keys and read the envelope's recipients.

    The email itself is not parsed; the envelope is a small JSON field SendGrid adds, so the
    webhook can route the delivery to its store before acknowledging it.
    """
    recipients = _envelope_to(_json_object(form.get("envelope"), "envelope", []))
    raw_email = form.get("email")
    if raw_email is not None:
        payload_format = FORMAT_RAW
        checksum = content_checksum(raw_email)
        message_id = find_message_id(header_block(raw_email))
    else:
        payload_format = FORMAT_PARSED
        checksum = _parsed_checksum(form)
        message_id = find_message_id(form.get("headers") or b"")
    if message_id is None or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return Delivery(payload_format, checksum, synthetic_message_id(checksum), True, recipients)
    return Delivery(payload_format, checksum, message_id, False, recipients)


def _parsed_checksum(form: FormData) -> str:
    """Checksum the content fields in a stable order, independent of the multipart boundary."""
    pieces = sorted(
        (part.name, part.filename or "", part.value)
        for part in form.parts
        if part.name not in _TRANSPORT_FIELDS
    )
    digest_input = b"".join(
        b"%s\x00%s\x00%d\x00%s"
        % (name.encode("utf-8", "replace"), filename.encode("utf-8", "replace"), len(value), value)
        for name, filename, value in pieces
    )
    return content_checksum(digest_input)


def parse_delivery(
    form: FormData, delivery: Delivery, ceilings: MimeCeilings | None = None
) -> InboundEmail:
    """Normalise a SendGrid delivery into an `InboundEmail`.

    Raises:
        UnusableEmail: the raw email is empty or has no header section, or a parsed-mode post
            carries no headers, sender or content at all.
        OverCeiling: the email crosses one of `ceilings` (the defaults when None).
    """
    ceilings = ceilings or MimeCeilings()
    defects: list[str] = []
    charsets = _json_object(form.get("charsets"), "charsets", defects)
    if delivery.payload_format == FORMAT_RAW:
        mime, raw_from = _from_raw(form.get("email") or b"", ceilings)
    else:
        mime, raw_from = _from_fields(form, charsets, ceilings)
    envelope = _json_object(form.get("envelope"), "envelope", defects)
    for name in ("email", "from", "headers", "SPF", "dkim", "envelope"):
        if form.count(name) > 1:
            defects.append(f"duplicate form field {name}")
    auth = _auth_results(form, defects)
    if any(d.startswith("duplicate form field") for d in defects):
        # Two answers to "did SPF pass" are no answer: nothing here may verify the sender.
        auth = AuthResults(spam_score=auth.spam_score, sender_ip=auth.sender_ip)
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=envelope.get("from") if isinstance(envelope.get("from"), str) else None,
        envelope_to=_envelope_to(envelope),
        auth=auth,
        defects=defects,
    )


def _from_raw(raw_email: bytes, ceilings: MimeCeilings) -> tuple[ParsedMime, list[str]]:
    if not raw_email.strip():
        raise UnusableEmail("raw-mode post with an empty email field")
    return from_raw(raw_email, ceilings)


def _from_fields(
    form: FormData, charsets: dict[str, Any], ceilings: MimeCeilings
) -> tuple[ParsedMime, list[str]]:
    headers_field = form.get("headers") or b""
    headers = parse_header_block(headers_field, ceilings) if headers_field.strip() else []
    raw_from = raw_from_values(headers_field)
    if not raw_from and form.get("from"):
        # Not normalised: identity compares the address exactly as the sender wrote it.
        charset = charsets.get("from")
        raw_from = [
            decode_bytes(form.get("from") or b"", charset if isinstance(charset, str) else None)
        ]
    has_content = any(form.get(name) for name in ("text", "html", "subject")) or form.files()
    if not headers and not raw_from and not has_content:
        # With no sender but some content, staff can still read it (the guards hold it).
        raise UnusableEmail("parsed-mode post with no headers, sender or content")
    # SendGrid decodes encoded words, which can hold line breaks; a subject stays on one line.
    subject = _LINE_BREAKS.sub(" ", _field_text(form, "subject", charsets)).strip()
    subject = subject or first_header(headers, "subject")
    mime = ParsedMime(
        headers=headers,
        subject=subject,
        date=parse_date(first_header(headers, "date")),
        content_type=_content_type_of(headers),
        text=_field_text(form, "text", charsets),
        html=_field_text(form, "html", charsets),
        attachments=_parsed_attachments(form),
    )
    return mime, raw_from


def _field_text(form: FormData, name: str, charsets: dict[str, Any]) -> str:
    value = form.get(name)
    if value is None:
        return ""
    charset = charsets.get(name)
    return storable_text(decode_bytes(value, charset if isinstance(charset, str) else None))


def _content_type_of(headers: list[tuple[str, str]]) -> str:
    value = first_header(headers, "content-type")
    return value.split(";", 1)[0].strip().lower() or "text/plain"


def _parsed_attachments(form: FormData) -> list[AttachmentMeta]:
    info = _json_object(form.get("attachment-info"), "attachment-info", [])
    content_ids = _json_object(form.get("content-ids"), "content-ids", [])
    inline_fields = {str(field): str(cid) for cid, field in content_ids.items()}
    attachments: list[AttachmentMeta] = []
    for part in form.files():
        meta = info.get(part.name)
        meta = meta if isinstance(meta, dict) else {}
        filename = meta.get("filename") if isinstance(meta.get("filename"), str) else part.filename
        content_type = meta.get("type") if isinstance(meta.get("type"), str) else part.content_type
        content_id = inline_fields.get(part.name) or meta.get("content-id")
        attachments.append(
            AttachmentMeta(
                filename=safe_filename(filename or ""),
                content_type=storable_text(content_type or "application/octet-stream"),
                size=len(part.value),
                content_id=storable_text(content_id) if isinstance(content_id, str) else None,
                is_inline=part.name in inline_fields,
            )
        )
    return attachments


def _json_object(value: bytes | None, name: str, defects: list[str]) -> dict[str, Any]:
    if value is None or not value.strip():
        return {}
    try:
        loaded = json.loads(value.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        # RecursionError: arrays nested thousands deep.
        defects.append(f"{name} is not valid JSON")
        return {}
    if not isinstance(loaded, dict):
        defects.append(f"{name} is not a JSON object")
        return {}
    return loaded


def _envelope_to(envelope: dict[str, Any]) -> tuple[str, ...]:
    recipients = envelope.get("to")
    if not isinstance(recipients, list):
        return ()
    return tuple(storable_text(r.strip().lower()) for r in recipients if isinstance(r, str))


def _auth_results(form: FormData, defects: list[str]) -> AuthResults:
    spf_raw = (form.get("SPF") or b"").decode("ascii", "replace").strip().lower()
    spf = spf_raw if spf_raw in _SPF_RESULTS else None
    if spf_raw and spf is None:
        defects.append("SPF field has an unknown value")
    return AuthResults(
        spf=spf,
        dkim=parse_dkim_field((form.get("dkim") or b"").decode("utf-8", "replace"), defects),
        spam_score=_spam_score(form.get("spam_score")),
        sender_ip=storable_text((form.get("sender_ip") or b"").decode("ascii", "replace")) or None,
    )


def parse_dkim_field(value: str, defects: list[str]) -> tuple[DkimResult, ...]:
    """Parse SendGrid's not-quite-JSON `dkim` field, e.g. `{@example.org : pass}`.

    The only shape trusted is one pair of braces around comma-separated `@domain : result`
    entries (`{@a.example : pass, @b.example : fail}`), each result one of RFC 8601's words.
    Anything else (no braces, a missing `@`, an empty entry, an unknown result, a second pair
    of braces) distrusts the whole field: no result at all. `none`, `{}` or nothing is no
    signature, without a defect.
    """
    body = value.strip()
    if not body or body in ("{}", "none"):
        return ()
    results = _dkim_entries(body)
    if not results:
        defects.append(_DKIM_NOT_UNDERSTOOD)
        return ()
    return results


def _dkim_entries(body: str) -> tuple[DkimResult, ...]:
    """The entries of a braced dkim field, or nothing if any part of it is not an entry."""
    if not (body.startswith("{") and body.endswith("}")):
        return ()
    inner = body[1:-1]
    if "{" in inner or "}" in inner:
        return ()
    results: list[DkimResult] = []
    for entry in inner.split(","):
        match = _DKIM_ENTRY.fullmatch(entry.strip())
        if (
            match is None
            or len(match.group(1)) > 253
            or match.group(2).lower() not in _DKIM_RESULTS
        ):
            return ()
        results.append(DkimResult(domain=match.group(1).lower(), result=match.group(2).lower()))
    return tuple(results)


def _spam_score(value: bytes | None) -> float | None:
    if value is None:
        return None
    try:
        score = float(value.decode("ascii", "replace").strip())
    except ValueError:
        return None
    return score if score == score and abs(score) != float("inf") else None


def parse_stored_delivery(
    raw: bytes,
    content_type: str,
    delivery: Delivery,
    *,
    max_parts: int,
    ceilings: MimeCeilings | None = None,
) -> InboundEmail:
    """Parse a stored request body again (the worker's side of the webhook) into an email.

    Raises:
        FormDataError: the body is not well-formed multipart/form-data.
        UnusableEmail, OverCeiling: see `parse_delivery`.
    """
    form = parse_form_data(raw, content_type, max_parts=max_parts)
    return parse_delivery(form, delivery, ceilings)


class SendGridAdapter(InboundAdapter):
    """SendGrid Inbound Parse; its own route checks Basic auth or its signature."""

    name = PROVIDER

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """Read the form's dedupe keys and envelope (`read_delivery`)."""
        try:
            form = parse_form_data(request.body, request.content_type, max_parts=max_parts)
        except FormDataError as exc:
            raise ReadError(f"unparseable payload: {exc}") from exc
        return read_delivery(form)

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """Parse the stored form (`parse_stored_delivery`)."""
        try:
            return parse_stored_delivery(
                raw, content_type, delivery, max_parts=max_parts, ceilings=ceilings
            )
        except FormDataError as exc:
            raise ReadError(f"unparseable: {exc}") from exc


ADAPTER = SendGridAdapter()
