"""Installing the app on a shop: Shopify's authorization code grant.

1. `GET /shopify/install?shop=name.myshopify.com` (from Shopify's install link, signed with
   `hmac`, or typed by an operator without it): a random `state` nonce goes into a signed,
   HttpOnly, SameSite=Lax cookie and the browser goes to the shop's authorize page.
2. `GET /shopify/callback?code&hmac&shop&state&timestamp[&host]`: the query must carry
   Shopify's signature, be fresh, and return the cookie's nonce for the same shop (the cookie
   is cleared, so a state works once); then the code is exchanged for the shop's token, the
   granted scopes are checked, and the store is created or re-activated with the token sealed
   (`STORE_SECRET_KEYS`). The browser lands on the admin's stores page.

Without `SHOPIFY_CLIENT_ID`, `SHOPIFY_CLIENT_SECRET`, `SHOPIFY_APP_URL` and `STORE_SECRET_KEYS`
this deployment is not a Shopify app: both routes answer 404 and say which settings are missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.config import Settings
from app.state import AppState, get_state
from app.store.shopify_app import oauth, records, signing

logger = logging.getLogger(__name__)
router = APIRouter(tags=["shopify app"], include_in_schema=False)

CALLBACK_PATH = "/shopify/callback"
WEBHOOK_PATH = "/webhooks/shopify"
AFTER_INSTALL = "/admin/stores"
"""Where the browser lands after an install: the admin's stores page."""


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """The app's own settings, present only when this deployment is a Shopify app."""

    client_id: str
    client_secret: str
    app_url: str


def app_credentials(settings: Settings) -> AppCredentials | list[str]:
    """The app's settings, or the names of the missing ones."""
    missing = [
        name
        for name in (
            "SHOPIFY_CLIENT_ID",
            "SHOPIFY_CLIENT_SECRET",
            "SHOPIFY_APP_URL",
            "STORE_SECRET_KEYS",
        )
        if getattr(settings, name) is None
    ]
    if missing or not (
        settings.SHOPIFY_CLIENT_ID and settings.SHOPIFY_CLIENT_SECRET and settings.SHOPIFY_APP_URL
    ):
        return missing
    return AppCredentials(
        client_id=settings.SHOPIFY_CLIENT_ID,
        client_secret=settings.SHOPIFY_CLIENT_SECRET.get_secret_value(),
        app_url=settings.SHOPIFY_APP_URL,
    )


def refuse(status: int, detail: str) -> JSONResponse:
    """An error answer that also ends any install in progress in this browser."""
    response = JSONResponse({"detail": detail}, status_code=status)
    response.delete_cookie(signing.STATE_COOKIE, path="/shopify", secure=True, httponly=True)
    return response


def not_an_app(missing: list[str]) -> JSONResponse:
    """The answer when this deployment is not configured as a Shopify app."""
    return JSONResponse(
        {"detail": "this deployment is not set up as a Shopify app: set " + ", ".join(missing)},
        status_code=404,
    )


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """Every query parameter as sent, repeats included (the signature covers them all)."""
    return list(request.query_params.multi_items())


