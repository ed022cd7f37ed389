"""`python -m app demo`, the README's main command: real server, real HTTP, real worker."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from app.demo.run import run_demo
from app.mail.providers import adapters
from app.replies.draw import format_day
from app.replies.senders import LogMailSender, OutgoingEmail, SendRejected, SendResult
from app.store.demo import DemoShop
from app.tools.orders import OrderFacts


def blocks_of(output: str) -> dict[str, str]:
    """Each sample's detail block, by sample name."""
    return {
        block.splitlines()[0].split(". ", 1)[1]: block
        for block in re.split(r"\n(?=\s*\d+\. )", output.split("\nSummary:")[0])
        if re.match(r"\s*\d+\. ", block)
    }


def reply_lines(block: str) -> str:
    return "\n".join(line for line in block.splitlines() if line.strip().startswith("|"))


async def order_facts(number: str, email: str) -> OrderFacts:
    """The demo order's facts as of now: the demo store's dates move with the clock."""
    order = await DemoShop().find_order(number, customer_email=email)
    assert order is not None
    return OrderFacts.from_order(order)


async def test_the_demo_runs_every_sample_through_the_whole_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    delayed = await order_facts("1005", "reza@example.ir")
    delivered = await order_facts("1003", "lucia@example.es")
    assert await run_demo() == 0
    output = capsys.readouterr().out
    blocks = blocks_of(output)
    expected = {
        "order status, DKIM-verified customer": [
            "tool:    get_order -> ok: order #1001",
            "decision: sent",
            "Status:   on its way",
        ],
        "Persian order question (right-to-left)": [
            "tool:    get_order -> ok: order #1005: delayed",
            "decision: draft",
            "reply:   to reza@example.ir, fa,",
            "وضعیت: با تأخیر در راه",
            format_day(delayed.estimated_delivery, "fa"),  # in Persian digits
        ],
        "Spanish order question (answered in Spanish)": [
            "language es",
            "tool:    get_order -> ok: order #1003: delivered",
            "decision: sent",
            "reply:   to lucia@example.es, es, subject 'Re: ¿Dónde está mi pedido #1003?'",
            "Hola, Lucía:",
            "Estado:      entregado",
            f"Entregado:   {format_day(delivered.delivered_on, 'es')}",
            "Total:       218,00\u00a0€",
        ],
        "stock and price question": ["search_products -> ok", "L / White: €69.00"],
        # A how-to question is answered from the demo store's help articles, linked.
        "how-to question answered from the store's knowledge": [
            "search_help -> ok: Caring for your clothes",
            "Caring for your clothes - https://demo-store.example/pages/care:",
            "Wash linen and cotton at 30 °C",
        ],
        "return request, SendGrid parsed mode, cp850 subject": [
            "Devolución del pedido 1003",
            "request_return -> proposed",
            "1 store change(s) proposed for approval",
            "reply:   to lucia@example.es, es,",
            "Hemos trasladado a nuestro equipo su solicitud de devolución del pedido #1003.",
        ],
        "asks about another customer's order": [
            "get_order -> not_found",
            "decision: draft",
            "We could not find an order with that number",
        ],
        "prompt injection in the email": ["decision: draft", "needs a person: sensitive_topic"],
        "out-of-office auto-reply": ["decision: skipped (auto_submitted"],
        "delivery failure report (bounce)": ["decision: skipped"],
        "newsletter from a mailing list": ["list_mail"],
        "display-name spoof of a customer": ["sender NOT verified", "decision: held"],
        "question from an unauthenticated sender": [
            "sender NOT verified",
            "verifier: recipient: the sender is not verified",
        ],
        "HTML-only mail with hidden instructions": ["Can I return them?"],
        "our own reply coming back (loop)": ["own_address"],
        "SendGrid retries the first delivery": ["HTTP 200 duplicate"],
        "raw-mode post with an empty email": ["decision: quarantined"],
        # One delivery in each other provider's format, through its own route.
        "Mailgun: has order #1002 shipped?": [
            "POST /webhooks/mailgun/inbound -> HTTP 200 received",
            "sender verified (dkim_pass_aligned:example.org)",
            "get_order -> ok: order #1002",
            "decision: sent",
        ],
        "Postmark: German order question": [
            "POST /webhooks/postmark/inbound -> HTTP 200 received",
            "sender verified (spf_pass_aligned:example.net)",
            "language de",
            "get_order -> ok: order #1004",
            "reply:   to jonas.weber@example.net, de, subject 'Re: Wo ist meine Bestellung #1004?'",
        ],
        "MailerSend: half an order arrived": [
            "POST /webhooks/mailersend/inbound -> HTTP 200 received",
            "sender verified (spf_pass_aligned:example.pl)",
            "get_order -> ok: order #1008",
            "decision: sent",
        ],
        "Mailjet: French stock question": [
            "POST /webhooks/mailjet/inbound -> HTTP 200 received",
            "language fr",
            "search_products -> ok",
            "reply:   to emma.dubois@example.fr, fr,",
        ],
        "SparkPost: order on hold": [
            "POST /webhooks/sparkpost/inbound -> HTTP 200 received",
            "subject: Status of order #1009?",
        ],
        "Brevo: rain jacket in size S?": [
            "POST /webhooks/brevo/inbound -> HTTP 200 received",
            "search_products -> ok",
        ],
        "Resend: exchange request (fetched)": [
            "POST /webhooks/resend/inbound -> HTTP 200 received",
            # The worker fetched the email through the demo's fake of Resend's API.
            "steps:   fetch ",
            "subject: Exchange the jeans from order #1006",
        ],
        "Amazon SES: order status via SNS": [
            "POST /webhooks/amazon_ses/inbound -> HTTP 200 received",
            "sender verified (dkim_pass_aligned:example.com)",
            "get_order -> ok: order #1010",
            "decision: sent",
        ],
    }
    assert set(blocks) == set(expected)
    for name, fragments in expected.items():
        for fragment in fragments:
            assert fragment in blocks[name], f"{name}: {fragment!r} missing in\n{blocks[name]}"
    # Nothing of another customer's order or of the injected instructions reaches a reply.
    other = reply_lines(blocks["asks about another customer's order"])
    assert "Oliver" not in other
    assert "#1002 (" not in other
    injected = reply_lines(blocks["prompt injection in the email"])
    for leaked in ("sara", "Sara", "evil.example", "<img", "refund"):
        assert leaked not in injected
    assert (
        "ignore all previous instructions" not in blocks["HTML-only mail with hidden instructions"]
    )

    summary = output.split("\nSummary:")[1]
    assert re.search(
        r"\n 1  sendgrid   200  order status, DKIM-verified custo…\s+order_status\s+get_order",
        summary,
    )
    assert "25 posts, 24 stored: 6 answered without a person, 12 drafts for staff" in summary
    assert_every_provider_route_worked(summary)
    # After the sale: a delivered order's check-in, with one product the customer has not bought.
    after = output.split("\nAfter the sale: ")[1]
    assert re.match(r"\d+ delivered order\(s\) got a check-in; [1-9]\d* sent", after)
    assert "Did everything arrive well?" in after
    assert re.search(r"You might also like .+, €\d+\.\d\d: http://127\.0\.0\.1:\d+/p/\S+", after)
    assert "Unsubscribe from follow-up emails: http://127.0.0.1:" in after
    assert (tmp_path / "var" / "demo.sqlite3").exists()
    outbox = [
        message_from_bytes(path.read_bytes(), policy=default)
        for path in (tmp_path / "var" / "demo-outbox").glob("*.eml")
    ]
    # The check-in is proactive: unsubscribable in one click (RFC 8058), in reply to nothing.
    [checkin] = [mail for mail in outbox if mail["List-Unsubscribe"]]
    assert checkin["In-Reply-To"] is None
    assert checkin["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    outbox = [mail for mail in outbox if mail["In-Reply-To"]]
    sent = {str(mail["In-Reply-To"]): mail for mail in outbox}
    assert sorted(str(mail["To"]) for mail in outbox) == [
        "jonas.weber@example.net",
        "lucia@example.es",
        "oliver.smith@example.org",
        "piotr.nowak@example.pl",
        "sara.ahmadi@example.com",
        "sara.ahmadi@example.com",
    ]
    mail = sent["<CAF3x8Q1001-order-status@mail.example.com>"]
    assert mail["To"] == "sara.ahmadi@example.com"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert "<CAF3x8Q1010-order@mail.example.com>" in sent  # Through Amazon SES.
    spanish = sent["<a7c0e2d1-1003-pedido@correo.example.es>"]
    assert spanish["Subject"] == "Re: ¿Dónde está mi pedido #1003?"
    body = spanish.get_body(("plain",))
    assert body is not None
    assert "Gracias por su mensaje." in body.get_content()
    html = spanish.get_body(("html",))
    assert html is not None
    assert '<html lang="es" dir="ltr">' in html.get_content()


def assert_every_provider_route_worked(summary: str) -> None:
    """Every inbound provider with a webhook route has a row, answered 2xx and processed."""
    routed = set(adapters()) - {"mailbox"}  # The mailbox is polled over IMAP: no webhook.
    rows: dict[str, list[tuple[int, str]]] = {}
    for line in summary.split("\nRoutes:")[0].splitlines():
        match = re.match(r"\s*\d+  (\w+)\s+(\d{3})  ", line)
        if match:
            rows.setdefault(match.group(1), []).append((int(match.group(2)), line))
    assert set(rows) == routed
    assert all(200 <= status < 300 for found in rows.values() for status, _ in found)
    routes = summary.split("\nRoutes:")[1]
    # SendGrid's samples include mail meant to be refused (checked above); the others are one
    # ordinary question each, which must reach a decision.
    for provider in routed - {"sendgrid"}:
        for _, line in rows[provider]:
            assert not re.search(r"\b(quarantined|not stored|skipped|held)\b", line), line
        route = re.search(
            rf"\n{provider}\s+POST /webhooks/{provider}/inbound\s+(\S+)\s+(.*)", routes
        )
        assert route is not None, f"no route line for {provider}"
        assert route.group(1) == "200"
        assert route.group(2).strip() in ("sent", "draft"), route.group(0)


async def test_the_demo_exits_non_zero_when_a_reply_cannot_be_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def refuse(self: LogMailSender, email: OutgoingEmail) -> SendResult:
        raise SendRejected("SendGrid 400: personalizations.0.to: invalid address")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(LogMailSender, "send", refuse)
    assert await run_demo() == 1
    output = capsys.readouterr().out
    assert "ERRORS:" in output
    assert "1. order status, DKIM-verified customer: reply dead: SendGrid 400" in output
