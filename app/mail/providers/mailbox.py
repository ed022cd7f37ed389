"""A connected mailbox (IMAP): the stored body is the message exactly as the server gave it.

Mail from a mailbox never comes by webhook: the worker's poller (`app.intake.mailbox`) fetches it
and stores it with the content type `message/rfc822`, so the route refuses every post for this
provider. A mailbox reports no SPF or DKIM verdicts of its own; what its receiving server saw is
in the Authentication-Results header that server added on top of the message. Anyone can write
such a header into an email, so only one is believed: the *topmost* Authentication-Results
header, and only when its authserv-id is the one configured (`MAILBOX_AUTHSERV_ID`, e.g.
`mx.google.com`). The poller records that id in the stored content type
(`message/rfc822; authserv-id="mx.google.com"`), so parsing stays pure and an email is judged
by the configuration it was fetched under. Anything else leaves the sender unverified.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from app.mail.adapter import (
    Delivery,
    InboundAdapter,
    InboundRequest,
    InboundSecrets,
    NotAnEmail,
)
from app.mail.ceilings import MimeCeilings
from app.mail.models import AuthResults, DkimResult, InboundEmail
from app.mail.normalise import build_email, from_raw, raw_delivery

PROVIDER = "mailbox"
FORMAT = "rfc822"
CONTENT_TYPE = "message/rfc822"

_AUTHSERV_PARAM = re.compile(r';\s*authserv-id="([A-Za-z0-9][A-Za-z0-9._-]{0,252})"\s*$')
_RESULTS = {
    "spf": frozenset(
        {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"}
    ),
    "dkim": frozenset({"pass", "fail", "neutral", "none", "policy", "temperror", "permerror"}),
}
_DOMAIN = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)+"
)
_MAX_HEADER_CHARS = 16_384
AMBIGUOUS_SPF = "Authentication-Results holds several spf results; none is trusted"


def content_type_for(authserv_id: str | None) -> str:
    """The stored content type: message/rfc822, naming the authserv-id to trust if there is one."""
    return f'{CONTENT_TYPE}; authserv-id="{authserv_id}"' if authserv_id else CONTENT_TYPE


def trusted_authserv_id(content_type: str) -> str | None:
    """The authserv-id a stored content type names (lower case), or None."""
    match = _AUTHSERV_PARAM.search(content_type)
    return match.group(1).lower() if match else None


def authentication_results(
    headers: Sequence[tuple[str, str]], authserv_id: str | None
) -> tuple[AuthResults, str | None, list[str]]:
    """SPF and DKIM results from the topmost Authentication-Results header, if it is trusted.

    Returns the results, the envelope sender SPF checked (`smtp.mailfrom`), and defects. The
    header is trusted only when it is the first (topmost) one and its authserv-id equals
    `authserv_id`: the receiving server prepends its own, so a header written by the sender
    can only stand below it. With several `spf` results, none counts.
    """
    if authserv_id is None:
        return AuthResults(), None, []
    topmost = next(
        (value for name, value in headers if name.lower() == "authentication-results"), None
    )
    if topmost is None or len(topmost) > _MAX_HEADER_CHARS:
        return AuthResults(), None, []
    parts = split_results(topmost)
    if not parts or parts[0].split(" ")[0].lower() != authserv_id.lower():
        return AuthResults(), None, []
    spf: list[tuple[str, str | None]] = []
    dkim: list[DkimResult] = []
    for part in parts[1:]:
        method, result, properties = _resinfo(part)
        if method == "spf" and result in _RESULTS["spf"]:
            spf.append((result, properties.get("smtp.mailfrom")))
        elif method == "dkim" and result in _RESULTS["dkim"]:
            domain = _dkim_domain(properties)
            if domain is not None:
                dkim.append(DkimResult(domain=domain, result=result))
    if len(spf) > 1:
        return AuthResults(dkim=tuple(dkim)), None, [AMBIGUOUS_SPF]
    if not spf:
        return AuthResults(dkim=tuple(dkim)), None, []
    result, mailfrom = spf[0]
    return AuthResults(spf=result, dkim=tuple(dkim)), mailfrom, []


def split_results(value: str) -> list[str]:
    """The header's `;`-separated parts, comments removed, whitespace collapsed.

    Quoted strings keep their `;` and parentheses; an unbalanced comment or quote swallows the
    rest (RFC 8601 has no recovery either), which can only lose results, never invent them.
    """
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in _without_comments(value):
        if char == "\x00":
            break
        if char == ";" and not quoted:
            parts.append(" ".join("".join(current).split()))
            current = []
            continue
        if char == '"':
            quoted = not quoted
        current.append(char)
    else:
        if not quoted:
            parts.append(" ".join("".join(current).split()))
    return [part for part in parts if part]


def _without_comments(value: str) -> str:
    """The value with (nested) comments replaced by a space; NUL marks where it became unclear.

    Backslash escapes inside quoted strings and comments are honoured; an escaped `"` inside a
    quoted string is dropped, so the caller's quote tracking stays simple.
    """
    out: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value.replace("\x00", ""):
        if escaped:
            escaped = False
            if not depth and char != '"':
                out.append(char)
        elif char == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            out.append(char)
            quoted = char != '"'
        elif depth:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if not depth:
                out.append(" ")
        elif char == "(":
            depth = 1
        else:
            quoted = char == '"'
            out.append(char)
    if depth or quoted:
        out.append("\x00")
    return "".join(out)


def _resinfo(part: str) -> tuple[str, str, dict[str, str]]:
    """`method=result prop=value ...` → method, result (lower case), properties by name."""
    tokens = part.split(" ")
    method, _, result = tokens[0].partition("=")
    properties: dict[str, str] = {}
    for token in tokens[1:]:
        name, equals, found = token.partition("=")
        if equals and name.lower() not in properties:
            properties[name.lower()] = found.strip('"')
    return method.split("/")[0].lower(), result.lower(), properties


def _dkim_domain(properties: Mapping[str, str]) -> str | None:
    """The signing domain: `header.d`, else the domain of `header.i` (Gmail writes `@domain`)."""
    domain = properties.get("header.d")
    if domain is None and "header.i" in properties:
        domain = properties["header.i"].rpartition("@")[2]
    domain = (domain or "").lower().rstrip(".")
    return domain if len(domain) <= 253 and _DOMAIN.fullmatch(domain) else None


class MailboxAdapter(InboundAdapter):
    """Mail fetched from a connected mailbox; its webhook route refuses everything."""

    name = PROVIDER

    def configured(self, secrets: InboundSecrets) -> bool:
        """Never: a mailbox is read by the worker, it does not post."""
        return False

    def check_headers(
        self, headers: Mapping[str, str], secrets: InboundSecrets, now: float
    ) -> bool:
        """Refuse every post, even with unauthenticated posts allowed."""
        return False

    def read(self, request: InboundRequest, *, max_parts: int) -> Delivery | NotAnEmail:
        """The dedupe keys of a raw message (what the poller stores)."""
        return raw_delivery(request.body, FORMAT)

    def parse(
        self,
        raw: bytes,
        content_type: str,
        delivery: Delivery,
        *,
        max_parts: int,
        ceilings: MimeCeilings,
    ) -> InboundEmail:
        """Parse the message; believe only the trusted Authentication-Results header."""
        mime, raw_from = from_raw(raw, ceilings)
        auth, mailfrom, defects = authentication_results(
            mime.headers, trusted_authserv_id(content_type)
        )
        return build_email(
            mime, raw_from, delivery, envelope_from=mailfrom, auth=auth, defects=defects
        )


ADAPTER = MailboxAdapter()
