"""What the customer actually wrote this time, as plain text safe to show a model.

Quoted history is found line by line (`app.mail.quotes`): text written between or below quoted
lines is kept. The closing sign-off and disclaimers are found by mail-parser-reply. HTML becomes
text with hidden content removed first, its quotes turned into `>` lines, and invisible
characters that can smuggle instructions past a human reader are deleted.
"""

from __future__ import annotations

import re

from inscriptis import Inscriptis
from inscriptis.model.config import ParserConfig
from lxml import etree
from lxml.html import HtmlElement, HTMLParser, document_fromstring
from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

from app.mail.charsets import storable_text
from app.mail.quotes import new_text

MAX_CLEAN_CHARS = 16_000
"""Only this much of the new text goes on; the full text stays stored for staff."""
# Reply detection sees at most this much text, and no line longer than _MAX_PARSED_LINE:
# mail-parser-reply's patterns take time that grows with the cube of a line's length (about
# four minutes for one 100 kB line of "On On On ..."), and with the square of a run of blank
# lines. No quote header is that long, and the result is capped at MAX_CLEAN_CHARS anyway.
_MAX_STRIP_INPUT = 2 * MAX_CLEAN_CHARS
_MAX_PARSED_LINE = 200
_SIGN_OFF_WORDS = 5
_SIGN_OFF_LINES = 4
"""A sign-off above the quote ("Regards,\nSara Ahmadi") has no more lines than this."""
"""A sign-off line ("Best regards,", "Sent from my iPhone") has no more words than this."""
_SHELVED = re.compile("\ue000(\\d+)\ue001")
_SHELF_MARKS = re.compile("[\ue000\ue001]")
_MAX_HTML_INPUT = 2_000_000
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

# Zero-width and formatting characters that render as nothing, and variation selectors beyond
# the one a character may take (a run of them can carry hidden data). ZWNJ and ZWJ (U+200C,
# U+200D) stay: Persian words and emoji need them; so does a single U+FE0F after an emoji.
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f"
    "\U000e0100-\U000e01ef]|(?<=[\ufe00-\ufe0f])[\ufe00-\ufe0f]+"
)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|font-size\s*:\s*0(?:\.0+)?(?![.\d])"
    r"|(?<![-\w])opacity\s*:\s*0(?:\.0+)?(?![.\d])|max-height\s*:\s*0(?![.\d])"
    r"|(?<![-\w])(?:width|height)\s*:\s*0(?:px)?\s*(?:;|$)|mso-hide\s*:\s*all"
    r"|(?<![-\w])(?:left|top|text-indent)\s*:\s*-\d{3,}",
    re.IGNORECASE,
)
_DROP_TAGS = ("script", "style", "head", "template", "noscript", "title", "meta", "link")
# Attribution lines clients mark up, and Outlook's history: the quoted message follows its reply
# header as following siblings.
_HISTORY_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_attr ')"
    " or contains(@class, 'moz-cite-prefix')"
    " or @id='OLK_SRC_BODY_SECTION' or @id='divRplyFwdMsg' or @id='appendonsend']"
    " | //*[@id='appendonsend' or @id='divRplyFwdMsg']/following-sibling::*"
)
# Quoted blocks become one `>` line, so that text the customer wrote between them stays, and the
# attribution line before them is recognised as in plain text.
_QUOTE_XPATH = "//blockquote | //*[contains(@class, 'yahoo_quoted')]"
_QUOTE_LINE = ">"
_RULE_LINE = "_" * 32
"""An `<hr>` becomes Outlook's plain-text rule, a separator before a header block."""
_BLANK_RUNS = re.compile(r"\n{3,}")

