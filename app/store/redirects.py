"""`GET /p/<token>`: the counted link of a suggested product (`app.store.suggestions`).

A token the service did not issue answers 404, like any unknown page; a known one counts a click
and answers 302 to the product URL stored with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import RedirectResponse

from app.state import AppState, get_state
from app.store.suggestions import follow

router = APIRouter(tags=["suggestions"])


@router.get("/p/{token}", include_in_schema=False)
async def follow_suggestion(
    token: str, state: Annotated[AppState, Depends(get_state)]
) -> RedirectResponse:
    """Count the click and send the reader to the suggested product's page."""
    url = await follow(state.db, token, now=datetime.now(UTC))
    if url is None:
        raise HTTPException(status_code=404, detail="Not Found")
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
