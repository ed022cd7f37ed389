"""Rendering the staff pages: one Jinja2 environment, autoescaped, and the headers every page gets.

The stylesheet is inlined and allowed by its hash in the Content-Security-Policy; the one script
is a file of this service (`app.admin.assets`), so the page loads nothing from anywhere else and
no script an email contains can run on it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app.admin.action_words import words_for
from app.admin.filters import word_label
from app.replies.catalogs import direction as writing_direction

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = (TEMPLATES / "admin.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()

# Scripts only from this site's own files (`app.admin.assets`): no inline script, no CDN, so
# nothing an email contains can run. The workspace script posts heartbeats: connect-src 'self'.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self' data:; "
    "script-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show customers' mail and orders: never keep them in a shared or browser cache.
    "Cache-Control": "no-store",
}


def direction(language: str | None) -> str:
    """The `dir` attribute for text in `language`: rtl, ltr, or auto when it is not known.

    The direction is the language's own (from its Babel locale), catalog or not: an Arabic email
    reads right to left even though replies to it are English.
    """
    if not language:
        return "auto"
    return writing_direction(language)


# Unicode's explicit direction controls: embeddings and overrides (LRE, RLE, LRO, RLO) closed by
# PDF, and isolates (LRI, RLI, FSI) closed by PDI.
_OPEN_EMBEDDING = frozenset("\u202a\u202b\u202d\u202e")
_OPEN_ISOLATE = frozenset("\u2066\u2067\u2068")
_PDF = "\u202c"
_PDI = "\u2069"
_DIRECTION_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")


def balanced_bidi(text: str) -> str:
    """The text with its direction controls properly nested, and closed at the end.

    Closers that close nothing are dropped, and whatever is left open is closed. A stray PDI
    inside an isolate would otherwise close the isolate around it early (the bidi algorithm
    pairs it with the nearest open isolate), and let a right-to-left override in a file name
    reverse the text after it.
    """
    out: list[str] = []
    open_: list[str] = []
    for char in text:
        if char in _OPEN_EMBEDDING or char in _OPEN_ISOLATE:
            open_.append(char)
        elif char == _PDF:
            if not open_ or open_[-1] in _OPEN_ISOLATE:
                continue
            open_.pop()
        elif char == _PDI:
            if not any(c in _OPEN_ISOLATE for c in open_):
                continue
            # A PDI also ends the embeddings opened inside its isolate: close them by name.
            while open_[-1] not in _OPEN_ISOLATE:
                open_.pop()
                out.append(_PDF)
            open_.pop()
        out.append(char)
    out.extend(_PDI if c in _OPEN_ISOLATE else _PDF for c in reversed(open_))
    return "".join(out)


def bdi(value: object) -> Markup:
    """Untrusted text (a sender, a file name, a subject) isolated in `<bdi>`, escaped.

    Whatever direction controls it holds stay inside it, so the page around it reads as it was
    written: `invoice\u202efdp.exe` cannot pass for `invoiceexe.pdf` and reorder the words next
    to it.
    """
    text = "" if value is None else str(value)
    return Markup("<bdi>{}</bdi>").format(balanced_bidi(text))


def isolated(value: object) -> str:
    """Untrusted text isolated with FSI … PDI, for places that take no markup (the `<title>`)."""
    text = "" if value is None else str(value)
    return f"\u2068{balanced_bidi(text)}\u2069"


def when(value: str | datetime | None) -> str:
    """A timestamp as staff read it: `2026-11-22 09:10:07 UTC`."""
    if value is None or value == "":
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: str | datetime | None, now: datetime | None = None) -> str:
    """How long ago, as staff say it: `just now`, `12 min`, `3 h`, `2 d`."""
    if value is None or value == "":
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds // 60)} min"


def iso(value: str | datetime | None) -> str:
    """A timestamp for `<time datetime>` (the script shows it in the browser's time zone)."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def pretty(value: Any) -> str:
    """JSON for people: indented, non-ASCII kept (Persian stays readable).

    Direction controls alone are written as JSON escapes (backslash, u, four hex digits):
    quoted from an email into a trace, they would otherwise reorder the lines they stand on.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)
    return _DIRECTION_CONTROL.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def milliseconds(value: float | int | None) -> str:
    """A duration in ms with sensible precision."""
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    direction=direction,
    when=when,
    ago=ago,
    iso=iso,
    pretty=pretty,
    ms=milliseconds,
    label=word_label,
    bdi=bdi,
    isolated=isolated,
)
# Store actions in words (`app.admin.action_words`), for the email page and the actions page.
environment.globals["proposal_words"] = words_for
environment.globals["stylesheet"] = Markup(STYLESHEET)  # noqa: S704 - our own file, hashed in the CSP.


def render(
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page template into a response with the security headers."""
    body = environment.get_template(name).render(**context)
    return HTMLResponse(
        body, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )
