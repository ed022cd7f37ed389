"""Mailgun Routes: a route's `forward("https://.../webhooks/mailgun/inbound")` action.

Two formats, chosen by the route's URL (Mailgun's rule: a URL ending in `mime` gets the raw
message): the whole email in `body-mime` (preferred: byte-exact), or Mailgun's parsed fields
(`message-headers`, `body-plain`, `body-html`, files `attachment-1`...). The form is multipart
when the email has attachments, urlencoded otherwise.

Authentication: Mailgun signs each post with HMAC-SHA256 under MAILGUN_SIGNING_KEY over the
`timestamp` and `token` fields, and sends the hex digest as the `signature` field; a timestamp
outside INBOUND_SIGNATURE_MAX_AGE_SECONDS is refused. The signature is in the body, so the
headers alone prove nothing and an oversized post is refused unread (413) — unless Basic auth is
configured: then the route's URL must carry those credentials as well, they are checked before
the body is read, and they prove the sender (an oversized post is kept truncated for staff).

Sender verdicts: Mailgun prepends `X-Mailgun-Spf`, `X-Mailgun-Dkim-Check-Result` and
`X-Mailgun-Sscore` to the message, above its own `Received` header. Only a verdict above the
first `Received` header counts (one further down was written before Mailgun saw the message),
and only when it occurs once there. The DKIM verdict names no domain: a pass is credited to the
`d=` of the message's DKIM-Signature only when it has exactly one.

A tracking event (JSON or the legacy form) or a `store(notify=...)` notification posted here is
acknowledged and ignored: neither is an email this route was set up to receive.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
from typing import Any
from urllib.parse import unquote_to_bytes

from app.mail.adapter import (
    Delivery,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
    ReadError,
    SignedOrBasicAdapter,
)
from app.mail.ceilings import MimeCeilings
from app.mail.charsets import decode_bytes, storable_text
from app.mail.formdata import FormData, FormDataError, FormPart, parse_form_data
from app.mail.jsonmail import PostedEmail, attachment, finite_number, parse_posted
from app.mail.mime import ParsedMime, find_message_id
from app.mail.models import AuthResults, DkimResult, InboundEmail
from app.mail.normalise import build_email, delivery_keys, fields_checksum, from_raw, raw_delivery

PROVIDER = "mailgun"
FORMAT_RAW = "mailgun-mime"
FORMAT_PARSED = "mailgun-parsed"

# The parsed fields that hold the email itself; the rest (envelope, signature, Mailgun's copies of
# single headers) describe one delivery of it, so they stay out of the dedupe checksum.
_CONTENT_FIELDS = ("message-headers", "body-plain", "body-html")
_SPF_RESULTS = frozenset(
    {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"}
)
_DKIM_RESULTS = frozenset({"pass", "fail"})
_DOMAIN = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}")
_HEX_DIGEST = re.compile(rb"[0-9a-fA-F]{64}")
# At most this many values of each signed field are tried: a header the sender named `token`
# is posted as a field too, and must not make Mailgun's own signature unverifiable.
_MAX_CANDIDATES = 4
# The signature is checked before the form is read for storing; the count of parts that refuses
# a form then (INBOUND_MAX_PARTS) quarantines it, and must not turn it into a 401 here.
_SIGNATURE_MAX_PARTS = 1_000_000


def read_form(body: bytes, content_type: str, *, max_parts: int) -> FormData:
    """The posted form, multipart or urlencoded, with every value as bytes.

    Raises:
        FormDataError: the body is neither, or is malformed.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return parse_form_data(body, content_type, max_parts=max_parts)
    pairs = [pair for pair in body.split(b"&") if pair]
    if len(pairs) > max_parts:
        raise FormDataError(f"more than {max_parts} parts")
    parts = []
    for pair in pairs:
        name, _, value = pair.partition(b"=")
        # Values stay bytes: a raw email's 8-bit text keeps its own charset.
        parts.append(
            FormPart(name=_unquote(name).decode("utf-8", "replace"), value=_unquote(value))
        )
    return FormData(tuple(parts))


def _unquote(value: bytes) -> bytes:
    return unquote_to_bytes(value.replace(b"+", b" "))


