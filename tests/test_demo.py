"""`python -m app demo`, the README's main command: real server, real HTTP, real worker."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from app.demo.run import run_demo
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
        r"\n 1  order status, DKIM-verified customer\s+order_status\s+get_order", summary
    )
    assert "16 posts, 15 stored: 2 answered without a person, 7 drafts for staff" in summary
    assert (tmp_path / "var" / "demo.sqlite3").exists()
    sent = {
        str(mail["To"]): mail
        for mail in (
            message_from_bytes(path.read_bytes(), policy=default)
            for path in (tmp_path / "var" / "demo-outbox").glob("*.eml")
        )
    }
    assert set(sent) == {"sara.ahmadi@example.com", "lucia@example.es"}
    mail = sent["sara.ahmadi@example.com"]
    assert mail["In-Reply-To"] == "<CAF3x8Q1001-order-status@mail.example.com>"
    assert mail["Auto-Submitted"] == "auto-replied"
    spanish = sent["lucia@example.es"]
    assert spanish["Subject"] == "Re: ¿Dónde está mi pedido #1003?"
    body = spanish.get_body(("plain",))
    assert body is not None
    assert "Gracias por su mensaje." in body.get_content()
    html = spanish.get_body(("html",))
    assert html is not None
    assert '<html lang="es" dir="ltr">' in html.get_content()


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
