"""Rendering the staff pages: one Jinja2 environment, autoescaped, and the headers every page gets.

The stylesheet is inlined and allowed by its hash in the Content-Security-Policy, so the page
loads nothing from anywhere and no script can run on it, whatever an email contains.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from app.admin.filters import word_label
from app.replies.catalogs import direction as writing_direction

TEMPLATES = Path(__file__).parent / "templates"
STYLESHEET = (TEMPLATES / "admin.css").read_text(encoding="utf-8")
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLESHEET.encode()).digest()).decode()

CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src 'self' data:; "
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


def when(value: str | datetime | None) -> str:
    """A timestamp as staff read it: `2026-11-22 09:10:07 UTC`."""
    if value is None or value == "":
        return "-"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def pretty(value: Any) -> str:
    """JSON for people: indented, non-ASCII kept (Persian stays readable)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


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
    direction=direction, when=when, pretty=pretty, ms=milliseconds, label=word_label
)
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
