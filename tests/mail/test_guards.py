"""Guards: which mail must never be answered (skip) and which only a person may answer (hold).

Every sample here was written for this project from RFC 3834, RFC 3464, RFC 5965, RFC 8098,
RFC 2369/2919 and the header shapes vendors document (Exchange, Gmail, Apple Mail, Postfix);
multi-line ones live in tests/payloads/mail/.
"""

from __future__ import annotations

import pytest

from app.demo.sendgrid_posts import Transport
from app.mail.guards import (
    GuardDecision,
    OwnIdentity,
    Verdict,
    check_never_answer,
    check_reply_caps,
    check_sender,
)
from app.mail.models import InboundEmail
from tests.builders import inbound, make_eml, payload

SKIP = Verdict.SKIP
HOLD = Verdict.HOLD

OWN = OwnIdentity(
    addresses=frozenset({"support@demo-store.example", "orders@demo-store.example"}),
    domains=frozenset({"demo-store.example"}),
    max_received_hops=30,
)
CUSTOMER = "Sara Ahmadi <sara@example.com>"


def customer_transport(envelope_from: str = "sara@example.com", **values: object) -> Transport:
    """What SendGrid reports for an ordinary delivery from `envelope_from`."""
    domain = envelope_from.rpartition("@")[2] or "example.com"
    fields: dict[str, object] = {
        "envelope_from": envelope_from,
        "spf": "pass",
        "dkim": f"{{@{domain} : pass}}",
        "spam_score": "0.1",
    }
    fields.update(values)
    return Transport(**fields)  # type: ignore[arg-type]


def mail(
    *,
    sender: str = CUSTOMER,
    subject: str = "Where is my order #1001?",
    body: str = "Hi, where is my order #1001?\n\nThanks, Sara\n",
    headers: list[tuple[str, str]] | None = None,
    envelope_from: str = "sara@example.com",
    transport: Transport | None = None,
) -> InboundEmail:
    """An inline email, parsed the way the worker parses a raw-mode post."""
    raw = make_eml(sender=sender, subject=subject, body=body, headers=headers)
    return inbound(raw, transport or customer_transport(envelope_from))


def fixture(name: str, envelope_from: str) -> InboundEmail:
    return inbound(payload(f"mail/{name}"), customer_transport(envelope_from))


def verdicts(email: InboundEmail, own: OwnIdentity = OWN) -> dict[str, Verdict]:
    """Each decision's code and verdict; a code with two verdicts would fail the assertion below."""
    decisions = check_never_answer(email, own)
    found = {d.code: d.verdict for d in decisions}
    assert len({(d.code, d.verdict) for d in decisions}) == len(found)
    return found


def details(email: InboundEmail, code: str) -> list[str]:
    return [d.detail for d in check_never_answer(email, OWN) if d.code == code]


# --- realistic samples from files ---------------------------------------------------------------


def test_exchange_automatic_reply_with_null_return_path_is_skipped_and_its_suppress_held() -> None:
    email = fixture("exchange-automatic-reply.eml", envelope_from="")

    assert verdicts(email) == {
        "vacation": SKIP,
        "null_sender": SKIP,
        "auto_response_suppressed": HOLD,
    }
    # Both signs of the null sender are recorded: SendGrid's envelope and the Return-Path header.
    assert sorted(details(email, "null_sender")) == [
        "Return-Path: <>",
        "envelope sender is <>",
    ]


def test_gmail_vacation_responder_is_recognised_by_auto_submitted_alone() -> None:
    email = fixture("gmail-vacation.eml", envelope_from="priya.natarajan@example.com")

    assert email.subject == "Re: Your order #1043 is on its way"  # no out-of-office subject
    assert verdicts(email) == {"auto_submitted": SKIP}
    assert details(email, "auto_submitted") == ["Auto-Submitted: auto-replied"]


def test_apple_mail_vacation_reply_is_recognised_by_x_apple_action_alone() -> None:
    # No Auto-Submitted, no Precedence, a subject the user chose: only X-Apple-Action tells.
    email = fixture("apple-vacation.eml", envelope_from="mina.farahani@icloud.example")

    assert email.header("auto-submitted") is None
    assert verdicts(email) == {"vacation": SKIP}
    assert details(email, "vacation") == ["X-Apple-Action: VACATION"]


def test_postfix_delivery_status_notification_from_mailer_daemon() -> None:
    email = fixture("postfix-dsn.eml", envelope_from="")

    assert verdicts(email) == {
        "auto_submitted": SKIP,
        "null_sender": SKIP,
        "report": SKIP,
        "robot_sender": SKIP,
        "bounce": SKIP,
    }
    assert details(email, "report") == ["delivery-status"]
    assert details(email, "robot_sender") == ["mailer-daemon@mx1.mail.example.net"]


def test_postfix_dsn_is_a_report_even_with_a_non_null_envelope_and_no_robot_markers() -> None:
    # A relay that rewrote the envelope: the multipart/report structure alone still decides.
    raw = payload("mail/postfix-dsn.eml")
    raw = raw.replace(b"Return-Path: <>\r\n", b"").replace(
        b"Auto-Submitted: auto-replied\r\n", b"", 1
    )
    email = inbound(raw, customer_transport("relay@mail.example.net"))

    assert email.content_type == "multipart/report"
    assert verdicts(email)["report"] is SKIP
    assert "null_sender" not in verdicts(email)


def test_arf_abuse_report_is_skipped_as_a_feedback_report() -> None:
    email = fixture("arf-abuse-report.eml", envelope_from="complaints@isp.example.net")

    assert verdicts(email) == {"report": SKIP}
    assert details(email, "report") == ["feedback-report"]


def test_read_receipt_from_a_customer_is_skipped_as_a_disposition_notification() -> None:
    email = fixture("read-receipt.eml", envelope_from="hannah.kowalski@example.pl")

    assert verdicts(email) == {"report": SKIP}
    assert details(email, "report") == ["disposition-notification"]


def test_mailing_list_post_is_skipped_for_its_list_headers_and_precedence() -> None:
    email = fixture(
        "mailing-list-post.eml",
        envelope_from="suppliers-bounces+support=demo-store.example@lists.example.org",
    )

    assert verdicts(email) == {"list_mail": SKIP, "precedence": SKIP}
    assert details(email, "list_mail") == [
        "list-id, list-unsubscribe, list-post, list-help, list-archive"
    ]


def test_bounce_recognised_by_subject_and_the_returned_message_attached() -> None:
    # Not a robot address, no report type, no null sender: subject plus message/rfc822 decide.
    email = fixture(
        "undeliverable-with-returned-message.eml", envelope_from="relay-admin@corp.example.net"
    )

    assert [a.content_type for a in email.attachments] == ["message/rfc822"]
    assert verdicts(email) == {"bounce": SKIP}


def test_the_same_bounce_subject_without_the_returned_message_is_not_a_bounce() -> None:
    raw = payload("mail/undeliverable-with-returned-message.eml")
    raw = raw.split(b"--ndr_boundary_1048\nContent-Type: message/rfc822")[0]
    raw += b"--ndr_boundary_1048--\n"
    email = inbound(raw, customer_transport("relay-admin@corp.example.net"))

    assert email.subject.startswith("Undeliverable:")
    assert email.attachments == ()
    assert verdicts(email) == {}


# --- RFC 3834 and vendor auto-reply markers -----------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "auto-replied",
        "auto-generated",
        "auto-notified",
        "auto-generated (failure)",
        "Auto-Replied",
        "auto-replied; owner-email=ops@example.com",
    ],
)
def test_auto_submitted_other_than_no_is_skipped(value: str) -> None:
    email = mail(headers=[("Auto-Submitted", value)])

    assert verdicts(email) == {"auto_submitted": SKIP}
    assert details(email, "auto_submitted") == [f"Auto-Submitted: {value}"]


@pytest.mark.parametrize("value", ["no", "No", "no (a person wrote this)"])
def test_auto_submitted_no_is_ordinary_mail(value: str) -> None:
    assert verdicts(mail(headers=[("Auto-Submitted", value)])) == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Autoreply", "yes"),
        ("X-Autoreply", "YES"),
        ("X-Autorespond", "Thanks for your email, we will answer within two days"),
        ("X-Auto-Reply-From", "helpdesk@example.com"),
        ("X-Autogenerated", "Reply"),
    ],
)
def test_vendor_autoreply_headers_are_skipped(name: str, value: str) -> None:
    email = mail(headers=[(name, value)])

    assert verdicts(email) == {"autoreply_header": SKIP}
    assert details(email, "autoreply_header") == [f"{name.lower()}: {value}"]