@router.get("/shopify/install")
async def install(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Start an install: remember a nonce in a signed cookie, send the browser to Shopify."""
    credentials = app_credentials(state.settings)
    if not isinstance(credentials, AppCredentials):
        return not_an_app(credentials)
    params = query_pairs(request)
    shop = signing.shop_domain(request.query_params.get("shop"))
    if shop is None:
        return refuse(400, "shop must be the shop's name.myshopify.com domain")
    if "hmac" in request.query_params:
        # Shopify's install link is signed; a link typed by an operator carries no `hmac`.
        if not signing.query_is_authentic(params, credentials.client_secret):
            logger.warning("install refused: forged hmac", extra={"shop": shop})
            return refuse(400, "the request's hmac is not Shopify's signature")
        if not signing.query_is_fresh(request.query_params.get("timestamp")):
            return refuse(400, "the install link has expired; start the install again")
    nonce = signing.new_state(shop)
    target = oauth.authorize_url(
        shop=shop,
        client_id=credentials.client_id,
        redirect_uri=credentials.app_url + CALLBACK_PATH,
        state=nonce.nonce,
    )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        signing.STATE_COOKIE,
        signing.seal_state(nonce, credentials.client_secret),
        max_age=signing.STATE_COOKIE_SECONDS,
        path="/shopify",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    logger.info("install started", extra={"shop": shop})
    return response


@router.get(CALLBACK_PATH)
async def callback(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Finish an install: check everything Shopify sent, then store the shop's token sealed."""
    settings = state.settings
    credentials = app_credentials(settings)
    if not isinstance(credentials, AppCredentials):
        return not_an_app(credentials)
    query = request.query_params
    shop = signing.shop_domain(query.get("shop"))
    if shop is None:
        return refuse(400, "shop must be the shop's name.myshopify.com domain")
    if not signing.query_is_authentic(query_pairs(request), credentials.client_secret):
        logger.warning("install callback refused: hmac", extra={"shop": shop})
        return refuse(400, "the request's hmac is not Shopify's signature")
    if not signing.query_is_fresh(query.get("timestamp")):
        logger.warning("install callback refused: stale", extra={"shop": shop})
        return refuse(400, "the install link has expired; start the install again")
    cookie = signing.open_state(
        request.cookies.get(signing.STATE_COOKIE), credentials.client_secret
    )
    if not signing.state_matches(cookie, shop, query.get("state")):
        logger.warning("install callback refused: state", extra={"shop": shop})
        return refuse(400, "the install was not started here (state); start it again")
    code = query.get("code")
    if not code:
        return refuse(400, "Shopify sent no authorization code")
    return await _complete(state, credentials, shop=shop, code=code)


async def _complete(
    state: AppState, credentials: AppCredentials, *, shop: str, code: str
) -> Response:
    settings = state.settings
    endpoint = f"https://{shop}/admin/api/{settings.SHOPIFY_API_VERSION}/graphql.json"
    timeout = httpx.Timeout(settings.SHOPIFY_TIMEOUT_SECONDS, connect=5.0)
    async with httpx.AsyncClient(
        timeout=timeout, headers={"User-Agent": "shop-support-mail"}
    ) as http:
        try:
            grant = await oauth.exchange_code(
                http,
                shop=shop,
                client_id=credentials.client_id,
                client_secret=credentials.client_secret,
                code=code,
            )
        except oauth.InstallRefused as exc:
            logger.warning("install failed", extra={"shop": shop, "error": str(exc)})
            return refuse(502, str(exc))
        missing = oauth.missing_scopes(grant.scopes)
        if missing:
            logger.warning("install refused: scopes", extra={"shop": shop, "missing": missing})
            return refuse(403, "the app needs these access scopes to work: " + ", ".join(missing))
        name = await oauth.shop_name(http, endpoint=endpoint, token=grant.access_token)
        sealed = state.stores.secrets.seal({"admin_api_token": grant.access_token, **grant.extra})
        installed = await records.save_install(
            state.db, shop=shop, name=name, scopes=grant.scopes, sealed_credentials=sealed
        )
        state.stores.invalidate()
        subscribed = await oauth.subscribe_uninstalled(
            http,
            endpoint=endpoint,
            token=grant.access_token,
            uri=credentials.app_url + WEBHOOK_PATH,
        )
    logger.info(
        "store installed",
        extra={
            "shop": shop,
            "store_id": installed.store_id,
            "reinstall": installed.reinstall,
            "uninstall_webhook": subscribed,
        },
    )
    response = RedirectResponse(AFTER_INSTALL, status_code=303)
    response.delete_cookie(signing.STATE_COOKIE, path="/shopify", secure=True, httponly=True)
    return response
