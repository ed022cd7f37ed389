"""OAuth2 access tokens by refresh token, with the token endpoint faked at the HTTP boundary."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from app.intake.mailbox import oauth
from app.intake.mailbox.oauth import OAuthRefresh, TokenUnavailable, credentials_from
from tests.conftest import SettingsFactory

TOKEN_URL = "https://login.example/oauth2/v2.0/token"


def refresher(handler: httpx.MockTransport, **overrides: object) -> OAuthRefresh:
    values: dict[str, object] = {
        "client": httpx.AsyncClient(transport=handler),
        "token_url": TOKEN_URL,
        "client_id": "client-1",
        "client_secret": SecretStr("client-secret"),
        "refresh_token": SecretStr("rt-1"),
        "scope": "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
    }
    values.update(overrides)
    return OAuthRefresh(**values)  # type: ignore[arg-type]


async def test_the_refresh_grant_is_posted_as_documented_and_the_token_cached() -> None:
    forms: list[dict[str, list[str]]] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return httpx.Response(
            200,
            json={"access_token": f"at-{len(forms)}", "expires_in": 3599, "token_type": "Bearer"},
        )

    tokens = refresher(httpx.MockTransport(endpoint))
    assert await tokens.token() == "at-1"
    assert await tokens.token() == "at-1"
    assert forms == [
        {
            "grant_type": ["refresh_token"],
            "refresh_token": ["rt-1"],
            "client_id": ["client-1"],
            "client_secret": ["client-secret"],
            "scope": ["https://outlook.office.com/IMAP.AccessAsUser.All offline_access"],
        }
    ]
    assert await tokens.token(fresh=True) == "at-2"


async def test_an_expiring_token_is_refreshed_and_a_rotated_refresh_token_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[str] = []
    clock = [1000.0]
    monkeypatch.setattr("app.intake.mailbox.oauth.time.monotonic", lambda: clock[0])

    def endpoint(request: httpx.Request) -> httpx.Response:
        sent.append(parse_qs(request.content.decode())["refresh_token"][0])
        return httpx.Response(
            200,
            json={"access_token": f"at-{len(sent)}", "expires_in": 600, "refresh_token": "rt-2"},
        )

    tokens = refresher(httpx.MockTransport(endpoint))
    assert await tokens.token() == "at-1"
    clock[0] += 600 - oauth.EARLY_SECONDS - 1
    assert await tokens.token() == "at-1"
    clock[0] += 2
    assert await tokens.token() == "at-2"
    assert sent == ["rt-1", "rt-2"]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (
            httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "rt-1 expired"}
            ),
            "400 (invalid_grant)",
        ),
        (httpx.Response(500, text="oops"), "500"),
        (httpx.Response(200, json={"token_type": "Bearer"}), "no access_token"),
    ],
)
async def test_a_refusal_says_why_without_any_secret(
    response: httpx.Response, message: str
) -> None:
    tokens = refresher(httpx.MockTransport(lambda request: response))
    with pytest.raises(TokenUnavailable) as caught:
        await tokens.token()
    assert message in str(caught.value)
    for secret in ("rt-1", "client-secret"):
        assert secret not in str(caught.value)


async def test_an_unreachable_endpoint_is_unavailable() -> None:
    def endpoint(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TokenUnavailable, match="unreachable"):
        await refresher(httpx.MockTransport(endpoint)).token()


def test_credentials_follow_the_settings(make_settings: SettingsFactory) -> None:
    password = make_settings(
        MAILBOX_IMAP_HOST="imap.example.com",
        MAILBOX_USER="a@shop.test",
        MAILBOX_PASSWORD="app-pass",
    )
    found = credentials_from(password, None)
    assert (found.user, found.oauth) == ("a@shop.test", None)
    assert found.password is not None
    assert found.password.get_secret_value() == "app-pass"
    token = make_settings(
        MAILBOX_IMAP_HOST="imap.gmail.com",
        MAILBOX_USER="a@shop.test",
        MAILBOX_OAUTH2_TOKEN_URL="https://oauth2.googleapis.com/token",
        MAILBOX_OAUTH2_CLIENT_ID="id",
        MAILBOX_OAUTH2_REFRESH_TOKEN="rt",
    )
    with pytest.raises(ValueError, match="HTTP client"):
        credentials_from(token, None)
    assert credentials_from(token, httpx.AsyncClient()).oauth is not None


@pytest.mark.parametrize(
    ("values", "wrong"),
    [
        ({"MAILBOX_IMAP_HOST": "imap.example.com"}, "MAILBOX_IMAP_HOST"),
        (
            {
                "MAILBOX_IMAP_HOST": "imap.example.com",
                "MAILBOX_USER": "a",
                "MAILBOX_PASSWORD": "p",
                "MAILBOX_IMAP_SECURITY": "none",
            },
            "MAILBOX_IMAP_SECURITY",
        ),
        (
            {
                "MAILBOX_SMTP_HOST": "smtp.example.com",
                "MAILBOX_USER": "a",
                "MAILBOX_OAUTH2_REFRESH_TOKEN": "rt",
            },
            "MAILBOX_OAUTH2_REFRESH_TOKEN",
        ),
        ({"MAILBOX_AUTHSERV_ID": "mx.google.com; spf=pass"}, "MAILBOX_AUTHSERV_ID"),
        ({"MAILBOX_PROCESSED_FLAG": "\\Deleted"}, "MAILBOX_PROCESSED_FLAG"),
    ],
)
def test_settings_refuse_a_mailbox_that_cannot_work(
    make_settings: SettingsFactory, values: dict[str, str], wrong: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=wrong):
        make_settings(**values)


def test_a_mailbox_alone_needs_no_webhook_credentials(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        INBOUND_BASIC_AUTH_USER=None,
        INBOUND_BASIC_AUTH_PASSWORD=None,
        MAILBOX_IMAP_HOST="localhost",
        MAILBOX_IMAP_SECURITY="none",
        MAILBOX_USER="support@shop.test",
        MAILBOX_PASSWORD="secret",
    )
    assert not settings.inbound_auth_configured