@pytest.mark.parametrize("value", ["no", "false", "0"])
def test_autoreply_header_saying_no_is_ordinary_mail(value: str) -> None:
    assert verdicts(mail(headers=[("X-Autoreply", value)])) == {}


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Where is my order #1001?",
        "Auto: Where is my order #1001?",
        "Auto reply: Where is my order #1001?",
        "Out of Office: Where is my order #1001?",
        "Abwesenheitsnotiz: Wo ist meine Bestellung?",
        "Réponse automatique : Où est ma commande ?",
        "Respuesta automática: ¿Dónde está mi pedido?",
        "Automatisch antwoord: Waar is mijn bestelling?",
        "Autosvar: Var är min beställning?",
        "پاسخ خودکار: سفارش من کجاست؟",
        "Out of Office AutoReply: Where is my order #1001?",
        "Vacation reply: Where is my order #1001?",
    ],
)
def test_out_of_office_subjects_are_skipped(subject: str) -> None:
    email = mail(subject=subject, body="I am away until Monday.\n")

    assert verdicts(email) == {"vacation": SKIP}
    assert details(email, "vacation") == ["out-of-office subject"]


def test_x_apple_action_vacation_inline() -> None:
    email = mail(subject="Thanks!", headers=[("X-Apple-Action", "VACATION")])

    assert verdicts(email) == {"vacation": SKIP}


# --- lists and bulk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Precedence", "bulk"),
        ("Precedence", "junk"),
        ("Precedence", "list"),
        ("Precedence", "auto_reply"),
        ("Precedence", "Bulk"),
        ("X-Precedence", "bulk"),
    ],
)
def test_bulk_list_and_junk_precedence_is_skipped(name: str, value: str) -> None:
    email = mail(headers=[(name, value)])

    assert verdicts(email) == {"precedence": SKIP}
    assert details(email, "precedence") == [f"{name.lower()}: {value}"]


@pytest.mark.parametrize("value", ["first-class", "normal", "special-delivery"])
def test_other_precedence_values_are_ordinary_mail(value: str) -> None:
    assert verdicts(mail(headers=[("Precedence", value)])) == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("List-Id", "Shop customers <customers.lists.example.org>"),
        ("List-Unsubscribe", "<https://news.example-brand.com/u/8f2c>"),
        ("List-Post", "<mailto:customers@lists.example.org>"),
        ("List-Help", "<mailto:customers-request@lists.example.org?subject=help>"),
        ("List-Subscribe", "<mailto:customers-join@lists.example.org>"),
        ("List-Owner", "<mailto:customers-owner@lists.example.org>"),
        ("List-Archive", "<https://lists.example.org/archive/customers/>"),
        ("Mailing-List", "contact customers-help@lists.example.org; run by ezmlm"),
        ("X-Mailing-List", "customers@lists.example.org"),
    ],
)
def test_any_single_list_header_marks_list_mail(name: str, value: str) -> None:
    email = mail(headers=[(name, value)])

    assert verdicts(email) == {"list_mail": SKIP}
    assert details(email, "list_mail") == [name.lower()]


# --- bounces, null senders, robots -------------------------------------------------------------


@pytest.mark.parametrize("envelope_from", ["", "<>"])
def test_null_envelope_sender_is_skipped(envelope_from: str) -> None:
    email = mail(transport=customer_transport(envelope_from, dkim="{@example.com : pass}"))

    assert email.envelope_from == ""
    assert verdicts(email) == {"null_sender": SKIP}
    assert details(email, "null_sender") == ["envelope sender is <>"]


def test_null_return_path_header_is_skipped() -> None:
    email = mail(headers=[("Return-Path", "<>")])

    assert verdicts(email) == {"null_sender": SKIP}
    assert details(email, "null_sender") == ["Return-Path: <>"]


def test_unknown_envelope_sender_is_not_the_null_sender() -> None:
    # None (SendGrid sent no envelope sender) is unknown; only "" is the null sender `<>`.
    email = mail()

    assert verdicts(email.model_copy(update={"envelope_from": None})) == {}
    assert verdicts(email.model_copy(update={"envelope_from": ""})) == {"null_sender": SKIP}


def test_x_failed_recipients_marks_a_bounce() -> None:
    email = mail(headers=[("X-Failed-Recipients", "lukas.brenner@mail.example.net")])

    assert verdicts(email) == {"bounce": SKIP}
    assert details(email, "bounce") == ["X-Failed-Recipients present"]


