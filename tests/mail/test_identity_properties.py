"""Identity properties: no normalisation turns the From address into another verified mailbox.

Every email here goes through the real SendGrid parse (a raw-mode post), with DKIM passing for
both the domain as written and its normalised form, so an address that normalisation changes
would verify if anything on the way compared normalised text.
"""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.demo.sendgrid_posts import Transport
from app.mail.identity import IdentityDecision, domains_aligned, organisational_domain
from app.mail.identity import verify_sender as decide
from app.mail.models import DkimResult, InboundEmail
from app.mail.providers.sendgrid import parse_dkim_field
from tests.builders import inbound

KELVIN = "\u212a"
# Letters that normalisation changes (compatibility forms, non-ASCII capitals, folding, a
# combining accent, bidi and invisible characters) mixed with plain ones.
TRICKY = (
    f"{KELVIN}\u017f\ufb01\u00df\u0130\u00dc\u00fc\u0301\uff41\uff21\u2126\u00e9e\u0131"
    "\u200d\u202e\u03c2"
)
PLAIN = string.ascii_letters + string.digits
DKIM_RESULTS = ("pass", "fail", "neutral", "none", "policy", "temperror", "permerror")


def ascii_lower(text: str) -> str:
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)


def normalised(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def email_from(from_value: str, *dkim_domains: str) -> InboundEmail:
    """Parse a hand-written message (UTF-8 headers, nothing re-encoded) with DKIM passing."""
    raw = "\r\n".join(
        [
            f"From: {from_value}",
            "To: support@demo-store.example",
            "Subject: Where is my order #1001?",
            "Message-ID: <identity-property@example.com>",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Hi, where is my order #1001?",
            "",
        ]
    ).encode("utf-8")
    dkim = "{" + ", ".join(f"@{domain} : pass" for domain in dkim_domains) + "}"
    return inbound(raw, Transport(envelope_from="", spf="none", dkim=dkim))


local_parts = st.text(alphabet=PLAIN + TRICKY, min_size=1, max_size=12)
domains = st.one_of(
    st.sampled_from(["example.com", "example.co.uk", "shop.example.de"]),
    st.text(alphabet=PLAIN + TRICKY, min_size=1, max_size=8).map(lambda label: f"{label}.com"),
)


def signed_domains(written: str) -> list[str]:
    """The domain as written and every form a normalising comparison would take it for."""
    forms = [written, ascii_lower(written), normalised(written), written.lower()]
    forms += [unicodedata.normalize("NFC", written).lower()]
    return [d for d in dict.fromkeys(forms) if d.isascii() and "." in d]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local=local_parts, domain=domains, bracketed=st.booleans())
@example(local=f"{KELVIN}elvin", domain="example.com", bracketed=True)
@example(local="sara", domain=f"{KELVIN}iosk.com", bracketed=False)
@example(local="Sara", domain="EXAMPLE.com", bracketed=True)
# `hk.com` is on the public suffix list (private section): it has no organisational domain, yet a
# signature by hk.com for mail from hk.com is aligned (the same domain).
@example(local="0", domain="HK.com", bracketed=False)
def test_a_verified_address_is_the_raw_address_and_its_own_normal_form(
    local: str, domain: str, bracketed: bool
) -> None:
    written = f"{local}@{domain}"
    email = email_from(f"Sara <{written}>" if bracketed else written, *signed_domains(domain))

    decision = decide(email)

    if decision.verified:
        assert decision.address == ascii_lower(written)
        assert normalised(written) == ascii_lower(written)
    if written.isascii() and local.isalnum():
        # Plain addresses do verify: the property above is not true for want of any verdict.
        assert decision.verified


def test_a_kelvin_sign_in_the_local_part_does_not_verify_the_mailbox_of_a_k() -> None:
    # NFC or `str.lower` turn U+212A into "k": kelvin@example.com is somebody else's mailbox.
    email = email_from(f"Mallory <{KELVIN}elvin@example.com>", "example.com")

    assert decide(email) == IdentityDecision(False, None, "from_not_one_trustworthy_mailbox")
    assert email.from_header == f"Mallory <{KELVIN}elvin@example.com>"


def test_a_kelvin_sign_in_the_domain_is_not_the_domain_of_a_k() -> None:
    email = email_from(f"Mallory <sara@{KELVIN}iosk.com>", "kiosk.com")

    assert decide(email) == IdentityDecision(
        False, f"sara@{KELVIN}iosk.com", "address_changed_by_normalisation"
    )
    # Staff see what was sent, not the letter K that NFC would have made of it.
    assert email.from_header == f"Mallory <sara@{KELVIN}iosk.com>"


@pytest.mark.parametrize(
    "address",
    [
        "\uff53\uff41\uff52\uff41@example.com",  # a full-width local part
        "\ufb01ona@example.com",  # the "fi" ligature
        "sara@\uff4biosk.com",  # a full-width letter in the domain
        "sara@stra\u00dfe.de",  # case folding makes it strasse.de
        "sara@M\u00dcNCHEN.de",  # a non-ASCII capital
        "sara@mu\u0308nchen.de",  # a decomposed umlaut: NFKC composes it
    ],
)
def test_an_address_normalisation_would_change_is_never_verified(address: str) -> None:
    email = email_from(f"<{address}>", *signed_domains(address.rpartition("@")[2]))

    decision = decide(email)

    assert not decision.verified
    assert decision.address in (None, ascii_lower(address))


