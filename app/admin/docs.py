"""The admin API's OpenAPI schema and its interactive docs (Swagger UI), served by this service.

`app.admin.api` registers these handlers on its router, behind the same login as the API: the
schema names every route and field of the admin, which is nobody else's business. Swagger UI's
files come from the `swagger-ui-bundle-v2` package, so the docs page loads nothing from another
site, and its own Content-Security-Policy allows scripts from this site only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path

from app.admin.auth import CSRF_HEADER, require_api_staff
from app.admin.staff import Staff
from app.admin.templating import SECURITY_HEADERS, TEMPLATES, render

# Swagger UI sets styles from its script and shows icons as data: URIs.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (
        Path(str(swagger_ui_path)) / "swagger-ui-bundle.js",
        "text/javascript",
    ),
    "swagger-ui.css": (Path(str(swagger_ui_path)) / "swagger-ui.css", "text/css"),
    "docs.js": (TEMPLATES / "docs.js", "text/javascript"),
}
"""The only files served under /admin/docs/: never a path taken from the request."""


async def openapi_schema(request: Request) -> JSONResponse:
    """The OpenAPI schema of the whole service (the admin pages themselves are not in it)."""
    schema: dict[str, Any] = request.app.openapi()
    return JSONResponse(schema, headers={"Cache-Control": "no-store"})


async def docs_page(
    request: Request, staff: Annotated[Staff, Depends(require_api_staff)]
) -> HTMLResponse:
    """Swagger UI on the schema, for staff to read and try the admin API."""
    state = request.app.state.services
    context = {
        "store_name": state.settings.STORE_NAME,
        "csrf_header": CSRF_HEADER,
        "csrf_token": staff.csrf_token or "",
    }
    return render("docs.html", context, headers={"Content-Security-Policy": DOCS_POLICY})


async def docs_asset(asset: str) -> FileResponse:
    """One of Swagger UI's files (or the script that starts it)."""
    if asset not in ASSETS:
        raise HTTPException(status_code=404, detail=f"no file {asset}")
    path, media_type = ASSETS[asset]
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, max-age=86400"}
    return FileResponse(path, media_type=media_type, headers=headers)
