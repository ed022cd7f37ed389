"""Errors on the staff pages answered as pages; everywhere else FastAPI's JSON answers are kept.

Without a session a page answers 401 with the login form (the JSON API under /admin/api keeps
answering JSON 401), and any other HTTP error on a page is a readable page with the same status.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

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
    """A page request with malformed parameters, as a page (422)."""
    assert isinstance(exc, RequestValidationError)
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


def install_error_pages(app: FastAPI) -> None:
    """Register the handlers (each leaves non-page paths to FastAPI's defaults)."""
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
