"""Errors on the staff pages answered as pages; everywhere else FastAPI's JSON answers are kept.

Without a session a page answers 401 with the login form (the JSON API under /admin/api keeps
answering JSON 401), and any other HTTP error on a page is a readable page with the same status.
A path id that no row can have (too large, negative, not a number) is a 404, as an id without a
row is. Every answer of the JSON API, errors and 500s included, carries `API_HEADERS`: the
`ApiHeaders` middleware adds them, and the 500 handler (which runs outside every middleware)
sets them itself.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.admin.auth import LoginRequired
from app.admin.screens import HOME, base_context, login_page
from app.admin.templating import render

API_PREFIX = "/admin/api"
# JSON documents outside the API prefix that answer errors in JSON, as the API does.
JSON_PATHS = frozenset({"/admin/openapi.json"})
TITLES = {
    400: "Bad request",
    403: "Refused",
    404: "Not found",
    405: "Not allowed",
    409: "Already decided",
    422: "Cannot do that",
    500: "Something went wrong",
}
API_HEADERS = {
    # Answers hold customers' mail and orders: never kept in a shared or browser cache.
    "Cache-Control": "no-store",
    # A JSON answer is never read as HTML or script, whatever an email put into it.
    "X-Content-Type-Options": "nosniff",
}
CSRF_HELP = (
    "This form did not come from a page of this admin, or your session changed since it was "
    "shown (missing or wrong CSRF token). Go back, reload the page and try again."
)


def is_page_path(path: str) -> bool:
    """Whether a path belongs to the staff pages (under /admin, but not the JSON API)."""
    if (path != HOME and not path.startswith(HOME + "/")) or path in JSON_PATHS:
        return False
    return path != API_PREFIX and not path.startswith(API_PREFIX + "/")


def is_api_path(path: str) -> bool:
    """Whether a path belongs to the JSON API (or is one of its JSON documents)."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/") or path in JSON_PATHS


class ApiHeaders:
    """ASGI middleware: `API_HEADERS` on every response of the JSON API, whoever made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_api_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in API_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def login_required(request: Request, exc: Exception) -> Response:
    """A page without a valid session: the login form, 401."""
    assert isinstance(exc, HTTPException)
    if not is_page_path(request.url.path):
        return await http_exception_handler(request, exc)
    next_path = request.url.path
    if request.url.query:
        next_path += "?" + request.url.query
    return login_page(
        request,
        status_code=exc.status_code,
        next_path=next_path if request.method == "GET" else HOME,
        headers=exc.headers,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """Any other HTTP error on a page, as a page."""
    assert isinstance(exc, HTTPException)
    if not is_page_path(request.url.path):
        return await http_exception_handler(request, exc)
    detail = CSRF_HELP if exc.status_code == 403 and "CSRF" in str(exc.detail) else exc.detail
    context = base_context(request, None)
    context.update(
        status=exc.status_code, title=TITLES.get(exc.status_code, "Error"), detail=str(detail)
    )
    return render("error.html", context, status_code=exc.status_code, headers=exc.headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    """A request with malformed parameters: 404 for a path id, otherwise 422 (a page on pages)."""
    assert isinstance(exc, RequestValidationError)
    if any(tuple(error["loc"][:1]) == ("path",) for error in exc.errors()):
        # An id no row can have is no record; passed on, it would overflow the driver (a 500).
        return await http_error(request, HTTPException(status_code=404, detail="no such record"))
    if not is_page_path(request.url.path):
        return await request_validation_exception_handler(request, exc)
    problems = [
        f"{'.'.join(str(part) for part in error['loc'][1:])}: {error['msg']}"
        for error in exc.errors()
    ]
    context = base_context(request, None)
    context.update(
        status=422, title=TITLES[422], detail="; ".join(problems) or "the request was malformed"
    )
    return render("error.html", context, status_code=422)


async def internal_error(request: Request, exc: Exception) -> Response:
    """An unexpected error: a page, JSON with `API_HEADERS`, or plain text, by path (500).

    It runs in Starlette's outermost middleware, which logs the exception after this answers.
    """
    path = request.url.path
    if is_api_path(path):
        return JSONResponse(
            {"detail": "Internal Server Error"}, status_code=500, headers=API_HEADERS
        )
    if is_page_path(path):
        context = base_context(request, None)
        context.update(
            status=500, title=TITLES[500], detail="The error was logged. Try again in a moment."
        )
        return render("error.html", context, status_code=500)
    return PlainTextResponse("Internal Server Error", status_code=500)


def install_error_pages(app: FastAPI) -> None:
    """Register the handlers (each leaves non-admin paths to FastAPI's defaults)."""
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, internal_error)
