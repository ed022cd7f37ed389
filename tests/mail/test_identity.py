"""Identity: when a sender is verified, and every From-header trick that must leave it unverified.

Tricks are tested with DKIM passing for the attacker's own domain (which an attacker can always
arrange), so each would verify if the check that catches it were missing.
"""

from __future__ import annotations

import base64

import pytest

from app.demo.sendgrid_posts import Transport
from app.mail import identity
from app.mail.identity import IdentityDecision, domains_aligned, single_mailbox, verify_sender
from app.mail.models import DkimResult, InboundEmail, Mailbox
from app.mail.providers.sendgrid import parse_dkim_field
from tests.builders import inbound

ATTACKER_DKIM = "{@evil.example.net : pass}"
PERSIAN_NAME = "سارا احمدی"


def raw_email(*from_values: str, extra: tuple[str, ...] = ()) -> bytes:
    """A message with exactly these From header lines (none, one or several), written by hand
    so that no library re-encodes or re-folds the header under test."""
    lines = [f"From: {value}" for value in from_values]
    lines += [
        "To: support@demo-store.example",
        "Subject: Where is my order #1001?",
        "Date: Mon, 23 Nov 2026 09:00:00 +0000",
        "Message-ID: <identity-test@example.com>",
        *extra,
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "Hi, where is my order #1001?",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")


def received(
    *from_values: str,
    dkim: str = "none",
    spf: str = "none",
    envelope_from: str = "",
    extra: tuple[str, ...] = (),
    transport_extra: dict[str, bytes] | None = None,
) -> InboundEmail:
    transport = Transport(
        envelope_from=envelope_from,
        spf=spf,
        dkim=dkim,
        extra=transport_extra or {},
    )
    return inbound(raw_email(*from_values, extra=extra), transport)


def b_word(text: str) -> str:
    return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="


# --- verified ----------------------------------------------------------------------------------


def test_plain_sender_verified_by_aligned_dkim() -> None:
    email = received("Sara Ahmadi <sara@example.com>", dkim="{@example.com : pass}", spf="fail")

    assert verify_sender(email) == IdentityDecision(
        True, "sara@example.com", "dkim_pass_aligned:example.com"
    )


@pytest.mark.parametrize(
    ("sender", "dkim_domain"),
    [
        ("sara@example.com", "mail.example.com"),  # signed by a subdomain of the From domain
        ("sara@eu.example.com", "example.com"),  # signed by the parent of the From domain
        ("sara@eu.example.com", "eu.example.com"),
        # Sibling subdomains share the organisational domain: aligned in DMARC's relaxed mode.
        ("sara@eu.example.com", "us.example.com"),
    ],
)
def test_dkim_pass_for_a_subdomain_or_parent_is_aligned(sender: str, dkim_domain: str) -> None:
    email = received(f"Sara <{sender}>", dkim=f"{{@{dkim_domain} : pass}}")

    decision = verify_sender(email)
    assert decision.verified
    assert decision.reason == f"dkim_pass_aligned:{dkim_domain}"


@pytest.mark.parametrize(
    ("sender", "dkim_domain"),
    [
        ("sara@example.com", "esp.example.net"),  # an unrelated domain (an email provider)
        ("sara@example.com", "badexample.com"),  # ends with the From domain, but no dot
        ("sara@example.com", "example.com.evil.example.net"),
    ],
)
def test_dkim_pass_for_an_unrelated_domain_is_not_aligned(sender: str, dkim_domain: str) -> None:
    email = received(f"Sara <{sender}>", dkim=f"{{@{dkim_domain} : pass}}")

    assert verify_sender(email) == IdentityDecision(False, sender, "dkim_pass_not_aligned")


def test_aligned_dkim_found_among_several_signatures() -> None:
    dkim = "{@esp.example.net : pass, @example.com : fail, @mail.example.com : pass}"
    email = received("Sara <sara@example.com>", dkim=dkim)

    assert verify_sender(email).reason == "dkim_pass_aligned:mail.example.com"


def test_dkim_fail_for_the_from_domain_does_not_verify() -> None:
    email = received("Sara <sara@example.com>", dkim="{@example.com : fail}", spf="softfail")

    assert verify_sender(email) == IdentityDecision(
        False, "sara@example.com", "no_aligned_pass:spf=softfail"
    )


@pytest.mark.parametrize("envelope_from", ["sara@example.com", "bounces+1234@mail.example.com"])
def test_spf_pass_with_an_aligned_envelope_sender_verifies(envelope_from: str) -> None:
    email = received("Sara <sara@example.com>", spf="pass", envelope_from=envelope_from)

    decision = verify_sender(email)
    assert decision.verified
    assert decision.address == "sara@example.com"
    assert decision.reason == f"spf_pass_aligned:{envelope_from.rpartition('@')[2]}"


@pytest.mark.parametrize("envelope_from", ["bounce-77@esp.example.net", "", "sara@example.net"])
def test_spf_pass_with_a_non_aligned_envelope_sender_does_not_verify(envelope_from: str) -> None:
    email = received("Sara <sara@eu.example.com>", spf="pass", envelope_from=envelope_from)

    assert verify_sender(email) == IdentityDecision(
        False, "sara@eu.example.com", "spf_pass_not_aligned"
    )


@pytest.mark.parametrize("spf", ["fail", "softfail", "none", "neutral", "temperror", "permerror"])
def test_spf_other_than_pass_without_dkim_is_unverified(spf: str) -> None:
    email = received("Sara <sara@example.com>", spf=spf, envelope_from="sara@example.com")

    assert verify_sender(email) == IdentityDecision(
        False, "sara@example.com", f"no_aligned_pass:spf={spf}"
    )


def test_unknown_spf_value_counts_as_missing() -> None:
    email = received(
        "Sara <sara@example.com>", spf="Pass (sort of)", envelope_from="sara@example.com"
    )

    assert email.auth.spf is None
    assert verify_sender(email).reason == "no_aligned_pass:spf=missing"


def test_legitimate_encoded_persian_display_name_is_verified_and_decoded() -> None:
    email = received(f"{b_word(PERSIAN_NAME)} <sara@example.ir>", dkim="{@example.ir : pass}")

    assert email.from_ == Mailbox(name=PERSIAN_NAME, address="sara@example.ir")
    assert verify_sender(email).verified


def test_legitimate_encoded_accented_display_name_is_verified_and_decoded() -> None:
    email = received(
        "=?ISO-8859-1?Q?Andr=E9_M=FCller?= <andre.mueller@example.de>",
        dkim="{@example.de : pass}",
    )

    assert email.from_ == Mailbox(name="André Müller", address="andre.mueller@example.de")
    assert verify_sender(email).verified


def test_a_badly_padded_encoded_name_only_garbles_the_name() -> None:
    # Some mailers drop base64 padding ("U2FyYQ" for "Sara"); the address is still clear.
    email = received("=?utf-8?B?U2FyYQ?= <sara@example.com>", dkim="{@example.com : pass}")

    assert email.from_ == Mailbox(name="Sara", address="sara@example.com")
    assert verify_sender(email).verified


def test_a_badly_padded_encoded_name_hiding_an_address_is_unverified() -> None:
    # "alice@shop.example.com" in base64 without padding.
    word = base64.b64encode(b"alice@shop.example.com").decode().rstrip("=")
    email = received(f"=?utf-8?B?{word}?= <mallory@evil.example>", dkim="{@evil.example : pass}")

    assert email.from_ is None
    assert not verify_sender(email).verified


def test_uppercase_address_is_normalised_to_lowercase() -> None:
    email = received("Sara <Sara.Ahmadi@EXAMPLE.COM>", dkim="{@Example.Com : pass}")

    assert email.from_ is not None
    assert email.from_.address == "sara.ahmadi@example.com"
    assert verify_sender(email) == IdentityDecision(
        True, "sara.ahmadi@example.com", "dkim_pass_aligned:example.com"
    )


def test_display_name_showing_the_real_address_itself_is_fine() -> None:
    email = received('"sara@example.com" <sara@example.com>', dkim="{@example.com : pass}")

    assert verify_sender(email).verified


# --- From-header tricks: always unverified ------------------------------------------------------

TRICKS = [
    pytest.param('"alice@shop.example.com" <attacker@evil.example.net>', id="quoted-name-address"),
    pytest.param(
        '"Alice <alice@shop.example.com>" <attacker@evil.example.net>', id="quoted-name-angle"
    ),
    pytest.param("alice@shop.example.com <attacker@evil.example.net>", id="unquoted-name-address"),
    pytest.param("attacker@evil.example.net (alice@shop.example.com)", id="comment-address"),
    pytest.param('"alice@shop.example.com": attacker@evil.example.net;', id="group-name-address"),
    pytest.param('"alice\uff20shop.example.com" <attacker@evil.example.net>', id="fullwidth-at"),
    pytest.param("alice@shop.example.com@evil.example.net", id="double-at"),
    pytest.param("=?utf-8?q?alice=40shop.example.com?= <attacker@evil.example.net>", id="ew-q-at"),
    pytest.param(
        f"{b_word('alice@shop.example.com')} <attacker@evil.example.net>", id="ew-b-address"
    ),
    pytest.param(
        "=?utf-8?q?alice?= =?utf-8?q?=40shop.example.com?= <attacker@evil.example.net>",
        id="ew-split-address",
    ),
    pytest.param(
        "=?utf-8?q?Alice_=3Calice=40shop.example.com=3E?= <attacker@evil.example.net>",
        id="ew-angle",
    ),
    pytest.param("=?utf-8?q?Alice_=3E?= <attacker@evil.example.net>", id="ew-bracket-only"),
    pytest.param(
        '"=?utf-8?q?alice=40shop.example.com?=" <attacker@evil.example.net>', id="ew-quoted"
    ),
    pytest.param("=?utf-8?q?attacker=40evil.example.net?=", id="ew-addr-spec"),
    pytest.param("<=?utf-8?q?attacker=40evil.example.net?=>", id="ew-angle-addr-spec"),
    pytest.param("Attacker <=?utf-8?q?attacker?=@evil.example.net>", id="ew-local-part"),
    pytest.param("attacker@evil.example.net, alice@shop.example.com", id="two-mailboxes"),
    pytest.param(", Attacker <attacker@evil.example.net>", id="leading-empty-element"),
    pytest.param("Attacker <attacker@evil.example.net> trailing-junk", id="trailing-junk"),
    pytest.param("Attacker <@relay.example.org:attacker@evil.example.net>", id="source-route"),
    pytest.param('Attacker <"alice@shop.example.com"@evil.example.net>', id="quoted-local-part"),
    pytest.param("Attacker <attacker@evil.example.net", id="unclosed-angle"),
    pytest.param("Evil: attacker@evil.example.net;", id="group-with-member"),
]


@pytest.mark.parametrize("from_value", TRICKS)
def test_from_header_tricks_are_unverified(from_value: str) -> None:
    email = received(from_value, dkim=ATTACKER_DKIM, spf="pass", envelope_from="a@evil.example.net")

    assert email.from_ is None
    assert verify_sender(email) == IdentityDecision(False, None, "from_not_one_trustworthy_mailbox")


def test_the_trick_controls_verify_without_the_trick() -> None:
    # Same transport as the tricks: the plain attacker address verifies, so the tricks above fail
    # for the trick and not for some other reason.
    email = received(
        "Attacker <attacker@evil.example.net>",
        dkim=ATTACKER_DKIM,
        spf="pass",
        envelope_from="a@evil.example.net",
    )

    assert verify_sender(email).verified


def test_two_from_headers_are_unverified() -> None:
    email = received(
        "Sara <sara@example.com>", "Reza <reza@example.com>", dkim="{@example.com : pass}"
    )

    assert email.from_ is None
    assert not verify_sender(email).verified


@pytest.mark.parametrize("from_value", ["", "   ", "<>", "undisclosed-recipients:;", "Sara"])
def test_empty_or_addressless_from_is_unverified(from_value: str) -> None:
    email = received(from_value, dkim="{@example.com : pass}", spf="pass")

    assert email.from_ is None
    assert not verify_sender(email).verified


def test_missing_from_header_is_unverified() -> None:
    email = received(dkim="{@example.com : pass}", spf="pass", envelope_from="sara@example.com")

    assert email.from_ is None
    assert not verify_sender(email).verified


def test_three_thousand_character_from_header_is_unverified() -> None:
    name = "Sara " + "A" * 2990
    long_email = received(f'"{name}" <sara@example.com>', dkim="{@example.com : pass}")
    short_email = received('"Sara A" <sara@example.com>', dkim="{@example.com : pass}")

    assert len(long_email.from_header) > 3000
    assert not verify_sender(long_email).verified
    assert verify_sender(short_email).verified


def test_folded_from_header_is_unfolded_and_verified() -> None:
    email = received("Sara Ahmadi\r\n <sara@example.com>", dkim="{@example.com : pass}")

    assert email.from_ == Mailbox(name="Sara Ahmadi", address="sara@example.com")
    assert verify_sender(email).verified


@pytest.mark.parametrize(
    "address", ["sara@localhost", "sara@example.test", "sara@[192.0.2.1]", "sara@com"]
)
def test_address_that_is_not_a_valid_public_mailbox_is_unverified(address: str) -> None:
    domain = address.rpartition("@")[2]
    email = received(f"Sara <{address}>", dkim=f"{{@{domain} : pass}}", spf="pass")

    assert email.from_ is None
    assert not verify_sender(email).verified


# --- only SendGrid's fields count ---------------------------------------------------------------


def test_authentication_results_inside_the_message_are_ignored() -> None:
    email = received(
        "Sara <sara@example.com>",
        dkim="none",
        spf="none",
        envelope_from="sara@example.com",
        extra=(
            "Authentication-Results: mx.example.com; dkim=pass header.d=example.com;"
            " spf=pass smtp.mailfrom=example.com; dmarc=pass",
            "Received-SPF: pass (example.com: domain of sara@example.com designates 192.0.2.1)",
        ),
    )

    assert verify_sender(email) == IdentityDecision(
        False, "sara@example.com", "no_aligned_pass:spf=none"
    )


def test_reply_to_never_makes_a_sender_verified() -> None:
    # DKIM passes for the Reply-To domain, not the From domain: still unverified.
    email = received(
        "Sara <sara@example.com>",
        dkim=ATTACKER_DKIM,
        extra=("Reply-To: Sara <attacker@evil.example.net>",),
    )

    assert verify_sender(email) == IdentityDecision(
        False, "sara@example.com", "dkim_pass_not_aligned"
    )


def test_a_second_dkim_field_in_the_post_means_no_result_is_trusted() -> None:
    email = received(
        "Sara <sara@example.com>",
        dkim="{@example.com : pass}",
        spf="pass",
        envelope_from="sara@example.com",
        transport_extra={"dkim": b"{@example.com : fail}"},
    )

    assert email.auth.dkim == ()
    assert email.auth.spf is None
    assert not verify_sender(email).verified


# --- single_mailbox and domains_aligned directly ------------------------------------------------


def test_single_mailbox_needs_exactly_one_header_value() -> None:
    assert single_mailbox([]) is None
    assert single_mailbox(["sara@example.com", "sara@example.com"]) is None
    assert single_mailbox(["sara@example.com"]) == Mailbox(name="", address="sara@example.com")


def test_single_mailbox_needs_the_legacy_parser_to_see_one_mailbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulates a Python whose legacy parser splits a header the modern one reads as one mailbox.
    monkeypatch.setattr(
        identity,
        "getaddresses",
        lambda values: [("Sara", "sara@example.com"), ("", "attacker@evil.example.net")],
    )

    assert single_mailbox(["Sara <sara@example.com>"]) is None


def test_single_mailbox_needs_both_parsers_to_agree_on_the_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Simulates CVE-2023-27043: one parser picks a different part of the header as the address.
    monkeypatch.setattr(
        identity, "getaddresses", lambda values: [("Sara", "attacker@evil.example.net")]
    )

    assert single_mailbox(["Sara <sara@example.com>"]) is None


def test_single_mailbox_accepts_a_header_both_parsers_agree_on() -> None:
    assert single_mailbox(["Sara <sara@example.com>"]) == Mailbox(
        name="Sara", address="sara@example.com"
    )


def test_single_mailbox_rejects_a_value_with_a_bare_line_break() -> None:
    assert single_mailbox(["Sara <sara@example.com>\r\nBcc: x@example.com"]) is None
    assert single_mailbox(["Sara <sara@example.com>\n"]) == Mailbox(
        name="Sara", address="sara@example.com"
    )


def test_single_mailbox_keeps_a_plain_comment_name_out_of_the_display_name() -> None:
    assert single_mailbox(["sara@example.com (Sara)"]) == Mailbox(
        name="", address="sara@example.com"
    )


@pytest.mark.parametrize(
    ("authenticated", "from_domain", "aligned"),
    [
        ("example.com", "example.com", True),
        ("EXAMPLE.COM.", "example.com", True),
        (" mail.example.com ", "example.com", True),
        ("example.com", "eu.example.com", True),
        ("a.b.example.com", "example.com", True),
        ("us.example.com", "eu.example.com", True),
        ("badexample.com", "example.com", False),
        ("example.com", "example.org", False),
        ("com", "example.com", False),
        ("example.com", "com", False),
        ("", "example.com", False),
        ("example.com", "", False),
    ],
)
def test_domains_aligned(authenticated: str, from_domain: str, aligned: bool) -> None:
    assert domains_aligned(authenticated, from_domain) is aligned


# --- SendGrid's dkim field ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{@example.org : pass}", (("example.org", "pass"),)),
        ("{@example.org:pass}", (("example.org", "pass"),)),
        ("{@Example.ORG : PASS}", (("example.org", "pass"),)),
        (
            "{@example.org : pass, @esp.example.net : fail}",
            (("example.org", "pass"), ("esp.example.net", "fail")),
        ),
        (
            "{ @example.org : pass , @example.net:fail }",
            (("example.org", "pass"), ("example.net", "fail")),
        ),
        ("{@mail_1.example.org : neutral}", (("mail_1.example.org", "neutral"),)),
    ],
)
def test_dkim_field_entries_are_parsed(value: str, expected: tuple[tuple[str, str], ...]) -> None:
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == tuple(
        DkimResult(domain=domain, result=result) for domain, result in expected
    )
    assert defects == []


