"""`python -m app demo`, the README's main command: real server, real HTTP, real worker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.demo.run import run_demo


async def test_the_demo_posts_every_sample_and_reports_each_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await run_demo() == 0
    output = capsys.readouterr().out
    blocks = {
        block.splitlines()[0].split(". ", 1)[1]: block
        for block in re.split(r"\n(?=\s*\d+\. )", output)
        if re.match(r"\s*\d+\. ", block)
    }
    expected = {
        "order status, DKIM-verified customer": "tool:    get_order -> ok: order #1001",
        "Persian order question (right-to-left)": "tool:    get_order -> ok: order #1005: delayed",
        "return request, SendGrid parsed mode, cp850 subject": "Devolución del pedido 1003",
        "out-of-office auto-reply": "outcome: skipped (auto_submitted",
        "delivery failure report (bounce)": "outcome: skipped",
        "newsletter from a mailing list": "list_mail",
        "display-name spoof of a customer": "sender NOT verified",
        "HTML-only mail with hidden instructions": "Can I return them?",
        "our own reply coming back (loop)": "own_address",
        "SendGrid retries the first delivery": "HTTP 200 duplicate",
        "raw-mode post with an empty email": "outcome: quarantined",
    }
    for name, fragment in expected.items():
        assert fragment in blocks[name], f"{name}: {blocks[name]}"
    assert (
        "ignore all previous instructions" not in blocks["HTML-only mail with hidden instructions"]
    )
    assert (
        "sender verified (dkim_pass_aligned:example.com)"
        in blocks["order status, DKIM-verified customer"]
    )
    assert "12 posts: 11 stored" in output
    assert (tmp_path / "var" / "demo.sqlite3").exists()