def test_exim_plain_text_bounce_from_mailer_daemon() -> None:
    email = mail(
        sender="Mail Delivery System <Mailer-Daemon@mx2.mail.example.net>",
        subject="Mail delivery failed: returning message to sender",
        body=(
            "This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            "  lukas.brenner@mail.example.net\n    mailbox is full\n"
        ),
        envelope_from="",
        headers=[("X-Failed-Recipients", "lukas.brenner@mail.example.net")],
    )

    assert verdicts(email) == {"null_sender": SKIP, "bounce": SKIP, "robot_sender": SKIP}
    assert sorted(details(email, "bounce")) == [
        "X-Failed-Recipients present",
        "delivery failure notice",
    ]


def test_bounce_subject_with_a_mail_delivery_display_name_is_a_bounce() -> None:
    # qmail and some gateways send from an ordinary local part with a "Mail Delivery" name.
    email = mail(
        sender="Mail Delivery Subsystem <gateway@corp.example.net>",
        subject="failure notice",
        envelope_from="gateway@corp.example.net",
    )

    assert verdicts(email) == {"bounce": SKIP}


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.net",
        "postmaster@example.net",
        "Shop Updates <noreply@example-brand.com>",
        "no-reply@accounts.example.com",
        "no_reply@example.com",
        "do-not-reply@example.com",
        "DoNotReply@example.com",
        "bounces@example.com",
    ],
)
def test_robot_senders_are_skipped(sender: str) -> None:
    email = mail(sender=sender, subject="Your account", envelope_from="sara@example.com")

    assert verdicts(email) == {"robot_sender": SKIP}


@pytest.mark.parametrize("envelope", ["MAILER-DAEMON@mx.example.org", "postmaster@example.org"])
def test_a_bounce_origin_envelope_sender_is_skipped_even_with_a_human_from(envelope: str) -> None:
    email = mail(envelope_from=envelope)

    assert verdicts(email) == {"robot_sender": SKIP}
    assert details(email, "robot_sender") == [envelope.lower()]


@pytest.mark.parametrize(
    "envelope",
    ["bounces+4411-ab12@em.example.com", "noreply@notifications.example.com", "bounce@example.com"],
)
def test_a_mail_service_envelope_sender_says_nothing_about_a_human_from(envelope: str) -> None:
    # Mail services send people's mail with such envelopes; only the From decides here.
    assert verdicts(mail(envelope_from=envelope)) == {}


def test_robot_sender_is_found_in_a_from_header_that_does_not_parse() -> None:
    # Two mailboxes: `from_` is None, the guard still sees the robot address in the header.
    email = mail(sender="noreply@example-brand.com, news@example-brand.com")

    assert email.from_ is None
    assert verdicts(email) == {"robot_sender": SKIP}


def test_huge_unparseable_from_header_is_still_searched_for_robots() -> None:
    # The From header has no length limit: scanning it must not take quadratic time.
    email = mail().model_copy(
        update={"from_header": "x" * 200_000 + " <noreply@example.com>", "from_": None}
    )

    assert verdicts(email) == {"robot_sender": SKIP}


# --- our own mail and loops ---------------------------------------------------------------------


def test_mail_from_our_own_address_is_skipped() -> None:
    email = mail(sender="Demo Store <support@demo-store.example>", envelope_from="")

    assert verdicts(email) == {"own_address": SKIP, "null_sender": SKIP}
    assert details(email, "own_address") == ["support@demo-store.example"]


def test_mail_from_another_address_at_our_domain_is_skipped() -> None:
    email = mail(sender="Ali <ali@demo-store.example>", envelope_from="ali@demo-store.example")

    assert verdicts(email) == {"own_domain": SKIP}
    assert details(email, "own_domain") == ["ali@demo-store.example"]


def test_mail_from_a_subdomain_of_our_domain_is_skipped() -> None:
    email = mail(
        sender="Demo Store <notifications@em.demo-store.example>",
        envelope_from="notifications@em.demo-store.example",
    )

    assert verdicts(email) == {"own_domain": SKIP}


def test_our_own_envelope_sender_is_skipped() -> None:
    # Our own outgoing reply coming back through a forwarder keeps our bounce envelope.
    email = mail(envelope_from="bounces+7@em.demo-store.example")

    assert verdicts(email)["own_domain"] is SKIP
    assert details(email, "own_domain") == ["bounces+7@em.demo-store.example"]