# mail-parser-reply's sign-off and disclaimer patterns, in every language it knows; a customer
# writes "- the blue jacket" lists, which are not a "-Sara" signature.
_REPLY_PATTERNS = EmailMessage(text="", languages=list(MAIL_LANGUAGES), keep_hyphen_lists=True)
_SIGNATURE: re.Pattern[str] = _REPLY_PATTERNS.SIGNATURE_REGEX
_DISCLAIMERS: re.Pattern[str] = _REPLY_PATTERNS.DISCLAIMERS_REGEX
_RULE_ONLY = re.compile(r"^[\s>_=-]*$")
_NAME_LINE = re.compile(r"^[^\W\d_][\w.'’-]*(?: [^\W\d_][\w.'’-]*){0,3}$")
_CONTACT_LINE = re.compile(
    r"^\S+@\S+\.\w+$|^[+(]?\d[\d ()./-]{6,}\d$|^(?:https?://|www\.)\S+$", re.IGNORECASE
)
# "Sent from my Verizon Wireless BlackBerry" is a sign-off however many words it has; "Sent from
# my desk, is much easier" is not (mail-parser-reply allows no punctuation in the first).
_DEVICE_LINE = re.compile(
    r"^(?:sent|get|envoyé|gesendet|enviado|inviato|verzonden)\s[^,;!?]*$", re.I
)
_html_config = ParserConfig(display_links=False, display_images=False)
_utf8_html_parser = HTMLParser(encoding="utf-8")


def remove_invisible(text: str) -> str:
    """Delete zero-width, bidi-override and tag characters, and runs of variation selectors."""
    return _INVISIBLE.sub("", text)


def html_to_text(html: str) -> str:
    """Convert HTML to text, dropping hidden elements, scripts, styles and quoted history."""
    # Control characters are never text, and lxml refuses them when a tail is moved.
    html = _XML_UNSAFE.sub("", html.strip()[:_MAX_HTML_INPUT])
    if not html:
        return ""
    try:
        tree = _parse_html(html)
    except (etree.ParserError, ValueError):
        return ""
    _drop_hidden(tree)
    _mark_quotes(tree)
    return str(Inscriptis(tree, _html_config).get_text())


def _parse_html(html: str) -> HtmlElement:
    try:
        return document_fromstring(html)
    except ValueError:
        # lxml refuses a str that declares an encoding (`<?xml version="1.0" encoding="..."?>`,
        # as Outlook.com and XHTML mailers write). The text is already decoded: parse its UTF-8.
        return document_fromstring(html.encode("utf-8", "replace"), parser=_utf8_html_parser)


def _drop_hidden(tree: HtmlElement) -> None:
    doomed: list[HtmlElement] = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            # Comments and processing instructions carry no visible text.
            doomed.append(element)
            continue
        tag = element.tag.lower()
        style = _without_css_comments(element.get("style") or "")
        if (
            tag in _DROP_TAGS
            or element.get("hidden") is not None
            or (element.get("aria-hidden") or "").lower() == "true"
            or _HIDDEN_STYLE.search(style)
        ):
            doomed.append(element)
    doomed.extend(tree.xpath(_HISTORY_XPATH))
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            # Keep the tail: it is text that follows the hidden element, and is visible.
            tail = element.tail
            previous = element.getprevious()
            if tail:
                if previous is not None:
                    previous.tail = (previous.tail or "") + tail
                else:
                    parent.text = (parent.text or "") + tail
            parent.remove(element)


def _mark_quotes(tree: HtmlElement) -> None:
    """Replace each quoted block by a `>` line and each `<hr>` by a rule line."""
    for element in [*tree.xpath(_QUOTE_XPATH), *tree.iter("hr")]:
        # Changed in place: the text after the element (its tail) stays where it is, and may
        # hold control characters lxml would refuse to copy.
        marker = _RULE_LINE if element.tag == "hr" else _QUOTE_LINE
        for child in list(element):
            element.remove(child)
        element.attrib.clear()
        element.tag = "div"
        element.text = marker


def _without_css_comments(style: str) -> str:
    """Drop `/* ... */` from a style attribute, in linear time: `display:/**/none` hides too."""
    kept: list[str] = []
    position = 0
    while (start := style.find("/*", position)) >= 0:
        kept.append(style[position:start])
        end = style.find("*/", start + 2)
        if end < 0:
            return "".join(kept)
        position = end + 2
    kept.append(style[position:])
    return "".join(kept)


