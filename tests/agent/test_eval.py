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
    HELDOUT_LABEL,
    OVERALL_LABEL,
    EmailResult,
    EvalReport,
    format_misses,
    format_report,
    run_eval,
)
from app.agent.labelled import HELDOUT, EvalEmail, ExpectedOutcome, load_emails
from app.agent.loop import SUBMIT_TOOL
from app.agent.offline import MODEL_NAME, OfflineModel
from app.agent.plan import Intent
from app.config import Settings
from app.tools import tool_registry
from app.tools.kit.registry import Scope
from tests.fakes import ScriptedLLM, call, submit, turn

# The floors issue 17 sets for the offline rules on the whole set (they measured intent 98.7%,
# tool calls 90.0%, needs_human recall 98.6% on 150 emails when these were raised; the held-out
# split measured intent 100%). The rules have no randomness, so a drop below is a regression.
MIN_INTENT_ACCURACY = 0.85
MIN_TOOL_ACCURACY = 0.80
MIN_HUMAN_RECALL = 0.60
MIN_HUMAN_PRECISION = 0.80
MIN_HELDOUT_INTENT_ACCURACY = 0.80

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


def test_a_third_of_the_new_emails_are_held_out(emails: list[EvalEmail]) -> None:
    """The 47 emails added for issue 17 (after the first 103): about a third held out, in
    several catalog languages, and none of the original emails."""
    new = emails[103:]
    assert len(new) >= 40
    heldout = [e for e in new if e.split == HELDOUT]
    assert 0.25 <= len(heldout) / len(new) <= 0.4
    assert all(e.split == "dev" for e in emails[:103])
    assert {e.primary_language for e in heldout} == {"en", "fa", "de", "es", "fr"}
    assert all(e.split in ("dev", HELDOUT) for e in emails)


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
    assert all(counts[language] >= 10 for language in ("de", "es", "fr"))
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
    assert overall.human_precision is not None
    assert overall.human_precision >= MIN_HUMAN_PRECISION
    heldout = offline_report.heldout
    assert heldout.count >= 15
    assert heldout.intent_accuracy is not None
    assert heldout.intent_accuracy >= MIN_HELDOUT_INTENT_ACCURACY
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


def _result(email_id: str, *, split: str, right: bool) -> EmailResult:
    expected = ExpectedOutcome(intent=Intent.REFUND, tools=frozenset(), needs_human=True)
    return EmailResult(
        email_id=email_id,
        language="en",
        expected=expected,
        intent=Intent.REFUND if right else Intent.OTHER,
        tools=frozenset(),
        needs_human=right,
        handover_reason=None,
        plan_language="en",
        input_tokens=0,
        output_tokens=0,
        latency_s=0.0,
        split=split,
    )


def test_the_heldout_split_is_scored_and_reported_on_its_own() -> None:
    report = EvalReport(
        llm_kind="offline",
        model=MODEL_NAME,
        results=(
            _result("a", split="dev", right=True),
            _result("b", split="dev", right=True),
            _result("c", split="dev", right=True),
            _result("d", split=HELDOUT, right=True),
            _result("e", split=HELDOUT, right=False),
        ),
    )
    assert report.overall.intent_accuracy == 0.8
    heldout = report.heldout
    assert (heldout.count, heldout.intent_accuracy, heldout.human_recall) == (2, 0.5, 0.5)
    [row] = [r for r in format_report(report).splitlines() if r.startswith(HELDOUT_LABEL + " ")]
    assert row.split()[1:3] == ["2", "50.0%"]


def test_a_report_with_no_heldout_emails_shows_dashes() -> None:
    report = EvalReport(
        llm_kind="offline", model=MODEL_NAME, results=(_result("a", split="dev", right=True),)
    )
    assert report.heldout.count == 0
    [row] = [r for r in format_report(report).splitlines() if r.startswith(HELDOUT_LABEL + " ")]
    assert row.split()[1:3] == ["0", "-"]


async def test_each_result_carries_its_emails_split(emails: list[EvalEmail]) -> None:
    heldout = next(e for e in emails if e.split == HELDOUT)
    report = await run_eval(llm=OfflineModel(), emails=[heldout, emails[0]])
    assert [r.split for r in report.results] == [HELDOUT, "dev"]
    assert report.heldout.count == 1


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