def test_a_from_header_with_control_characters_identifies_nobody() -> None:
    # What staff would be shown (control characters dropped) is not what was sent.
    email = email_from("Sara <sa\x01ra@example.com>", "example.com")

    assert email.from_ is None
    assert "\x01" not in email.from_header
    assert not decide(email).verified


def test_an_internationalised_from_domain_aligns_with_its_ascii_form() -> None:
    email = email_from("Jens <jens@m\u00fcnchen.de>", "xn--mnchen-3ya.de")

    assert decide(email) == IdentityDecision(
        True, "jens@m\u00fcnchen.de", "dkim_pass_aligned:xn--mnchen-3ya.de"
    )


# --- alignment by organisational domain -------------------------------------------------------


@pytest.mark.parametrize(
    ("authenticated", "from_domain", "aligned"),
    [
        ("mail.example.co.uk", "example.co.uk", True),
        ("example.co.uk", "eu.example.co.uk", True),
        ("other.co.uk", "example.co.uk", False),  # two customers of one public suffix
        ("co.uk", "example.co.uk", False),
        ("example.co.uk", "co.uk", False),
        ("alice.github.io", "bob.github.io", False),  # the list's private section counts too
        ("mail.alice.github.io", "alice.github.io", True),
        ("example.com", "example.co", False),
        # A domain on the list is aligned with itself (strict mode's exact match), but not with
        # a customer's domain under it.
        ("hk.com", "HK.com.", True),
        ("alice.hk.com", "hk.com", False),
        ("hk.com", "alice.hk.com", False),
    ],
)
def test_alignment_uses_the_public_suffix_list(
    authenticated: str, from_domain: str, aligned: bool
) -> None:
    assert domains_aligned(authenticated, from_domain) is aligned


def test_organisational_domain() -> None:
    assert organisational_domain("Mail.Example.CO.UK.") == "example.co.uk"
    assert organisational_domain("co.uk") is None
    assert organisational_domain("localhost") is None
    assert organisational_domain("a..example.com") is None


labels = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
suffixes = st.sampled_from(["com", "co.uk", "github.io", "com.au", "de"])


@given(left=labels, right=labels, suffix=suffixes, sub=st.lists(labels, max_size=2))
def test_aligned_exactly_when_the_registrable_label_is_the_same(
    left: str, right: str, suffix: str, sub: list[str]
) -> None:
    signed = ".".join([*sub, left, suffix])

    assert domains_aligned(signed, f"{right}.{suffix}") is (left == right)
    assert domains_aligned(suffix, f"{right}.{suffix}") is False


# --- SendGrid's dkim field, strictly -----------------------------------------------------------

entries = st.lists(
    st.tuples(
        st.lists(labels, min_size=2, max_size=3).map(".".join), st.sampled_from(DKIM_RESULTS)
    ),
    min_size=1,
    max_size=4,
)


@given(found=entries, spacing=st.sampled_from(["", " ", "  "]))
def test_well_formed_dkim_fields_are_read_entry_by_entry(
    found: list[tuple[str, str]], spacing: str
) -> None:
    value = "{" + f",{spacing}".join(f"@{d}{spacing}:{spacing}{r}" for d, r in found) + "}"
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == tuple(
        DkimResult(domain=d, result=r) for d, r in found
    )
    assert defects == []


@given(found=entries, junk=st.text(min_size=1, max_size=12))
def test_one_entry_not_understood_spoils_the_whole_field(
    found: list[tuple[str, str]], junk: str
) -> None:
    value = "{" + ", ".join(f"@{d} : {r}" for d, r in found) + f", {junk}" + "}"
    defects: list[str] = []

    parsed = parse_dkim_field(value, defects)

    # The junk either happens to be an entry itself, or nothing at all is trusted.
    assert parsed == () or parsed[: len(found)] == tuple(
        DkimResult(domain=d, result=r) for d, r in found
    )
    if parsed == ():
        assert defects == ["dkim field not understood; no DKIM result trusted"]


@given(value=st.text(max_size=60))
def test_any_text_gives_only_results_of_the_strict_shape(value: str) -> None:
    for result in parse_dkim_field(value, []):
        assert result.result in DKIM_RESULTS
        assert set(result.domain) <= set(string.ascii_lowercase + string.digits + "_.-")
        assert f"@{result.domain}" in value.lower()


@pytest.mark.parametrize(
    "value",
    [
        "{@example.com : pass}, {@evil.example.net : pass}",
        "@example.com : pass",
        "{example.com : pass}",
        "{@example.com : passed}",
        "{@example.com : pass,}",
        "{@-example.com : pass}",
        "{@example.com. : pass}",
        "{@ex ample.com : pass}",
        "{@example.com = pass}",
    ],
)
def test_dkim_field_shapes_other_than_braced_at_entries_give_no_result(value: str) -> None:
    email = email_from("Sara <sara@example.com>", "example.com")
    defects: list[str] = []

    assert decide(email).verified  # the same sender verifies with a well-formed field
    assert parse_dkim_field(value, defects) == ()
    assert defects == ["dkim field not understood; no DKIM result trusted"]