def strip_quotes_and_signature(text: str) -> str:
    """Return what the customer wrote this time in a plain-text body.

    Quoted history goes (`app.mail.quotes`), every line written between or below quotes stays;
    then the closing signature goes from the last run of new text, and disclaimers from all.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:_MAX_STRIP_INPUT]
    lines: list[str] = []
    for line in _SHELF_MARKS.sub("", text).split("\n"):
        line = line.strip()
        if not line and lines and not lines[-1]:
            continue  # one blank line is as good as many, and many are slow to parse
        lines.append(line)
    runs = ["\n".join(run).strip() for run in new_text(lines)]
    # A sign-off closes the last run; one that closes an earlier run (above the quote, in a
    # top-posted reply) must end that run and be short, or it is an inline answer.
    runs = [
        _without_signature(run, max_lines=None if last else _SIGN_OFF_LINES)
        for last, run in ((number == len(runs) - 1, run) for number, run in enumerate(runs))
    ]
    if runs:
        runs[-1] = _without_contact_block(runs[-1])
    return "\n\n".join(kept for run in runs if (kept := _without_disclaimers(run)))


def _without_contact_block(run: str) -> str:
    """Drop a closing name-and-contact block ("Gina Smith / gina@example.com / (555) 346-9947").

    Only a last paragraph of a few short lines that starts with a name and holds an address, a
    phone number or a web address is dropped; a sentence never is.
    """
    body, blank, block = run.rpartition("\n\n")
    lines = block.split("\n")
    if (
        not blank
        or not body.strip()
        or not 2 <= len(lines) <= _SIGN_OFF_LINES + 2
        or not _NAME_LINE.match(lines[0])
        or any(len(line.split()) > _SIGN_OFF_WORDS for line in lines)
        or not any(_CONTACT_LINE.search(line) for line in lines[1:])
    ):
        return run
    return body.rstrip()


def _shelved(text: str, shelf: list[str]) -> str:
    """Set lines too long for the sign-off patterns aside, as numbered placeholders."""
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) > _MAX_PARSED_LINE:
            lines.append(f"\ue000{len(shelf)}\ue001")
            shelf.append(line)
        else:
            lines.append(line)
    return "\n".join(lines)


def _without_signature(run: str, *, max_lines: int | None) -> str:
    """Cut the closing signature, unless what looks like one reads as part of the message."""
    shelf: list[str] = []
    shelved = _shelved(run, shelf)
    position = 0
    while (found := _SIGNATURE.search(shelved, position)) is not None:
        start = found.start() + len(found.group()) - len(found.group().lstrip())
        signature = shelved[start:]
        short = max_lines is None or len(_lines(signature)) <= max_lines
        if short and not _is_content(signature):
            shelved = shelved[: found.start()]
            break
        position = shelved.find("\n", start) + 1
        if position == 0:
            break
    return _SHELVED.sub(lambda match: _unshelve(shelf, match), shelved).strip()


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def _without_disclaimers(run: str) -> str:
    shelf: list[str] = []
    shelved = _DISCLAIMERS.sub("", _shelved(run, shelf))
    return _SHELVED.sub(lambda match: _unshelve(shelf, match), shelved).strip()


def _is_content(signature: str) -> bool:
    """Whether what the reply parser took for a signature reads as part of the message."""
    # A rule or "--" introduces the signature; its first line of words decides.
    words = [line for line in _lines(signature) if not _RULE_ONLY.match(line)]
    first_line = words[0] if words else ""
    if _DEVICE_LINE.match(first_line):
        return False
    return len(first_line.split()) > _SIGN_OFF_WORDS or "?" in signature


def _unshelve(shelf: list[str], found: re.Match[str]) -> str:
    index = int(found.group(1))
    return shelf[index] if index < len(shelf) else ""


def clean_text(*, text: str, html: str) -> str:
    """Return what the customer wrote this time, from the text part or else the HTML part.

    The text part is preferred when it has content: it needs no layout guessing. HTML-only mail
    goes through `html_to_text`, which drops hidden content first. Either way everything here is
    untrusted data for the model, never instructions.
    """
    source = text if text.strip() else html_to_text(html)
    cleaned = strip_quotes_and_signature(remove_invisible(storable_text(source)))
    # Lines come back stripped; removing a disclaimer can leave a run of blank lines.
    cleaned = _BLANK_RUNS.sub("\n\n", cleaned)
    return cleaned[:MAX_CLEAN_CHARS].strip()
