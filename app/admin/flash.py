"""A refused action's answer carried across its redirect (post/redirect/get).

A form post that fails (the verifier found problems, the sender needs confirming, a colleague
changed the draft) redirects back to the email; what the page must say, and the text staff had
typed, travel in a short-lived cookie read (and cleared) by that next page. The cookie is
HttpOnly, SameSite=Strict and scoped to /admin; its content is only ever shown escaped, and only
on the email it names. Text too long for a cookie is not kept: the page says so.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import asdict, dataclass, field

from fastapi import Request
from fastapi.responses import Response

FLASH_COOKIE = "support_admin_flash"
MAX_COOKIE_CHARS = 3800
SECONDS = 120
MAX_UNPACKED = 65536


@dataclass(frozen=True, kw_only=True)
class Flash:
    """What the email page shows after a refused action."""

    message_pk: int
    message: str
    problems: list[str] = field(default_factory=list)
    status: int = 400
    text: str | None = None
    """What staff had typed in the composer (None: nothing, or too long to keep)."""
    text_lost: bool = False
    ask: str = ""
    """The question the page asks: `unverified` (confirm the sender) or `revised`."""


def _encode(flash: Flash) -> str:
    packed = zlib.compress(json.dumps(asdict(flash), ensure_ascii=False).encode())
    return base64.urlsafe_b64encode(packed).decode()


def keep(response: Response, flash: Flash) -> None:
    """Set the cookie on the redirect (without the typed text if it would not fit)."""
    value = _encode(flash)
    if len(value) > MAX_COOKIE_CHARS:
        value = _encode(Flash(**{**asdict(flash), "text": None, "text_lost": True}))
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=SECONDS,
        path="/admin",
        httponly=True,
        samesite="strict",
    )


def take(request: Request, message_pk: int) -> Flash | None:
    """The flash for this email, if the request carries one (anything malformed is ignored)."""
    value = request.cookies.get(FLASH_COOKIE)
    if not value or len(value) > MAX_COOKIE_CHARS:
        return None
    try:
        # At most 64 kB out of a cookie, whatever it claims to hold.
        packed = base64.urlsafe_b64decode(value)
        data = json.loads(zlib.decompressobj().decompress(packed, MAX_UNPACKED))
        flash = Flash(
            message_pk=int(data["message_pk"]),
            message=str(data["message"]),
            problems=[str(p) for p in data.get("problems", [])],
            status=int(data.get("status", 400)),
            text=None if data.get("text") is None else str(data["text"]),
            text_lost=bool(data.get("text_lost")),
            ask=str(data.get("ask", "")),
        )
    except (ValueError, KeyError, TypeError, zlib.error):
        return None
    return flash if flash.message_pk == message_pk else None


def clear(response: Response) -> None:
    """Forget the flash once shown."""
    response.delete_cookie(FLASH_COOKIE, path="/admin", httponly=True, samesite="strict")