@pytest.mark.parametrize(
    "address",
    ["alice@demo-store.example.evil.example.net", "alice@notdemo-store.example"],
)
def test_look_alike_domains_are_not_ours(address: str) -> None:
    email = mail(sender=f"Alice <{address}>", envelope_from=address)

    assert verdicts(email) == {}


def received_headers(count: int) -> list[tuple[str, str]]:
    return [
        (
            "Received",
            f"from relay{n}.example.net (relay{n}.example.net [192.0.2.{n}]) by "
            f"relay{n + 1}.example.net with ESMTP id R{n}; Mon, 23 Nov 2026 09:00:{n:02d} +0000",
        )
        for n in range(count)
    ]


def test_received_headers_up_to_the_limit_are_fine() -> None:
    assert verdicts(mail(headers=received_headers(30))) == {}


def test_more_received_headers_than_the_limit_is_a_loop() -> None:
    email = mail(headers=received_headers(31))

    assert verdicts(email) == {"too_many_hops": SKIP}
    assert details(email, "too_many_hops") == ["31 Received headers"]


def test_hop_limit_comes_from_own_identity() -> None:
    strict = OwnIdentity(addresses=OWN.addresses, domains=OWN.domains, max_received_hops=3)

    assert verdicts(mail(headers=received_headers(3)), strict) == {}
    assert verdicts(mail(headers=received_headers(4)), strict) == {"too_many_hops": SKIP}


# --- X-Auto-Response-Suppress: a request, so hold (a person may answer) -------------------------


@pytest.mark.parametrize(
    "value", ["All", "OOF", "AutoReply", "DR, OOF", "DR, RN, NRN, OOF, AutoReply", "all"]
)
def test_auto_response_suppress_asking_for_no_auto_replies_holds(value: str) -> None:
    email = mail(headers=[("X-Auto-Response-Suppress", value)])

    assert verdicts(email) == {"auto_response_suppressed": HOLD}
    assert details(email, "auto_response_suppressed") == [value]


@pytest.mark.parametrize("value", ["DR, NDR", "None", "RN, NRN", "DR"])
def test_auto_response_suppress_for_receipts_only_does_not_hold(value: str) -> None:
    assert verdicts(mail(headers=[("X-Auto-Response-Suppress", value)])) == {}


# --- negative controls: ordinary customer mail --------------------------------------------------


def test_ordinary_customer_mail_passes_every_guard() -> None:
    email = mail()

    assert check_never_answer(email, OWN) == []
    assert check_sender(email, spam_score_threshold=5.0) == []


def test_customer_subject_about_a_delivery_failure_is_not_a_bounce() -> None:
    email = mail(
        subject="Delivery failure - parcel never arrived",
        body="Hello, the courier says delivery failed and the parcel went back. Order #1050.\n",
    )

    assert check_never_answer(email, OWN) == []


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Automatic reply: Your order #1001",  # a person answering an auto-reply
        "Parcel left at the door while I was out of the office",
        "Can I change the delivery address? I will be on vacation",
        "AW: Abwesenheitsnotiz erhalten - wer hilft mir?",
        "Out of office next week - please hold my order",
        "On vacation until the 30th, can you deliver after?",
        "Automatic reply settings broke my order?",
    ],
)
def test_auto_reply_words_later_in_a_customer_subject_are_not_a_vacation_reply(
    subject: str,
) -> None:
    assert check_never_answer(mail(subject=subject), OWN) == []


def test_customer_quoting_an_out_of_office_text_in_the_body_is_answered() -> None:
    email = fixture("customer-quotes-out-of-office.eml", envelope_from="amara.nwosu@example.com")

    assert "Automatic reply" in email.text
    assert "Auto-Submitted" in email.text
    assert check_never_answer(email, OWN) == []


def test_customer_named_max_postmaster_is_not_a_robot() -> None:
    email = mail(
        sender="Max Postmaster <max.postmaster@example.com>",
        subject="Delivery failure - parcel never arrived",
        envelope_from="max.postmaster@example.com",
    )

    assert check_never_answer(email, OWN) == []


