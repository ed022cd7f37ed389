"""Who really sent an email: the only place a sender becomes *verified*.

A sender is verified when the From header parses to exactly one mailbox (two independent parsers
agree, and nothing in the header tries to look like another address), the address is written in
its own normal form, and the mail provider saw DKIM pass for a domain aligned with the From
domain, or SPF pass for an envelope sender aligned with it.

The address is compared exactly as the header spells it (only ASCII letters are lower-cased):
Unicode normalisation can turn one mailbox into another (a Kelvin sign, U+212A, becomes the
letter k), so an address that NFKC or case folding would change is never verified.

Alignment is DMARC's relaxed mode: both domains must have the same organisational domain, found
with the public suffix list (`mail.example.co.uk` and `example.co.uk` are aligned; two customers
of `co.uk` or of `github.io` are not), and a domain is always aligned with itself, even one that
is itself on the list (`hk.com`). A domain publishing strict alignment, `adkim=s`, would
still reject a subdomain signature this accepts. Anything unexpected means unverified. Identity
is never taken from the email body, Reply-To, or anything a model produced.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from email import policy
from email.errors import (
    HeaderParseError,
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    InvalidBase64PaddingDefect,
)
from email.headerregistry import AddressHeader
from email.utils import getaddresses

from email_validator import EmailNotValidError, validate_email
from publicsuffixlist import PublicSuffixList

from app.mail.charsets import storable_as_written, storable_text
from app.mail.models import InboundEmail, Mailbox


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The public suffix list, loaded on first use (30 ms) and kept.

    From the copy bundled with the package: no network, and the same answer in every process of
    one release.
    """
    return PublicSuffixList()


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# Tried only where a token starts, so a long header cannot make the search quadratic.
_ADDRESS_LIKE = re.compile(r"(?<![^\s@<>\"'(),;:])[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+")
_ENCODED_WORD = re.compile(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=")
_NAME_ENCODING_DEFECTS = (
    InvalidBase64PaddingDefect,
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
)
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class IdentityDecision:
    """Whether the sender is verified, the address, and a reason code for the record."""

    verified: bool
    address: str | None
    reason: str


def single_mailbox(from_values: list[str]) -> Mailbox | None:
    """Parse the raw From header values to exactly one trustworthy mailbox, or None.

    None when: there is not exactly one From header; it holds zero or several addresses, or uses
    group syntax (`name: ...;`, not a mailbox); the stdlib's two address parsers disagree
    (CVE-2023-27043 class); the address is not valid syntax; the display name, a comment or a
    group name shows an address other than the real one (full-width @ included); or an RFC 2047
    encoded word hides an address or angle brackets.
    """
    try:
        return _single_mailbox(from_values)
    except RecursionError:
        # The stdlib parsers recurse once per nested comment: "((((...)))) a@b" is no sender.
        return None


def _single_mailbox(from_values: list[str]) -> Mailbox | None:
    if len(from_values) != 1:
        return None
    raw = _FOLD.sub("", from_values[0]).strip()
    if not raw or "\r" in raw or "\n" in raw or len(raw) > 2000:
        return None
    if storable_as_written(raw) != raw:
        # NUL, other control characters or lone surrogates: what staff would be shown is not
        # what was sent, so nothing in this header identifies anyone.
        return None
    legacy = getaddresses([raw])
    if len(legacy) != 1 or not legacy[0][1]:
        return None
    try:
        header = policy.default.header_factory("From", raw)
    except (HeaderParseError, IndexError, ValueError):
        return None
    if not isinstance(header, AddressHeader) or _defects(header) or len(header.addresses) != 1:
        return None
    if any(group.display_name is not None for group in header.groups):
        return None
    modern = header.addresses[0]
    # ASCII letters only: `str.lower` maps a Kelvin sign to k, turning one mailbox into another.
    address = ascii_lower(modern.addr_spec)
    if not modern.username or not modern.domain or ascii_lower(legacy[0][1]) != address:
        return None
    if not _is_valid_address(address) or _has_deceptive_name(raw, modern.display_name, address):
        return None
    # A decoded encoded word can hold control characters the raw header did not show.
    return Mailbox(name=storable_text(modern.display_name), address=address)


def ascii_lower(text: str) -> str:
    """Lower-case the ASCII letters A-Z and nothing else."""
    return text.translate(_ASCII_LOWER)


def is_normal_form(address: str) -> bool:
    """Whether NFKC and case folding leave an (ASCII-lower-cased) address exactly as it is.

    A Kelvin sign, full-width letters, ligatures, a non-ASCII capital, `ß` or a decomposed
    accent all change: such an address could be read as, or delivered to, another mailbox.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address).casefold())
    return folded == address


def _defects(header: AddressHeader) -> tuple[object, ...]:
    """The parser's complaints about the header, except a garbled display-name encoding.

    A badly padded base64 word only garbles the name; the decoded name is still checked for
    addresses (`_has_deceptive_name`), so it is no reason to distrust the address.
    """
    # Parsed header objects carry the parser's complaints; typeshed does not declare them.
    defects: tuple[object, ...] = getattr(header, "defects", ())
    return tuple(d for d in defects if not isinstance(d, _NAME_ENCODING_DEFECTS))


def _is_valid_address(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return False
    return True


def _has_deceptive_name(raw: str, display_name: str, address: str) -> bool:
    # An encoded word that decodes to an address or brackets is only ever there to deceive.
    for word in _ENCODED_WORD.findall(raw):
        decoded = str(policy.default.header_factory("Subject", word))
        if "@" in decoded or "<" in decoded or ">" in decoded:
            return True
    # `"alice@shop.test" <attacker@evil.test>`: the name shows an address that is not the sender.
    # The whole header is searched, because mail clients also show a comment
    # (`attacker@evil.test (alice@shop.test)`) or a group name as the sender's name; NFKC turns a
    # full-width or small commercial at (U+FF20, U+FE6B) into the @ a reader takes it for.
    shown = unicodedata.normalize("NFKC", f"{raw} {display_name}")
    # The address itself, normalised the same way, is no other address; whether its normal form
    # differs is `verify_sender`'s question, which then answers with its own reason.
    itself = {address, unicodedata.normalize("NFKC", address).lower()}
    return any(found.lower() not in itself for found in _ADDRESS_LIKE.findall(shown))


def _domain_name(domain: str) -> str | None:
    """`domain` compared as DNS does (ASCII case, no root dot), or None unless it has two labels."""
    name = ascii_lower(domain.strip().rstrip("."))
    if not name or "." not in name or ".." in name:
        return None
    return name


def organisational_domain(domain: str) -> str | None:
    """The registrable domain of `domain` by the public suffix list, or None for a suffix.

    `mail.example.co.uk` → `example.co.uk`; `co.uk`, `github.io` or a single label → None.
    """
    name = _domain_name(domain)
    if name is None:
        return None
    found = _public_suffixes().privatesuffix(name)
    return found if isinstance(found, str) else None


def domains_aligned(authenticated: str, from_domain: str) -> bool:
    """Whether an authenticated domain is aligned with the From domain (see module docstring).

    The same domain is always aligned (RFC 7489 §3.1.1: strict mode's exact match, which relaxed
    mode only widens), even one on the public suffix list such as `hk.com`: whoever signs for it
    holds its DNS. Different domains are aligned when they share an organisational domain.
    """
    name = _domain_name(authenticated)
    if name is not None and name == _domain_name(from_domain):
        return True
    organisation = organisational_domain(authenticated)
    return organisation is not None and organisation == organisational_domain(from_domain)


def _from_domains(sender: Mailbox) -> tuple[str, ...]:
    """The From domain as written and, for an internationalised one, as ASCII (IDNA 2008).

    Providers report DKIM and envelope domains in ASCII; `münchen.de` signs as
    `xn--mnchen-3ya.de`.
    """
    if sender.domain.isascii():
        return (sender.domain,)
    try:
        validated = validate_email(sender.address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return (sender.domain,)
    return (sender.domain, validated.ascii_domain)


def _aligned(authenticated: str, sender: Mailbox) -> bool:
    return any(domains_aligned(authenticated, domain) for domain in _from_domains(sender))


def verify_sender(email: InboundEmail) -> IdentityDecision:
    """Decide whether the sender of `email` is verified, with a reason code."""
    sender = email.from_
    if sender is None:
        return IdentityDecision(False, None, "from_not_one_trustworthy_mailbox")
    if not is_normal_form(sender.address):
        return IdentityDecision(False, sender.address, "address_changed_by_normalisation")
    for result in email.auth.dkim:
        if result.result == "pass" and _aligned(result.domain, sender):
            return IdentityDecision(True, sender.address, f"dkim_pass_aligned:{result.domain}")
    envelope_domain = (email.envelope_from or "").rpartition("@")[2]
    if email.auth.spf == "pass" and _aligned(envelope_domain, sender):
        return IdentityDecision(True, sender.address, f"spf_pass_aligned:{envelope_domain}")
    if any(result.result == "pass" for result in email.auth.dkim):
        return IdentityDecision(False, sender.address, "dkim_pass_not_aligned")
    if email.auth.spf == "pass":
        return IdentityDecision(False, sender.address, "spf_pass_not_aligned")
    spf = email.auth.spf or "missing"
    return IdentityDecision(False, sender.address, f"no_aligned_pass:spf={spf}")
