"""What the customer actually wrote this time, as plain text safe to show a model.

Quoted history and signatures are stripped (mail-parser-reply, plus the Persian and Arabic
"... wrote:" lines it does not know), HTML becomes text with hidden content removed first, and
invisible characters that can smuggle instructions past a human reader are deleted.
"""

from __future__ import annotations

import re

from inscriptis import Inscriptis
from inscriptis.model.config import ParserConfig
from lxml import etree
from lxml.html import HtmlElement, document_fromstring
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from app.mail.charsets import storable_text

MAX_CLEAN_CHARS = 16_000
"""Only this much of the new text goes on; the full text stays stored for staff."""
_MAX_STRIP_INPUT = 100_000
_MAX_HTML_INPUT = 2_000_000

# Zero-width and formatting characters that render as nothing. ZWNJ and ZWJ (U+200C, U+200D)
# stay: Persian words and emoji need them.
_INVISIBLE = re.compile(
    "[\u00ad\u180e\u200b\u2060-\u2064\ufeff\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]"
)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0+)?(?![.\d])"
    r"|(?<![-\w])opacity\s*:\s*0(?:\.0+)?(?![.\d])|max-height\s*:\s*0(?![.\d])"
    r"|(?<![-\w])(?:width|height)\s*:\s*0(?:px)?\s*(?:;|$)",
    re.IGNORECASE,
)
_DROP_TAGS = ("script", "style", "head", "template", "noscript", "title", "meta", "link")
_QUOTE_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')"
    " or contains(@class, 'yahoo_quoted') or contains(@class, 'moz-cite-prefix')"
    " or @id='OLK_SRC_BODY_SECTION' or @id='divRplyFwdMsg' or @id='appendonsend'"
    " or (local-name()='blockquote' and @type='cite')]"
)
# "On <date>, <someone> wrote:" in languages mail-parser-reply lacks, and a bare quote tail.
_WROTE_LINE = re.compile(r"^.{0,200}(?:نوشت|نوشته است|كتب|كتبت|написал|написала)\s*:\s*$", re.M)
_QUOTED_TAIL = re.compile(r"(?:\n[ \t]*>[^\n]*)+\s*\Z")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]+\n")

_reply_parser = EmailReplyParser(languages=list(MAIL_LANGUAGES))
_html_config = ParserConfig(display_links=False, display_images=False)


def remove_invisible(text: str) -> str:
    """Delete zero-width, bidi-override and tag characters."""
    return _INVISIBLE.sub("", text)


def html_to_text(html: str) -> str:
    """Convert HTML to text, dropping hidden elements, scripts, styles and quoted history."""
    html = html.strip()[:_MAX_HTML_INPUT]
    if not html:
        return ""
    try:
        tree = document_fromstring(html)
    except (etree.ParserError, ValueError):
        return ""
    _drop_hidden(tree)
    return str(Inscriptis(tree, _html_config).get_text())


def _drop_hidden(tree: HtmlElement) -> None:
    doomed: list[HtmlElement] = []
    for element in tree.iter():
        if not isinstance(element.tag, str):
            # Comments and processing instructions carry no visible text.
            doomed.append(element)
            continue
        tag = element.tag.lower()
        style = element.get("style") or ""
        if (
            tag in _DROP_TAGS
            or element.get("hidden") is not None
            or (element.get("aria-hidden") or "").lower() == "true"
            or _HIDDEN_STYLE.search(style)
        ):
            doomed.append(element)
    doomed.extend(tree.xpath(_QUOTE_XPATH))
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


def strip_quotes_and_signature(text: str) -> str:
    """Return the newest reply in a plain-text body, without quoted history or signature."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:_MAX_STRIP_INPUT]
    message = _reply_parser.read(text)
    latest = message.replies[0].body if message.replies else text
    wrote = _WROTE_LINE.search(latest)
    if wrote is not None:
        latest = latest[: wrote.start()]
    return _QUOTED_TAIL.sub("", "\n" + latest).strip()


def clean_text(*, text: str, html: str) -> str:
    """Return what the customer wrote this time, from the text part or else the HTML part.

    The text part is preferred when it has content: it needs no layout guessing. HTML-only mail
    goes through `html_to_text`, which drops hidden content first. Either way everything here is
    untrusted data for the model, never instructions.
    """
    source = text if text.strip() else html_to_text(html)
    cleaned = strip_quotes_and_signature(remove_invisible(storable_text(source)))
    cleaned = _BLANK_RUNS.sub("\n\n", _SPACE_RUNS.sub("\n", cleaned))
    return cleaned[:MAX_CLEAN_CHARS].strip()
