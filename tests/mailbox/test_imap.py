"""The IMAP connection against Dovecot: TLS, STARTTLS, certificates, folders by any name."""

from __future__ import annotations

import gc
from dataclasses import replace

import httpx
import pytest
from pydantic import SecretStr

from app.intake.mailbox.imap import (
    Endpoint,
    ImapConnection,
    ImapRefused,
    MailboxUnavailable,
    folder_name,
)
from app.intake.mailbox.oauth import Credentials, OAuthRefresh
from tests.builders import make_eml
from tests.mailbox.conftest import CREDENTIALS, endpoint_of
from tests.mailbox.servers import HOST, Dovecot


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls_log_in_with_a_verified_certificate(
    dovecot: Dovecot, security: str
) -> None:
    port = dovecot.tls_port if security == "tls" else dovecot.port
    endpoint = Endpoint(
        host=HOST,
        port=port,
        security=security,  # type: ignore[arg-type]
        timeout=5.0,
        ssl_context=dovecot.certificates.client_context(),
    )
    connection = await ImapConnection.open(endpoint, CREDENTIALS)
    try:
        folder = await connection.select("INBOX")
        assert folder.uidvalidity > 0
        assert "IDLE" in connection.capabilities
    finally:
        await connection.logout()


# asyncio (3.11) can leave the raw socket of a failed TLS handshake for the garbage collector,
# which then warns "unclosed transport" in whichever test it happens to run: collect it here,
# where the refusal is the point, and only here ignore that warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_a_certificate_nobody_vouches_for_is_refused(dovecot: Dovecot, security: str) -> None:
    port = dovecot.tls_port if security == "tls" else dovecot.port
    # The system's CAs: they never signed the test server's certificate.
    # A generous timeout: under load a slow handshake must not pass for a refusal, nor fail it.
    endpoint = Endpoint(host=HOST, port=port, security=security, timeout=30.0)  # type: ignore[arg-type]
    with pytest.raises(MailboxUnavailable, match="CERTIFICATE_VERIFY_FAILED|SSL"):
        await ImapConnection.open(endpoint, CREDENTIALS)
    gc.collect()


async def test_a_wrong_password_is_a_refusal(dovecot: Dovecot) -> None:
    from pydantic import SecretStr

    from app.intake.mailbox.oauth import Credentials

    wrong = Credentials(user=CREDENTIALS.user, password=SecretStr("nope"))
    with pytest.raises(ImapRefused, match="LOGIN"):
        await ImapConnection.open(endpoint_of(dovecot), wrong)


async def test_folders_with_spaces_and_accents_are_created_selected_and_appended_to(
    dovecot: Dovecot,
) -> None:
    connection = await ImapConnection.open(endpoint_of(dovecot), CREDENTIALS)
    try:
        for name in ("Sent Items", "Éléments envoyés", 'odd "quoted" & name'):
            await connection.create(name)
            await connection.create(name)  # Existing already: fine.
            await connection.append(name, make_eml())
            assert (await connection.select(name)).exists == 1
        with pytest.raises(ImapRefused):
            await connection.select("No such folder")
    finally:
        await connection.logout()


def test_folder_names_are_modified_utf7_and_quoted() -> None:
    assert folder_name("INBOX") == '"INBOX"'
    assert folder_name("[Gmail]/Sent Mail") == '"[Gmail]/Sent Mail"'
    assert folder_name("Éléments envoyés") == '"&AMk-l&AOk-ments envoy&AOk-s"'
    assert folder_name("a&b") == '"a&-b"'
    assert folder_name('say "hi"\\') == '"say \\"hi\\"\\\\"'


def oauth_credentials(*tokens: str) -> tuple[Credentials, list[int]]:
    """XOAUTH2 credentials whose token endpoint hands out `tokens` in turn."""
    served: list[int] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        served.append(1)
        return httpx.Response(
            200, json={"access_token": tokens[len(served) - 1], "expires_in": 3600}
        )

    refresh = OAuthRefresh(
        client=httpx.AsyncClient(transport=httpx.MockTransport(endpoint)),
        token_url="https://oauth2.example/token",
        client_id="client-1",
        client_secret=None,
        refresh_token=SecretStr("rt-1"),
    )
    return Credentials(user=CREDENTIALS.user, oauth=refresh), served


async def test_xoauth2_signs_in_with_a_token_the_server_accepts(dovecot: Dovecot) -> None:
    dovecot.introspection.valid.add("at-good")
    credentials, served = oauth_credentials("at-good")
    connection = await ImapConnection.open(endpoint_of(dovecot), credentials)
    await connection.logout()
    assert (served, dovecot.introspection.asked) == ([1], ["at-good"])


async def test_a_revoked_token_is_replaced_by_a_fresh_one(dovecot: Dovecot) -> None:
    dovecot.introspection.valid.add("at-new")
    credentials, served = oauth_credentials("at-revoked", "at-new")
    # Dovecot delays a failed sign-in by design.
    connection = await ImapConnection.open(replace(endpoint_of(dovecot), timeout=20.0), credentials)
    await connection.logout()
    assert dovecot.introspection.asked == ["at-revoked", "at-new"]
    assert len(served) == 2


async def test_a_refused_token_is_a_refusal_not_a_hang(dovecot: Dovecot) -> None:
    credentials, _ = oauth_credentials("at-bad", "at-still-bad")
    # Dovecot delays each failed sign-in by design; allow for two of them.
    endpoint = replace(endpoint_of(dovecot), timeout=20.0)
    # NO, not a timeout: the server's error challenge was answered, so it could say NO.
    with pytest.raises(ImapRefused, match="XOAUTH2: NO"):
        await ImapConnection.open(endpoint, credentials)
