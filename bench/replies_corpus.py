"""Replay public reply-parsing samples against `clean_text` and score what their suites assert.

The samples (talon, email_reply_parser, mail-parser-reply) live outside the project, with a
`manifest.json` restating each origin's assertions; nothing of them is copied here. Run:

    python -m bench.replies_corpus [CORPUS_DIR]

(default `../shared/corpus/inbound/replies`, or `REPLIES_CORPUS`). Two figures come out:

- **must contain**: text the customer wrote that has to survive (`visible_must_contain`,
  `latest_body_must_contain`, every unquoted line of an interleaved reply, the whole body of a
  one-fragment message, the body above an expected signature). Our rule is that all of it is kept.
- **the rest**: what should be hidden or equal (`visible_equals`, `*_must_not_contain`,
  `hidden_must_contain`, `visible_starts_with`, the expected signature hidden, the time limit).
  Equality allows a dropped trailing sign-off ("Thanks,\\nAlex", "-- \\nxxx", "Sent with ..."):
  we strip short sign-offs that talon's quotation tests keep.

Assertions about a parser's own structure (how many replies or fragments it found) do not
translate to one cleaned text and are listed as not scored.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.mail.cleantext import clean_text
from app.mail.mime import parse_mime

DEFAULT_CORPUS = Path("../shared/corpus/inbound/replies")
_SIGN_OFF_LINES = 4
_SIGN_OFF_WORDS = 8
_WHITESPACE = re.compile(r"\s+")


@dataclass
class Check:
    """One assertion replayed on one sample."""

    case: str
    kind: str
    passed: bool
    detail: str = ""


@dataclass
class Score:
    must_contain: list[Check] = field(default_factory=list)
    rest: list[Check] = field(default_factory=list)
    not_scored: list[str] = field(default_factory=list)


def cleaned_sample(path: Path) -> str:
    """What `clean_text` makes of one sample, read the way the service reads it."""
    data = path.read_bytes()
    if path.suffix == ".eml":
        parsed = parse_mime(data)
        return clean_text(text=parsed.text, html=parsed.html)
    if path.suffix == ".html":
        return clean_text(text="", html=data.decode("utf-8", "replace"))
    return clean_text(text=data.decode("utf-8", "replace"), html="")


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.strip().splitlines() if line.strip()]


def equal_but_sign_off(got: str, expected: str, *, squeeze: bool = False) -> bool:
    """Whether `got` is `expected`, or `expected` less a short trailing sign-off."""
    got_lines, expected_lines = _lines(got), _lines(expected)
    if squeeze:
        got_lines = [_WHITESPACE.sub("", "".join(got_lines))] if got_lines else []
        joined = [_WHITESPACE.sub("", line) for line in expected_lines]
        for cut in range(len(joined), -1, -1):
            dropped = expected_lines[cut:]
            if "".join(joined[:cut]) == (got_lines[0] if got_lines else "") and _sign_off(dropped):
                return True
        return False
    for cut in range(len(expected_lines), -1, -1):
        if got_lines == expected_lines[:cut] and _sign_off(expected_lines[cut:]):
            return got_lines != [] or expected_lines == []
    return False


def _sign_off(lines: list[str]) -> bool:
    return len(lines) <= _SIGN_OFF_LINES and all(
        len(line.split()) <= _SIGN_OFF_WORDS for line in lines
    )


def _new_lines_of_interleaved(body: str) -> list[str]:
    """Unquoted lines of an inline reply: not the attribution, not the `--` signature."""
    kept: list[str] = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped in {"--", "-- "}:
            break
        if stripped and not stripped.startswith(">") and not stripped.endswith("wrote:"):
            kept.append(stripped)
    return kept


def score(corpus: Path) -> Score:
    manifest = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    result = Score()
    for case in manifest["cases"]:
        _score_case(corpus, case, result)
    return result


@dataclass
class _Sample:
    """One sample's cleaned text and where its checks go."""

    name: str
    path: Path
    visible: str
    seconds: float
    result: Score
    scored: bool = False

    def contains(self, needle: str) -> bool:
        return needle in self.visible or " ".join(needle.split()) in " ".join(self.visible.split())

    def must(self, kind: str, passed: bool, detail: str = "") -> None:
        self.result.must_contain.append(Check(self.name, kind, passed, detail))
        self.scored = True

    def rest(self, kind: str, passed: bool, detail: str = "") -> None:
        self.result.rest.append(Check(self.name, kind, passed, detail))
        self.scored = True


