"""What an admin JSON route answers when an operation refuses: one place for every router."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from fastapi.responses import JSONResponse

from app.admin.review import ReviewError
from app.admin.schemas import Problem

T = TypeVar("T")


def refusal(exc: ReviewError) -> JSONResponse:
    """The refusal as a `Problem`, with its status (404, 409, 422...)."""
    content = Problem(detail=str(exc), problems=exc.problems)
    return JSONResponse(status_code=exc.status, content=content.model_dump())


async def answer(work: Awaitable[T]) -> T | JSONResponse:
    """What `work` returns, or its refusal as the JSON answer."""
    try:
        return await work
    except ReviewError as exc:
        return refusal(exc)