def _is_json(request: InboundRequest) -> bool:
    return request.content_type.split(";", 1)[0].strip().lower() == "application/json"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        loaded = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ReadError(f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(loaded, dict):
        raise ReadError("the JSON body is not an object")
    return loaded


def signature_ok(
    triples: list[tuple[bytes, bytes, bytes]], key: str, secrets: InboundSecrets, now: float
) -> bool:
    """Whether one (timestamp, token, signature) triple is Mailgun's, and fresh."""
    for timestamp, token, signature in triples:
        if not (timestamp.isdigit() and len(timestamp) <= 20 and _HEX_DIGEST.fullmatch(signature)):
            continue
        expected = hmac.new(key.encode("utf-8"), timestamp + token, hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected.encode("ascii"), signature.lower()):
            return secrets.fresh(float(timestamp), now)
    return False


def _form_triples(form: FormData) -> list[tuple[bytes, bytes, bytes]]:
    def values(name: str) -> list[bytes]:
        found = [part.value for part in form.parts if part.name == name and part.filename is None]
        return found[:_MAX_CANDIDATES]

    return list(itertools.product(values("timestamp"), values("token"), values("signature")))


def _json_triples(payload: dict[str, Any]) -> list[tuple[bytes, bytes, bytes]]:
    signed = payload.get("signature")
    if not isinstance(signed, dict):
        return []
    fields = [signed.get(name) for name in ("timestamp", "token", "signature")]
    if not all(isinstance(value, str | int) and not isinstance(value, bool) for value in fields):
        return []
    timestamp, token, signature = (str(value).encode("utf-8") for value in fields)
    return [(timestamp, token, signature)]


def read_delivery(form: FormData) -> Delivery | NotAnEmail:
    """The format, dedupe keys and envelope recipients of a forwarded email, or the event."""
    recipients = _recipients(form)
    raw = form.get("body-mime")
    if raw is not None:
        return raw_delivery(raw, FORMAT_RAW, recipients)
    if form.get("message-url") is not None or form.get("attachments") is not None:
        # store(notify=...) posts links to the stored message; forward() posts the email.
        return NotAnEmail(kind="stored message notification")
    has_email = any(form.get(name) is not None for name in ("body-plain", "body-html"))
    has_email = has_email or bool(form.files())
    if not has_email and form.get("event") is not None:
        # A legacy tracking event: form fields (message-headers too), but no email body.
        event = decode_bytes(form.get("event") or b"", "utf-8")
        return NotAnEmail(kind=f"event {storable_text(event)[:60]}")
    if not has_email and form.get("message-headers") is None:
        raise ReadError("the form holds no email (no body-mime, message-headers or body)")
    checksum = fields_checksum(_content_pieces(form))
    return delivery_keys(FORMAT_PARSED, checksum, _message_id(form), recipients)


def _message_id(form: FormData) -> str | None:
    for name, value in _header_pairs(form, []):
        if name.lower() == "message-id":
            return find_message_id(f"Message-ID: {value}".encode("utf-8", "replace"))
    return None


def _content_pieces(form: FormData) -> list[tuple[str, bytes]]:
    pieces = [(name, form.get(name) or b"") for name in _CONTENT_FIELDS]
    for part in form.files():
        label = f"{part.name}\x00{part.filename or ''}\x00{part.content_type or ''}"
        pieces.append((label, part.value))
    return pieces


def _recipients(form: FormData) -> tuple[str, ...]:
    value = decode_bytes(form.get("recipient") or b"", "utf-8")
    return tuple(storable_text(r.strip().lower()) for r in value.split(",") if "@" in r)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    # Mailgun transcodes every parsed field to UTF-8.
    return decode_bytes(value, "utf-8") if value is not None else ""


def _header_pairs(form: FormData, defects: list[str]) -> list[tuple[str, str]]:
    """`message-headers`: a JSON list of [name, value] pairs in the message's order."""
    value = form.get("message-headers")
    if value is None or not value.strip():
        return []
    try:
        loaded = json.loads(decode_bytes(value, "utf-8"))
    except (ValueError, RecursionError):
        defects.append("message-headers is not valid JSON")
        return []
    if not isinstance(loaded, list):
        defects.append("message-headers is not a JSON list")
        return []
    return [
        (item[0], item[1])
        for item in loaded
        if isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], str)
    ]


def parse_delivery(form: FormData, delivery: Delivery, ceilings: MimeCeilings) -> InboundEmail:
    """The email in a forwarded post.

    Raises:
        ReadError: the form holds no email.
        UnusableEmail: the raw email is empty or headless, or the fields hold nothing.
        OverCeiling: the email crosses one of `ceilings`.
    """
    defects: list[str] = []
    for name in ("body-mime", "message-headers", "sender", "recipient"):
        if form.count(name) > 1:
            defects.append(f"duplicate form field {name}")
    if delivery.payload_format == FORMAT_RAW:
        mime, raw_from = from_raw(form.get("body-mime") or b"", ceilings)
    elif delivery.payload_format == FORMAT_PARSED:
        mime, raw_from = _from_fields(form, ceilings, defects)
    else:
        raise ReadError(f"not a Mailgun format: {delivery.payload_format}")
    sender = form.get("sender")
    return build_email(
        mime,
        raw_from,
        delivery,
        envelope_from=decode_bytes(sender, "utf-8") if sender is not None else None,
        envelope_to=_recipients(form),
        auth=auth_results(mime.headers, defects),
        defects=defects,
    )


def _from_fields(
    form: FormData, ceilings: MimeCeilings, defects: list[str]
) -> tuple[ParsedMime, list[str]]:
    posted = PostedEmail(
        headers=_header_pairs(form, defects),
        text=_text(form, "body-plain"),
        html=_text(form, "body-html"),
        defects=defects,
    )
    posted.add_missing("From", _text(form, "from"))
    posted.add_missing("Subject", _text(form, "subject"))
    inline = _content_ids(form, defects)
    for part in form.files():
        content_id = inline.get(part.name)
        posted.attachments.append(
            attachment(
                part.filename,
                part.content_type,
                len(part.value),
                content_id,
                inline=content_id is not None,
            )
        )
    return parse_posted(posted, ceilings)


