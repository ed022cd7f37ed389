"""How a reader (or a browser) reads the numbers and links in a reply, for the verifier.

The verifier must never pass a number or a link its evidence lacks, however the reply writes it:
grouped or not, in any script's digits, between bidi controls, in full-width forms; a link with
backslashes, user info or percent-encoding goes where a browser would take it, not where
`urllib.parse` says.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from urllib.parse import urlsplit

import ada_url
import idna

# Replies write digits and decimal marks the locale's way, and isolate left-to-right runs with
# bidi controls (a Persian amount is "€ ۷۳٫۹۰" between LRI and PDI): every check reads them as
# ASCII digits and points, with the controls removed.
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_TO_ASCII = str.maketrans("٫٬", ".,", _BIDI_CONTROLS)
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")

# A number as written: digit groups joined by one mark each. A space joins only a group of
# exactly three digits ("1 234,50"), or "in 2 days" would read as one number.
NUMBER = r"\d+(?:(?:[.,'’]|[ \u00a0\u2009\u202f](?=\d{3}(?!\d)))\d+)*"
_NUMBER = re.compile(NUMBER)
_MARK = re.compile(r"[.,'’ \u00a0\u2009\u202f]")
_SPACES = " \u00a0\u2009\u202f"
_NOT_SPACE = re.compile(r"\S+")

_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def plain(text: str) -> str:
    """The text as the checks read it: NFKC-folded, ASCII digits and marks, no bidi controls.

    NFKC folds full-width digits and marks; every script's digits become ASCII. Spaces are
    left alone, so a problem quotes "USD\u00a012.50" as the reply wrote it.
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = _NOT_SPACE.sub(lambda run: unicodedata.normalize("NFKC", run.group()), text)
    folded = text.translate(_TO_ASCII)
    return _OTHER_DIGIT.sub(lambda digit: str(unicodedata.digit(digit.group())), folded)


def number_readings(written: str) -> set[Decimal]:
    """Every value a reader may take a number written like `written` (ASCII digits) to mean.

    "1,234" is 1234 to an English reader and 1.234 to a German one, so it has two readings;
    "1.234,50" and "1,234.50" have one. Marks that make no grouped number ("21.11.2026", "1,2,3")
    separate numbers: each group is then read on its own.
    """
    groups = _MARK.split(written)
    marks = _MARK.findall(written)
    if not marks:
        return {Decimal(written)}
    separate = {Decimal(group) for group in groups}
    # All spaces are one mark: "1 234 567" may mix no-break and narrow no-break spaces.
    marks = [" " if mark in _SPACES else mark for mark in marks]
    last = marks[-1]
    if len(set(marks)) == 1:
        if last in "'’ ":
            return {Decimal("".join(groups))} if _grouped(groups) else separate
        if len(marks) == 1:
            point = Decimal(f"{groups[0]}.{groups[1]}")
            return {point, Decimal("".join(groups))} if _grouped(groups) else {point}
        return {Decimal("".join(groups))} if _grouped(groups) else separate
    # Mixed marks: the last is the decimal mark when it is a point or comma used only there.
    integral = marks[:-1]
    if last in ".," and last not in integral and len(set(integral)) == 1 and _grouped(groups[:-1]):
        return {Decimal(f"{''.join(groups[:-1])}.{groups[-1]}")}
    return separate


def _grouped(groups: list[str]) -> bool:
    """Whether digit groups form a grouped integer: 1,234,567 (threes) or 12,34,567 (Indian)."""
    first, *rest = groups
    if not rest or not 1 <= len(first) <= 3 or first.startswith("0"):
        return False
    if all(len(group) == 3 for group in rest):
        return True
    return len(first) <= 2 and len(rest[-1]) == 3 and all(len(g) == 2 for g in rest[:-1])


def numbers_stated(text: str) -> list[tuple[str, set[Decimal]]]:
    """Each number written in (plain) `text`, with every value a reader may take it for."""
    return [(match.group(), number_readings(match.group())) for match in _NUMBER.finditer(text)]


def numbers_backing(text: str) -> set[Decimal]:
    """Every value the numbers in (plain) evidence text may mean, read generously.

    That is each reading of each number, and each group of one split by spaces alone (a
    customer's "2 100" may be two numbers; "73.90" never backs 90).
    """
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        found |= number_readings(match.group())
        if any(space in match.group() for space in _SPACES):
            found.update(Decimal(group) for group in _MARK.split(match.group()))
    return found


def link_hosts(url: str) -> set[str | None]:
    r"""The host of a link as `urllib.parse` and as a browser read it (None: no host).

    A link is only as safe as the worse reading: "https://evil.example\@shop.example" is
    shop.example to urllib but evil.example to a browser.
    """
    return {_split_host(url), browser_host(url)}


def _split_host(url: str) -> str | None:
    candidate = url if "://" in url else f"https://{url}"
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return _comparable(host) if host else None


def browser_host(url: str) -> str | None:
    """The host a browser goes to for an http(s) link, by the WHATWG URL standard's rules.

    Parsed by ada (the URL parser Node.js uses): backslashes, extra slashes, user info and
    percent-encoding go where a browser takes them. A link without a scheme
    ("www.shop.example") is taken as https. Other schemes, and what no browser would open,
    have no host here.
    """
    candidate = url.strip(_C0_AND_SPACE)
    if _SCHEME.match(candidate) is None:
        candidate = f"https://{candidate}"
    try:
        parsed = ada_url.URL(candidate)
    except ValueError:
        return None
    if parsed.protocol not in ("http:", "https:") or not parsed.hostname:
        return None
    host = parsed.hostname
    try:
        # ada gives internationalised hosts in their ASCII form; urllib's reading keeps
        # Unicode, so compare both as Unicode.
        host = idna.decode(host)
    except idna.IDNAError:
        pass
    return _comparable(host) or None


def _comparable(host: str) -> str:
    """A host as a browser compares it: NFKC-folded, lower case, no trailing root dot."""
    folded = unicodedata.normalize("NFKC", host).replace("\u3002", ".").casefold()
    return folded[:-1] if folded.endswith(".") else folded
