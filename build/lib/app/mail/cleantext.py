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
from lxml.html import HtmlElement, HTMLParser, document_fromstring
from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

from app.mail.charsets import storable_text

MAX_CLEAN_CHARS = 16_000
"""Only this much of the new text goes on; the full text stays stored for staff."""
# Reply detection sees at most this much text, and no line longer than _MAX_PARSED_LINE:
# mail-parser-reply's patterns take time that grows with the cube of a line's length (about
# four minutes for one 100 kB line of "On On On ..."), and with the square of a run of blank
# lines. No quote header is that long, and the result is capped at MAX_CLEAN_CHARS anyway.
_MAX_STRIP_INPUT = 2 * MAX_CLEAN_CHARS
_MAX_PARSED_LINE = 200
_SIGN_OFF_WORDS = 5
"""A sign-off line ("Best regards,", "Sent from my iPhone") has no more words than this."""
_SHELVED = re.compile("\ue000(\\d+)\ue001")
_SHELF_MARKS = re.compile("[\ue000\ue001]")
_MAX_HTML_INPUT = 2_000_000

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
_QUOTE_XPATH = (
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')"
    " or contains(@class, 'yahoo_quoted') or contains(@class, 'moz-cite-prefix')"
    " or @id='OLK_SRC_BODY_SECTION' or @id='divRplyFwdMsg' or @id='appendonsend'"
    " or (local-name()='blockquote' and translate(@type, 'CITE', 'cite')='cite')]"
    # Outlook puts the quoted message after its reply header, as following siblings.
    " | //*[@id='appendonsend' or @id='divRplyFwdMsg']/following-sibling::*"
)
# "On <date>, <someone> wrote:" in languages mail-parser-reply lacks.
_WROTE_LINE = re.compile(r"^.{0,200}(?:نوشت|نوشته است|كتب|كتبت|написал|написала)\s*:\s*$", re.M)
_BLANK_RUNS = re.compile(r"\n{3,}")

_REPLY_LANGUAGES = tuple(MAIL_LANGUAGES)
_html_config = ParserConfig(display_links=False, display_images=False)
_utf8_html_parser = HTMLParser(encoding="utf-8")


def remove_invisible(text: str) -> str:
    """Delete zero-width, bidi-override and tag characters, and runs of variation selectors."""
    return _INVISIBLE.sub("", text)


def html_to_text(html: str) -> str:
    """Convert HTML to text, dropping hidden elements, scripts, styles and quoted history."""
    html = html.strip()[:_MAX_HTML_INPUT]
    if not html:
        return ""
    try:
        tree = _parse_html(html)
    except (etree.ParserError, ValueError):
        return ""
    _drop_hidden(tree)
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
    """Return the newest reply in a plain-text body, without quoted history or signature."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:_MAX_STRIP_INPUT]
    shelf: list[str] = []
    lines: list[str] = []
    for line in _SHELF_MARKS.sub("", text).split("\n"):
        line = line.strip()
        if not line and lines and not lines[-1]:
            continue  # one blank line is as good as many, and many are slow to parse
        if len(line) > _MAX_PARSED_LINE:
            lines.append(f"\ue000{len(shelf)}\ue001")
            shelf.append(line)
        else:
            lines.append(line)
    shelved = "\n".join(lines)
    # keep_hyphen_lists: a customer's "- the blue jacket" list is not a "-Sara" signature.
    message = EmailMessage(
        text=shelved, languages=list(_REPLY_LANGUAGES), keep_hyphen_lists=True
    ).read()
    reply = message.replies[0] if message.replies else None
    latest = shelved if reply is None else reply.body
    if reply is not None and _is_content(reply.signatures or ""):
        # "Thanks, and please also change the size to M" starts with a closing word but is
        # part of the request; a real sign-off is a few words of name and address.
        latest = reply.full_body
    wrote = _WROTE_LINE.search(latest)
    if wrote is not None:
        latest = latest[: wrote.start()]
    latest = _SHELVED.sub(lambda found: _unshelve(shelf, found), latest)
    return _without_quoted_tail(latest).strip()


def _is_content(signature: str) -> bool:
    """Whether what the reply parser took for a signature reads as part of the message."""
    first_line = signature.strip().split("\n", 1)[0]
    return len(first_line.split()) > _SIGN_OFF_WORDS or "?" in signature


def _unshelve(shelf: list[str], found: re.Match[str]) -> str:
    index = int(found.group(1))
    return shelf[index] if index < len(shelf) else ""


def _without_quoted_tail(text: str) -> str:
    """Drop trailing `>` lines (blank lines between them too), line by line in linear time."""
    lines = text.split("\n")
    end = len(lines)
    quoted = False
    while end and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        quoted = quoted or bool(lines[end - 1].strip())
        end -= 1
    return "\n".join(lines[:end]) if quoted else text


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