def _content_ids(form: FormData, defects: list[str]) -> dict[str, str]:
    """`content-id-map` ({"<cid>": "attachment-2"}) inverted: file field to its Content-ID."""
    value = form.get("content-id-map")
    if value is None or not value.strip():
        return {}
    text = decode_bytes(value, "utf-8")
    if not text.lstrip().startswith("{"):
        # Only an object is a map; with object_pairs_hook an array would look like pairs.
        defects.append("content-id-map is not a JSON object")
        return {}
    try:
        # Mailgun's map can repeat a key (two parts with an empty Content-ID): keep every pair.
        loaded = json.loads(text, object_pairs_hook=list)
    except (ValueError, RecursionError):
        defects.append("content-id-map is not valid JSON")
        return {}
    if not isinstance(loaded, list):
        return {}
    return {field: cid for cid, field in loaded if isinstance(field, str)}


def auth_results(headers: list[tuple[str, str]], defects: list[str]) -> AuthResults:
    """Mailgun's verdicts from the headers it prepended (see the module docstring)."""
    received = [i for i, (name, _) in enumerate(headers) if name.lower() == "received"]
    top = headers[: received[0]] if received else []
    below = headers[received[0] :] if received else headers
    if any(_is_verdict(name) for name, _ in below):
        defects.append("X-Mailgun verdict headers below Mailgun's own ignored")
    spf = _only(top, "x-mailgun-spf")
    dkim = _only(top, "x-mailgun-dkim-check-result")
    score = _only(top, "x-mailgun-sscore")
    return AuthResults(
        spf=spf if spf in _SPF_RESULTS else None,
        dkim=_dkim(dkim, headers) if dkim in _DKIM_RESULTS else (),
        spam_score=finite_number(score) if score is not None else None,
    )


def _is_verdict(name: str) -> bool:
    return name.lower() in ("x-mailgun-spf", "x-mailgun-dkim-check-result", "x-mailgun-sscore")


def _only(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name]
    return values[0].strip().lower() if len(values) == 1 else None


def _dkim(result: str, headers: list[tuple[str, str]]) -> tuple[DkimResult, ...]:
    signatures = [value for name, value in headers if name.lower() == "dkim-signature"]
    if len(signatures) != 1:
        # A verdict that does not say which of several signatures it judged credits none.
        return ()
    domain = signature_domain(signatures[0])
    return (DkimResult(domain=domain, result=result),) if domain else ()


def signature_domain(value: str) -> str | None:
    """The `d=` tag of a DKIM-Signature value, lower case, or None when it is not one domain."""
    domains = []
    for tag in value.split(";"):
        name, equals, text = tag.partition("=")
        if equals and name.strip().lower() == "d":
            domains.append("".join(text.split()).lower().rstrip("."))
    if len(domains) != 1 or len(domains[0]) > 253 or not _DOMAIN.fullmatch(domains[0]):
        return None
    return domains[0]


class MailgunAdapter(SignedOrBasicAdapter):
    """Mailgun Routes' forward() to our URL, signed with the account's HTTP signing key."""

    name = PROVIDER

    def signing_secret(self, secrets: InboundSecrets) -> str | None:
        """The account's HTTP webhook signing key."""
        return secrets.mailgun_signing_key

    def signature_ok(
        self, request: InboundRequest, secret: str, secrets: InboundSecrets, now: float
    ) -> bool:
        """The signature over timestamp and token, in the JSON body or the form."""
        try:
            if _is_json(request):
                triples = _json_triples(_json_object(request.body))
            else:
                form = read_form(request.body, request.content_type, max_parts=_SIGNATURE_MAX_PARTS)
                triples = _form_triples(form)
        except (ReadError, FormDataError):
            # A body we cannot read carries no signature we can check.
            return False
        return signature_ok(triples, secret, secrets, now)

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """A forwarded email's keys, or the tracking event or notification it is instead."""
        if _is_json(request):
            event = _json_object(request.body).get("event-data")
            kind = event.get("event") if isinstance(event, dict) else None
            if not isinstance(kind, str):
                raise ReadError("JSON without Mailgun's event-data")
            return NotAnEmail(kind=f"event {storable_text(kind)[:60]}")
        try:
            form = read_form(request.body, request.content_type, max_parts=max_parts)
        except FormDataError as exc:
            raise ReadError(f"unparseable form: {exc}") from exc
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
        """Parse the stored form (`parse_delivery`)."""
        try:
            form = read_form(raw, content_type, max_parts=max_parts)
        except FormDataError as exc:
            raise ReadError(f"unparseable form: {exc}") from exc
        return parse_delivery(form, delivery, ceilings)


ADAPTER = MailgunAdapter()
