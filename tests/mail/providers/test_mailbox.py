"""The mailbox adapter: raw messages as fetched, and whose Authentication-Results to believe."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.mail.ceilings import MimeCeilings
from app.mail.identity import verify_sender
from app.mail.models import AuthResults, DkimResult, InboundEmail
from app.mail.normalise import raw_delivery
from app.mail.providers import adapter_for
from app.mail.providers.mailbox import (
    AMBIGUOUS_SPF,
    CONTENT_TYPE,
    authentication_results,
    content_type_for,
    split_results,
    trusted_authserv_id,
)
from tests.builders import make_eml

ADAPTER = adapter_for("mailbox")
GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=20230601 header.b=Ab/c;\r\n"
    "       spf=pass (google.com: domain of sara@example.com designates 209.85.220.41 as "
    "permitted sender) smtp.mailfrom=sara@example.com;\r\n"
    "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com"
)


def parse(raw: bytes, content_type: str = content_type_for("mx.google.com")) -> InboundEmail:
    assert ADAPTER is not None
    return ADAPTER.parse(
        raw, content_type, raw_delivery(raw, "rfc822"), max_parts=100, ceilings=MimeCeilings()
    )


def with_results(*values: str) -> bytes:
    """A message with these headers on top, as receiving servers prepend them (topmost first)."""
    block = b"".join(b"Authentication-Results: " + v.encode() + b"\r\n" for v in values)
    return block + make_eml(sender="Sara <sara@example.com>")


def test_gmails_own_header_verifies_the_sender() -> None:
    email = parse(with_results(GMAIL))
    assert email.auth == AuthResults(
        spf="pass", dkim=(DkimResult(domain="example.com", result="pass"),)
    )
    assert email.envelope_from == "sara@example.com"
    assert verify_sender(email).verified


def test_only_the_topmost_header_counts() -> None:
    # A forged header below the server's: the server's (failing) verdict stands.
    failing = (
        "mx.google.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=x@evil.test"
    )
    email = parse(with_results(failing, GMAIL))
    assert email.auth.spf == "softfail"
    assert not verify_sender(email).verified


def test_a_header_from_another_server_on_top_is_not_believed() -> None:
    forged = "evil.example; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=sara@example.com"
    email = parse(with_results(forged, GMAIL))
    assert email.auth == AuthResults()
    assert not verify_sender(email).verified


def test_nothing_is_believed_without_a_configured_authserv_id() -> None:
    email = parse(with_results(GMAIL), CONTENT_TYPE)
    assert email.auth == AuthResults()
    assert not verify_sender(email).verified


def test_microsofts_header_without_an_authserv_id_is_not_believed() -> None:
    microsoft = (
        "spf=pass (sender IP is 40.107.1.1) smtp.mailfrom=example.com; dkim=pass (signature "
        "was verified) header.d=example.com;dmarc=pass action=none header.from=example.com;"
        "compauth=pass reason=100"
    )
    assert parse(with_results(microsoft), content_type_for("spf")).auth == AuthResults()


def test_two_spf_results_are_no_result() -> None:
    header = "mx.google.com; spf=pass smtp.mailfrom=sara@example.com; spf=fail smtp.mailfrom=a@b.c"
    email = parse(with_results(header))
    assert email.auth.spf is None
    assert AMBIGUOUS_SPF in email.defects


def test_dkim_domain_from_header_d_and_unknown_results_ignored() -> None:
    header = (
        "mx.example.net 1; dkim=pass header.d=Mail.Example.com header.i=@other.test; "
        "dkim=wonderful header.d=x.test; dkim=pass header.d=not_a domain; spf=maybe"
    )
    auth, mailfrom, defects = authentication_results(
        [("Authentication-Results", header)], "MX.example.NET"
    )
    assert auth == AuthResults(dkim=(DkimResult(domain="mail.example.com", result="pass"),))
    assert (mailfrom, defects) == (None, [])


def test_comments_and_quoted_strings_do_not_split_results() -> None:
    assert split_results('a.example (x; y) 1; dkim=pass header.b="p;q(r)" (c (nested;)) ; x=1') == [
        "a.example 1",
        'dkim=pass header.b="p;q(r)"',
        "x=1",
    ]
    # An unclosed comment loses what follows; it never turns a comment into a result.
    assert split_results("a.example; spf=fail (spf=pass; dkim=pass") == ["a.example"]


def test_the_content_type_carries_the_trusted_id_and_nothing_else_does() -> None:
    assert trusted_authserv_id(content_type_for("MX.Google.com")) == "mx.google.com"
    assert trusted_authserv_id(CONTENT_TYPE) is None
    assert trusted_authserv_id("multipart/form-data; boundary=x") is None


def test_a_raw_message_keeps_its_message_id_and_body() -> None:
    raw = make_eml(message_id="<abc@example.com>", body="Bonjour, où est ma commande ?\n")
    email = parse(raw)
    assert email.message_id == "<abc@example.com>"
    assert "où est ma commande" in email.text


def test_the_webhook_route_refuses_mailbox_posts_whatever_is_configured() -> None:
    from app.mail.adapter import InboundSecrets

    assert ADAPTER is not None
    allow_all = InboundSecrets(allow_unauthenticated=True, basic_user="u", basic_password="p")
    assert not ADAPTER.configured(allow_all)
    assert not ADAPTER.check_headers({"authorization": "Basic dTpw"}, allow_all, 0.0)


_TEXT = st.lists(
    st.one_of(
        st.sampled_from(list('abc.=;()"\\ @-_\t')),
        st.sampled_from(["spf", "dkim", "pass", "mx.google.com", "header.d=", "smtp.mailfrom="]),
    ),
    max_size=60,
).map("".join)


@given(
    headers=st.lists(st.tuples(st.sampled_from(["Authentication-Results", "X"]), _TEXT), max_size=4)
)
def test_authentication_results_never_raise_and_trust_only_the_topmost_named_header(
    headers: list[tuple[str, str]],
) -> None:
    auth, mailfrom, defects = authentication_results(headers, "mx.google.com")
    topmost = next((v for n, v in headers if n == "Authentication-Results"), None)
    trusted = (
        topmost is not None and (split_results(topmost) or [""])[0].split(" ")[0] == "mx.google.com"
    )
    if not trusted:
        assert (auth, mailfrom, defects) == (AuthResults(), None, [])
    for result in auth.dkim:
        assert result.result in {
            "pass",
            "fail",
            "neutral",
            "none",
            "policy",
            "temperror",
            "permerror",
        }


@given(value=st.text(max_size=300))
def test_split_results_never_raises_and_drops_every_comment(value: str) -> None:
    for part in split_results(value):
        assert part == part.strip()
        assert "\x00" not in part