def test_customer_forwarding_an_email_as_an_attachment_is_not_a_bounce() -> None:
    raw = (
        b"From: Sara Ahmadi <sara@example.com>\n"
        b"To: support@demo-store.example\n"
        b"Subject: Fwd: Your order confirmation #1051\n"
        b"Message-ID: <fwd-1051@example.com>\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="fwd"\n\n'
        b"--fwd\nContent-Type: text/plain\n\nThe confirmation shows the wrong size.\n"
        b"--fwd\nContent-Type: message/rfc822\n\n"
        b"From: Demo Store <orders@demo-store.example>\nSubject: Your order confirmation #1051\n\n"
        b"Size: M\n--fwd--\n"
    )
    email = inbound(raw, customer_transport())

    assert [a.content_type for a in email.attachments] == ["message/rfc822"]
    assert check_never_answer(email, OWN) == []


def test_repeated_identical_reasons_are_recorded_once() -> None:
    email = mail(headers=[("Auto-Submitted", "auto-replied"), ("Auto-Submitted", "auto-replied")])

    assert [d.code for d in check_never_answer(email, OWN)] == ["auto_submitted"]


def test_decision_record_is_plain_json() -> None:
    decision = GuardDecision("precedence", Verdict.SKIP, "precedence: bulk")

    assert decision.as_record() == {
        "code": "precedence",
        "verdict": "skip",
        "detail": "precedence: bulk",
    }


# --- check_sender -------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "held"), [("5.0", True), ("12.3", True), ("4.9", False)])
def test_spam_score_at_or_above_the_threshold_holds(score: str, held: bool) -> None:
    email = mail(transport=customer_transport(spam_score=score))
    decisions = check_sender(email, spam_score_threshold=5.0)

    if held:
        assert decisions == [GuardDecision("spam_score", HOLD, f"{float(score)} >= 5.0")]
    else:
        assert decisions == []


@pytest.mark.parametrize("score", [None, "not-a-number", "nan"])
def test_missing_or_unreadable_spam_score_is_not_spam(score: str | None) -> None:
    email = mail(transport=customer_transport(spam_score=score))

    assert email.auth.spam_score is None
    assert check_sender(email, spam_score_threshold=0.0) == []


@pytest.mark.parametrize(
    "sender",
    [
        "sara@example.com, reza@example.ir",
        "undisclosed-recipients:;",
        '"sara@example.com" <mallory@evil.example.net>',
    ],
)
def test_from_that_is_not_one_mailbox_holds(sender: str) -> None:
    email = mail(sender=sender)
    decisions = check_sender(email, spam_score_threshold=5.0)

    assert email.from_ is None
    assert [(d.code, d.verdict) for d in decisions] == [("no_single_sender", HOLD)]


def test_check_sender_reports_both_reasons() -> None:
    email = mail(
        sender="a@example.com, b@example.com", transport=customer_transport(spam_score="9")
    )

    assert {d.code for d in check_sender(email, spam_score_threshold=5.0)} == {
        "no_single_sender",
        "spam_score",
    }


# --- check_reply_caps ---------------------------------------------------------------------------


def caps(sender: int, thread: int) -> dict[str, Verdict]:
    decisions = check_reply_caps(
        replies_to_sender=sender,
        replies_in_thread=thread,
        sender_cap=3,
        thread_cap=5,
        window_hours=24,
    )
    return {d.code: d.verdict for d in decisions}


@pytest.mark.parametrize(
    ("sender", "thread", "expected"),
    [
        (0, 0, {}),
        (2, 4, {}),
        (3, 0, {"sender_reply_cap": HOLD}),
        (4, 0, {"sender_reply_cap": HOLD}),
        (0, 5, {"thread_reply_cap": HOLD}),
        (0, 6, {"thread_reply_cap": HOLD}),
        (2, 5, {"thread_reply_cap": HOLD}),
        (3, 4, {"sender_reply_cap": HOLD}),
        (3, 5, {"sender_reply_cap": HOLD, "thread_reply_cap": HOLD}),
        (9, 9, {"sender_reply_cap": HOLD, "thread_reply_cap": HOLD}),
    ],
)
def test_reply_caps_hold_at_and_above_each_cap(
    sender: int, thread: int, expected: dict[str, Verdict]
) -> None:
    assert caps(sender, thread) == expected


def test_reply_cap_details_name_the_counts_and_window() -> None:
    decisions = check_reply_caps(
        replies_to_sender=3, replies_in_thread=7, sender_cap=3, thread_cap=7, window_hours=48
    )

    assert [d.detail for d in decisions] == [
        "3 automated replies to this sender in 48 h",
        "7 automated replies in this thread",
    ]