def _score_case(corpus: Path, case: dict[str, Any], result: Score) -> None:
    name: str = case["file"]
    expected: dict[str, Any] = case.get("expected", {})
    path = corpus / name
    started = time.perf_counter()
    try:
        visible = cleaned_sample(path)
    except Exception as error:
        result.rest.append(Check(name, "raises", False, repr(error)))
        return
    sample = _Sample(name, path, visible, time.perf_counter() - started, result)
    _kept_checks(sample, expected)
    _structure_checks(sample, corpus, expected)
    _value_checks(sample, expected)
    if not sample.scored:
        result.not_scored.append(name)


def _kept_checks(sample: _Sample, expected: dict[str, Any]) -> None:
    for key in ("visible_must_contain", "latest_body_must_contain"):
        for needle in expected.get(key, []):
            sample.must(key, sample.contains(needle), needle)
    for key in (
        "visible_must_not_contain",
        "latest_body_must_not_contain",
        "stripped_must_not_contain",
        "latest_signature_must_contain",
    ):
        for needle in expected.get(key, []):
            sample.rest(key, not sample.contains(needle), needle)
    # The hidden part holds the needle: it occurs fewer times in what is shown than in the body.
    for needle in expected.get("hidden_must_contain", []):
        body = sample.path.read_text(encoding="utf-8")
        hidden = sample.visible.count(needle) < body.count(needle)
        sample.rest("hidden_must_contain", hidden, needle)


def _structure_checks(sample: _Sample, corpus: Path, expected: dict[str, Any]) -> None:
    body = sample.path.read_text(encoding="utf-8")
    if "quoted_pattern" in expected:
        for line in _new_lines_of_interleaved(body):
            sample.must("inline_reply_line_kept", sample.contains(line), line)
    elif expected.get("fragments") == 1:
        for line in _lines(body):
            sample.must("single_fragment_kept", sample.contains(line), line)
    elif "fragments" in expected:
        top = body.split("\n\n")[0].strip()
        sample.must("top_fragment_kept", sample.contains(top), top)
        quoted = any(line.startswith(">") for line in _lines(sample.visible))
        sample.rest("no_quoted_line_visible", not quoted)
    if "signature_file" in expected:
        signature = (corpus / expected["signature_file"]).read_text(encoding="utf-8").strip()
        above = body[: body.rfind(signature)] if signature else body
        for line in _lines(above):
            sample.must("body_above_signature_kept", sample.contains(line), line)
        if signature:
            hidden = signature.splitlines()[0] not in sample.visible
            sample.rest("signature_hidden", hidden, signature)


def _value_checks(sample: _Sample, expected: dict[str, Any]) -> None:
    visible = sample.visible
    checks: dict[str, Callable[[Any], tuple[bool, str]]] = {
        "visible_reply_text_plain_part": lambda want: (equal_but_sign_off(visible, want), want),
        "visible_reply_text_whitespace_insensitive": lambda want: (
            equal_but_sign_off(visible, want, squeeze=True),
            want,
        ),
        "visible_equals": lambda want: (equal_but_sign_off(visible, want), want),
        "visible_starts_with": lambda want: (visible.startswith(want), want),
        "stripped_is_non_empty": lambda want: (bool(visible) == want, ""),
        "max_parse_seconds": lambda want: (sample.seconds <= want, f"{sample.seconds:.3f}s"),
        "latest_signature_starts_with": lambda want: (want not in visible, want),
    }
    for key, check in checks.items():
        if key in expected:
            passed, detail = check(expected[key])
            sample.rest(key, passed, detail)


def _rate(checks: list[Check]) -> str:
    passed = sum(check.passed for check in checks)
    share = 100 * passed / len(checks) if checks else 100.0
    return f"{passed}/{len(checks)} ({share:.1f}%)"


def main(argv: list[str]) -> int:
    corpus = Path(argv[0] if argv else os.environ.get("REPLIES_CORPUS", DEFAULT_CORPUS))
    result = score(corpus)
    for check in result.must_contain + result.rest:
        if not check.passed:
            print(f"FAIL {check.case} [{check.kind}] {check.detail[:80]!r}")
    print(f"must contain kept: {_rate(result.must_contain)}")
    print(f"the rest:          {_rate(result.rest)}")
    print(f"not scored (no assertion that maps to one cleaned text): {len(result.not_scored)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