@pytest.mark.parametrize("value", ["", "   ", "none", "{}"])
def test_dkim_field_with_no_signatures_is_empty_without_a_defect(value: str) -> None:
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == ()
    assert defects == []


@pytest.mark.parametrize(
    "value",
    [
        '{"example.org": "pass"}',  # JSON is not SendGrid's format
        "pass",
        "{@ : pass}",  # an entry without a domain
        "{: pass}",
        "{@example.org}",  # no result
        "{@example.org pass}",
        "{@example.org : pass, garbage}",  # one bad entry spoils the good one
        "{@example.org : pass}}",
        "{@example.org : pass",
        "{@example.org : pass; @evil.example.net : pass}",
        "{@example.org : pass (signature verified)}",
        "{@localhost : pass}",  # no dot: not a domain
        "{@example.org : pass}\n{@evil.example.net : pass}",
        "{example.org : pass}",  # an entry without its `@`
        "{ @example.org : pass , }",  # an empty entry
        "{@example.org : passed}",  # not a DKIM result word
        "{@example.org : pass}, {@evil.example.net : pass}",
    ],
)
def test_dkim_field_garbage_is_distrusted_entirely(value: str) -> None:
    defects: list[str] = []

    assert parse_dkim_field(value, defects) == ()
    assert defects == ["dkim field not understood; no DKIM result trusted"]


@pytest.mark.parametrize(
    "dkim",
    ['{"example.com": "pass"}', "pass", "{@ : pass}", "{@example.com : pass, garbage}", "{}"],
)
def test_dkim_field_garbage_leaves_the_sender_unverified(dkim: str) -> None:
    email = received("Sara <sara@example.com>", dkim=dkim, spf="softfail")

    assert email.auth.dkim == ()
    assert verify_sender(email) == IdentityDecision(
        False, "sara@example.com", "no_aligned_pass:spf=softfail"
    )


def test_dkim_garbage_is_recorded_as_a_defect() -> None:
    email = received("Sara <sara@example.com>", dkim='{"example.com": "pass"}')

    assert "dkim field not understood; no DKIM result trusted" in email.defects
