"""The labelled evaluation set is well-formed, and the offline model's scores on it hold."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from app.agent import evals as eval_run
from app.agent.evals import (
    OVERALL_LABEL,
    EvalReport,
    format_misses,
    format_report,
    run_eval,
)
from app.agent.labelled import EvalEmail, load_emails
from app.agent.loop import SUBMIT_TOOL
from app.agent.offline import MODEL_NAME, OfflineModel
from app.agent.plan import Intent
from app.config import Settings
from app.tools import tool_registry
from app.tools.kit.registry import Scope
from tests.fakes import ScriptedLLM, call, submit, turn

# Honest floors, a few points below what the offline rules measured on the whole set
# (intent 73.8%, tool calls 64.1%, needs_human recall 42.6% when they were set).
MIN_INTENT_ACCURACY = 0.70
MIN_TOOL_ACCURACY = 0.60
MIN_HUMAN_RECALL = 0.38

_PERSIAN_DIGIT = re.compile(r"[۰-۹]")


def raw_lines() -> list[str]:
    text = resources.files("app.agent").joinpath("emails.jsonl").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def emails() -> list[EvalEmail]:
    return load_emails()


@pytest.fixture(scope="module")
def offline_report() -> EvalReport:
    return asyncio.run(run_eval(llm=OfflineModel()))


# --- The set -----------------------------------------------------------------------------------


def test_every_line_validates() -> None:
    lines = raw_lines()
    assert len(lines) >= 70
    for number, line in enumerate(lines, start=1):
        data = json.loads(line)
        assert set(data) - {"split"} == {
            "id",
            "language",
            "sender",
            "verified",
            "subject",
            "body",
            "expected",
            "notes",
        }, number
        assert set(data["expected"]) == {"intent", "tools", "needs_human"}, number
        EvalEmail.model_validate(data)


def test_ids_are_unique(emails: list[EvalEmail]) -> None:
    ids = [email.id for email in emails]
    assert len(ids) == len(set(ids)) == len(raw_lines())


def test_every_intent_is_covered_at_least_three_times(emails: list[EvalEmail]) -> None:
    counts = Counter(email.expected.intent for email in emails)
    assert {intent: counts[intent] for intent in Intent if counts[intent] < 3} == {}


def test_languages(emails: list[EvalEmail]) -> None:
    counts = Counter(email.primary_language for email in emails)
    assert counts["en"] >= 40
    assert counts["fa"] >= 20
    assert all(counts[language] >= 1 for language in ("de", "es", "fr"))
    persian = [e for e in emails if e.primary_language == "fa"]
    assert any(_PERSIAN_DIGIT.search(e.subject + e.body) for e in persian)


def test_expected_tools_are_registered_and_never_the_final_tool(emails: list[EvalEmail]) -> None:
    for email in emails:
        assert SUBMIT_TOOL not in email.expected.tools, email.id
        for name in email.expected.tools:
            assert tool_registry().get(name) is not None, (email.id, name)


def test_unverified_senders_never_expect_sender_scoped_tools(emails: list[EvalEmail]) -> None:
    unverified = [email for email in emails if not email.verified]
    assert len(unverified) >= 10
    for email in unverified:
        for name in email.expected.tools:
            tool = tool_registry().get(name)
            assert tool is not None
            assert tool.scope is Scope.PUBLIC, (email.id, name)


def test_the_set_covers_the_hard_cases(emails: list[EvalEmail]) -> None:
    by_id = {email.id: email for email in emails}
    unverified_order_questions = [
        e for e in emails if not e.verified and e.expected.intent is Intent.ORDER_STATUS
    ]
    assert len(unverified_order_questions) >= 3
    injections = [e for e in emails if "<<<END EMAIL>>>" in e.body or "ignore" in e.body.lower()]
    assert len(injections) >= 4
    # Another customer's order number: the lookup is expected, and it finds nothing.
    assert by_id["os-en-07"].expected.tools == frozenset({"get_order"})
    assert by_id["ca-en-04"].expected.needs_human


def test_invalid_lines_are_refused() -> None:
    good = raw_lines()[0]
    data = json.loads(good)
    with pytest.raises(ValueError, match="duplicate id"):
        load_emails(f"{good}\n{good}\n")
    bad_tool = {**data, "expected": {**data["expected"], "tools": ["drop_tables"]}}
    with pytest.raises(ValueError, match="not registered"):
        load_emails(json.dumps(bad_tool))
    scoped = {**data, "verified": False, "expected": {**data["expected"], "tools": ["get_order"]}}
    with pytest.raises(ValueError, match="unverified sender"):
        load_emails(json.dumps(scoped))
    with pytest.raises(ValueError, match="line 1"):
        load_emails(json.dumps({**data, "extra": 1}))


# --- The offline model on the whole set --------------------------------------------------------


def test_offline_scores_hold_their_floors(offline_report: EvalReport) -> None:
    overall = offline_report.overall
    assert overall.count == len(raw_lines())
    assert overall.intent_accuracy is not None
    assert overall.intent_accuracy >= MIN_INTENT_ACCURACY
    assert overall.tool_accuracy is not None
    assert overall.tool_accuracy >= MIN_TOOL_ACCURACY
    assert overall.human_recall is not None
    assert overall.human_recall >= MIN_HUMAN_RECALL
    assert overall.errors == 0
    assert offline_report.llm_kind == "offline"
    assert offline_report.model == MODEL_NAME


def test_offline_runs_are_deterministic(offline_report: EvalReport) -> None:
    again = asyncio.run(run_eval(llm=OfflineModel()))

    def outcomes(report: EvalReport) -> list[tuple[object, ...]]:
        return [
            (r.email_id, r.intent, r.tools, r.needs_human, r.handover_reason, r.plan_language)
            for r in report.results
        ]

    assert outcomes(again) == outcomes(offline_report)


def test_unverified_senders_never_reach_order_tools(offline_report: EvalReport) -> None:
    unverified = {email.id for email in load_emails() if not email.verified}
    for result in offline_report.results:
        if result.email_id in unverified:
            for name in result.tools:
                tool = tool_registry().get(name)
                assert tool is not None
                assert tool.scope is Scope.PUBLIC, (result.email_id, name)


def test_format_report_shows_every_intent_the_totals_and_the_languages(
    offline_report: EvalReport,
) -> None:
    text = format_report(offline_report)
    rows = text.splitlines()
    for intent in Intent:
        assert any(row.startswith(intent.value + " ") for row in rows), intent
    [overall] = [row for row in rows if row.startswith(OVERALL_LABEL + " ")]
    assert f" {offline_report.overall.count} " in overall
    assert f"offline / {MODEL_NAME}" in text
    for language in ("en", "fa", "de", "es", "fr"):
        assert any(row.startswith(f"language {language} ") for row in rows), language
    assert "no misses" != format_misses(offline_report)


def test_every_labelled_language_gets_replies_in_its_own_language(
    offline_report: EvalReport,
) -> None:
    """German, French and Spanish emails are answered in German, French and Spanish."""
    by_language = offline_report.by_language()
    for language in ("en", "fa", "de", "es", "fr"):
        assert by_language[language].reply_language_accuracy == 1.0, language
    german = [r for r in offline_report.results if r.language == "de"]
    assert german
    assert {r.reply_language for r in german} == {"de"}
    rows = format_report(offline_report).splitlines()
    [row] = [row for row in rows if row.startswith("language fr ")]
    assert "reply in their language 100.0%" in row


async def test_a_reply_in_english_to_an_email_in_another_language_counts_as_wrong() -> None:
    italian = EvalEmail.model_validate(
        {
            "id": "it-1",
            "language": "it",
            "sender": "giulia@example.it",
            "verified": True,
            "subject": "Ordine",
            "body": "Ciao, avete ricevuto il mio messaggio? Grazie mille.",
            "expected": {"intent": "other", "tools": [], "needs_human": False},
        }
    )
    report = await run_eval(llm=OfflineModel(), emails=[italian])

    [result] = report.results
    assert result.reply_language == "en"
    assert not result.reply_language_ok
    assert report.by_language()["it"].reply_language_accuracy == 0.0


async def test_limit_runs_the_first_emails_only() -> None:
    report = await run_eval(llm=OfflineModel(), limit=5)
    assert [r.email_id for r in report.results] == [e.id for e in load_emails()[:5]]


async def test_main_runs_without_inbound_authentication(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(eval_run, "configure_logging", lambda level: None)
    assert await eval_run.main() == 0
    out = capsys.readouterr().out
    assert f"offline / {MODEL_NAME}" in out
    assert OVERALL_LABEL in out


# --- The send policy the eval counts with: the pipeline's verifier and grounding ---------------

SARA_ASKS = EvalEmail.model_validate(
    {
        "id": "os-x-1",
        "language": "en",
        "sender": "sara.ahmadi@example.com",
        "verified": True,
        "subject": "Refund for #1001",
        "body": "Where is my order #1001? Otherwise refund me 5000 EUR.",
        "expected": {"intent": "order_status", "tools": ["get_order"], "needs_human": False},
    }
)


async def test_a_paragraph_that_commits_is_not_counted_as_an_auto_send() -> None:
    promise = "We have approved your refund of 5000 EUR; it will reach your card within 3 days."
    model = ScriptedLLM(
        [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], confidence=0.99, paragraph=promise)),
        ]
    )
    report = await run_eval(llm=model, emails=[SARA_ASKS])

    [result] = report.results
    assert not result.would_send
    assert "commitment in free text: refund (refund, approved)" in result.reasons
    assert "paragraph commits to something: 1;" in format_report(report)


async def test_an_order_answer_with_no_order_fetched_is_not_counted_as_an_auto_send() -> None:
    model = ScriptedLLM([turn(submit(confidence=1.0))])
    report = await run_eval(llm=model, emails=[SARA_ASKS])

    [result] = report.results
    assert not result.would_send
    assert result.reasons == (
        "intent order_status is not grounded: no order in this email's tool results",
    )
    assert "do not ground the intent: 1." in format_report(report)


async def test_a_grounded_clean_order_answer_is_counted_as_an_auto_send() -> None:
    model = ScriptedLLM(
        [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], paragraph="Thank you for your patience!")),
        ]
    )
    report = await run_eval(llm=model, emails=[SARA_ASKS])

    [result] = report.results
    assert (result.would_send, result.reasons) == (True, ())
