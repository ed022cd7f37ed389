"""Customers' one-click pages: rate a reply (good / not good, then a comment), unsubscribe.

No login, no JavaScript, no CSRF token: each URL carries a signed token (`app.replies.links`)
that is the only credential. A GET never changes anything (mail scanners follow links): it shows
a small page whose button POSTs. The unsubscribe URL also takes a mail client's RFC 8058
one-click POST (body `List-Unsubscribe=One-Click`) and acts at once.

Answers: 200 done or page shown; 404 a link that is malformed or forged (or names nothing);
410 an expired link; 409 a link already used.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.scope import ALL_STORES
from app.db.statuses import Rating
from app.intake import ratings, unsubscribing
from app.jobs import followups
from app.replies.autonomy import Rules
from app.replies.links import BadToken, Purpose, read, sign
from app.state import AppState, app_state

router = APIRouter(include_in_schema=False)
clock: Callable[[], datetime] = utcnow
"""The pages' present (tests replace it)."""
MAX_FORM_BYTES = 8192
ONE_CLICK = "One-Click"
_WORDS = {Rating.GOOD: "good", Rating.NOT_GOOD: "not good"}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title></head>'
        "<body style=\"font-family:-apple-system,'Segoe UI',Tahoma,Arial,sans-serif;"
        f'max-width:32rem;margin:2rem auto;padding:0 1rem">'
        f'<h1 style="font-size:1.3rem">{html.escape(title)}</h1>{body}</body></html>'
    )
    return HTMLResponse(document, status_code=status, headers={"Cache-Control": "no-store"})


def _refused(exc: BadToken) -> HTMLResponse:
    if str(exc) == "expired":
        return _page("This link has expired", "<p>It can no longer be used.</p>", 410)
    return _page("This link is not valid", "<p>Please check the address.</p>", 404)


def _used() -> HTMLResponse:
    return _page("Already done", "<p>This link was used already. Thank you!</p>", 409)


def _secret(state: AppState) -> bytes:
    secret = state.settings.link_secret()
    if secret is None:
        # Links are only made with a secret, so without one no link can be genuine.
        raise BadToken("forged")
    return secret


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:MAX_FORM_BYTES].decode("utf-8", "replace")
    return {key: values[0] for key, values in parse_qs(body).items() if values}


@router.get("/r/{token}")
async def rating_page(token: str, request: Request, rating: str | None = None) -> HTMLResponse:
    """The rating page: a button for each answer (or the one the email's link chose)."""
    state = app_state(request)
    try:
        read(_secret(state), token, Purpose.RATE, now=clock())
    except BadToken as exc:
        return _refused(exc)
    chosen = [Rating(rating)] if rating in {r.value for r in Rating} else list(Rating)
    buttons = "".join(
        f'<button type="submit" name="rating" value="{r.value}" '
        f'style="font-size:1rem;margin:0 .5rem .5rem 0">This reply was {_WORDS[r]}</button>'
        for r in chosen
    )
    action = html.escape(f"/r/{token}")
    return _page("How did we do?", f'<form method="post" action="{action}">{buttons}</form>')


@router.post("/r/{token}")
async def rate(token: str, request: Request) -> HTMLResponse:
    """Record the rating once; then offer the optional comment."""
    state = app_state(request)
    now = clock()
    try:
        secret = _secret(state)
        reply_id = read(secret, token, Purpose.RATE, now=now)
    except BadToken as exc:
        return _refused(exc)
    value = (await _form(request)).get("rating", "")
    if value not in {r.value for r in Rating}:
        return _page("How did we do?", "<p>Please choose an answer.</p>", 400)
    settings = state.settings
    rules = Rules.from_settings(settings)

    def work(session: Session) -> ratings.Rated:
        rated = ratings.rate_in(session, reply_id, Rating(value), now=now, rules=rules)
        if rated.rating is Rating.GOOD:
            followups.schedule_review_in(session, rated, settings=settings, now=now)
        return rated

    try:
        await state.db.unit(work, ALL_STORES)
    except LookupError:
        return _refused(BadToken("forged"))
    except ratings.AlreadyUsed:
        return _used()
    note = sign(secret, Purpose.NOTE, reply_id, expires=None)
    action = html.escape(f"/r/note/{note}")
    form = (
        f'<form method="post" action="{action}"><p><label for="comment">Anything to add? '
        "(optional)</label></p>"
        '<textarea id="comment" name="comment" rows="4" cols="40" maxlength="2000"></textarea>'
        '<p><button type="submit">Send</button></p></form>'
    )
    return _page("Thank you for your answer", form)


@router.post("/r/note/{token}")
async def comment(token: str, request: Request) -> HTMLResponse:
    """Record the optional comment once."""
    state = app_state(request)
    now = clock()
    try:
        reply_id = read(_secret(state), token, Purpose.NOTE, now=now)
    except BadToken as exc:
        return _refused(exc)
    text = (await _form(request)).get("comment", "")
    try:
        await state.db.unit(lambda session: ratings.comment_in(session, reply_id, text), ALL_STORES)
    except LookupError:
        return _refused(BadToken("forged"))
    except ratings.AlreadyUsed:
        return _used()
    return _page("Thank you", "<p>Your comment reached the team.</p>")


@router.get("/u/{token}")
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The unsubscribe page: one button (a GET never unsubscribes)."""
    state = app_state(request)
    try:
        read(_secret(state), token, Purpose.UNSUBSCRIBE, now=clock())
    except BadToken as exc:
        return _refused(exc)
    action = html.escape(f"/u/{token}")
    form = (
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="source" value="page">'
        "<p>You will get no more follow-up emails from this store. Answers to your own "
        "questions still reach you.</p>"
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _page("Unsubscribe from follow-up emails", form)


@router.post("/u/{token}")
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """Unsubscribe now: a mail client's one-click POST (RFC 8058) or the page's button."""
    state = app_state(request)
    now = clock()
    try:
        followup_id = read(_secret(state), token, Purpose.UNSUBSCRIBE, now=now)
    except BadToken as exc:
        return _refused(exc)
    form = await _form(request)
    one_click = form.get("List-Unsubscribe") == ONE_CLICK and form.get("source") != "page"
    try:
        await state.db.unit(
            lambda session: unsubscribing.unsubscribe_followup_in(
                session, followup_id, one_click=one_click, now=now
            ),
            ALL_STORES,
        )
    except LookupError:
        return _refused(BadToken("forged"))
    except IntegrityError:
        pass  # The same address was unsubscribed at the same moment (a client's retry): done.
    return _page("You are unsubscribed", "<p>You will get no more follow-up emails.</p>")
