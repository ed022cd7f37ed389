"""Replies out through the connected mailbox: SMTP submission, then a copy in the Sent folder.

The reply is the same MIME message the log transport writes (`as_mime`: text and HTML, the
threading headers, `Auto-Submitted: auto-replied`). What the outbox must know is whether it may
have left: every failure before the message body went out is `SendDeferred` (a 4xx answer, no
connection) or `SendRejected` (a 5xx answer: the server refused it for good); a connection lost
or a timeout after the body went out is `SendUncertain`, which the outbox never retries. The copy
in the Sent folder (MAILBOX_SENT_FOLDER) is appended over IMAP after the server accepted the
reply, in the background: a failure there is logged and never makes a sent reply unsent.

Only replies from the mailbox's own address go this way; with several stores, the others' replies
go through the sender that would carry them without a mailbox (`others`).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Literal

import aiosmtplib
import httpx

from app.config import Settings
from app.intake.mailbox.imap import Endpoint, ImapConnection, MailboxUnavailable
from app.intake.mailbox.oauth import Credentials, TokenUnavailable, credentials_from
from app.replies.senders import (
    MailSender,
    OutgoingEmail,
    SendDeferred,
    SendRejected,
    SendResult,
    SendUncertain,
    as_mime,
)

logger = logging.getLogger(__name__)

APPEND_WAIT_SECONDS = 30.0
"""How long closing waits for copies still being appended to the Sent folder."""


class SmtpMailSender:
    """A `MailSender` submitting over SMTP (aiosmtplib) with the mailbox's credentials."""

    kind = "smtp"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Literal["tls", "starttls", "none"],
        credentials: Credentials,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        sent_folder: str | None = None,
        imap: Endpoint | None = None,
        own_addresses: frozenset[str] = frozenset(),
        others: MailSender | None = None,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._credentials = credentials
        self._timeout = timeout
        self._tls_context = tls_context
        self._sent_folder = sent_folder if imap is not None else None
        self._imap = imap
        self._own = frozenset(address.lower() for address in own_addresses)
        self._others = others
        self._copies: set[asyncio.Task[None]] = set()

    async def send(self, email: OutgoingEmail) -> SendResult:
        """Submit one reply; file a copy in the Sent folder once it was accepted."""
        if self._others is not None and self._own and email.from_address.lower() not in self._own:
            return await self._others.send(email)
        message = as_mime(email)
        await self._submit(email, message)
        if self._sent_folder is not None:
            task = asyncio.create_task(self._file_copy(message, email.message_id))
            self._copies.add(task)
            task.add_done_callback(self._copies.discard)
        return SendResult(provider_message_id=email.message_id)

    async def _submit(self, email: OutgoingEmail, message: bytes) -> None:
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            timeout=self._timeout,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",
            tls_context=self._tls_context,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendDeferred(f"SMTP server unreachable: {_describe(exc)}") from exc
        try:
            await self._authenticate(smtp)
            await self._envelope(smtp, email)
            await self._data(smtp, message)
        finally:
            await _quit(smtp)

    async def _authenticate(self, smtp: aiosmtplib.SMTP) -> None:
        credentials = self._credentials
        try:
            if credentials.oauth is None:
                password = credentials.password.get_secret_value() if credentials.password else ""
                await smtp.login(credentials.user, password)
                return
            try:
                await smtp.auth_xoauth2(credentials.user, await credentials.oauth.token())
            except aiosmtplib.SMTPAuthenticationError:
                # The cached token may have been revoked early: one more try with a fresh one.
                fresh = await credentials.oauth.token(fresh=True)
                await smtp.auth_xoauth2(credentials.user, fresh)
        except TokenUnavailable as exc:
            raise SendDeferred(f"no OAuth2 access token: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal("sign-in", exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendDeferred(f"SMTP sign-in failed: {_describe(exc)}") from exc

    async def _envelope(self, smtp: aiosmtplib.SMTP, email: OutgoingEmail) -> None:
        addresses = email.from_address + email.to_address
        options: list[str] = []
        encoding = "ascii"
        if not addresses.isascii():
            if not smtp.supports_extension("smtputf8"):
                raise SendRejected("the SMTP server cannot carry a non-ASCII address (SMTPUTF8)")
            options, encoding = ["SMTPUTF8"], "utf-8"
        try:
            await smtp.mail(email.from_address, options=options, encoding=encoding)
            await smtp.rcpt(email.to_address, encoding=encoding)
        except aiosmtplib.SMTPResponseException as exc:
            raise _refusal("envelope", exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The message body was not sent: nothing can have been delivered.
            raise SendDeferred(f"SMTP connection failed: {_describe(exc)}") from exc

    async def _data(self, smtp: aiosmtplib.SMTP, message: bytes) -> None:
        try:
            await smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            # The server answered: it did not take the message.
            raise _refusal("message", exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SendUncertain(
                f"the SMTP server gave no answer after the message was sent ({_describe(exc)})"
            ) from exc

    async def _file_copy(self, message: bytes, message_id: str) -> None:
        if self._imap is None or self._sent_folder is None:
            return
        try:
            connection = await ImapConnection.open(self._imap, self._credentials)
            try:
                await connection.append(self._sent_folder, message, "\\Seen")
            finally:
                await connection.logout()
        except (MailboxUnavailable, TokenUnavailable) as exc:
            logger.warning("reply %s sent, but not filed in the Sent folder: %s", message_id, exc)

    async def aclose(self) -> None:
        """Wait a while for copies still being filed in the Sent folder."""
        if self._copies:
            await asyncio.wait(set(self._copies), timeout=APPEND_WAIT_SECONDS)


def _refusal(stage: str, exc: aiosmtplib.SMTPResponseException) -> SendDeferred | SendRejected:
    reason = f"SMTP {stage} refused: {exc.code} {exc.message}"[:500]
    if 400 <= exc.code < 500:
        return SendDeferred(reason)
    return SendRejected(reason)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()


def mailbox_sender(
    settings: Settings,
    closers: list[Callable[[], Awaitable[None]]],
    *,
    others: MailSender | None = None,
) -> SmtpMailSender:
    """The sender MAILBOX_SMTP_* describe; its token client and pending copies join `closers`.

    Replies from the default store's support address (SUPPORT_FROM_EMAIL) or the mailbox's own
    address go through the mailbox; any other store's go through `others`.
    """
    client = None
    if settings.mailbox_oauth2:
        client = httpx.AsyncClient(timeout=20.0)
        closers.append(client.aclose)
    own = {settings.SUPPORT_FROM_EMAIL}
    if settings.MAILBOX_USER and "@" in settings.MAILBOX_USER:
        own.add(settings.MAILBOX_USER)
    imap = None
    if settings.MAILBOX_IMAP_HOST is not None:
        imap = Endpoint(
            host=settings.MAILBOX_IMAP_HOST,
            port=settings.MAILBOX_IMAP_PORT,
            security=settings.MAILBOX_IMAP_SECURITY,
        )
    sender = SmtpMailSender(
        host=settings.MAILBOX_SMTP_HOST or "",
        port=settings.MAILBOX_SMTP_PORT,
        security=settings.MAILBOX_SMTP_SECURITY,
        credentials=credentials_from(settings, client),
        timeout=settings.MAILBOX_SMTP_TIMEOUT_SECONDS,
        sent_folder=settings.MAILBOX_SENT_FOLDER,
        imap=imap,
        own_addresses=frozenset(own),
        others=others,
    )
    # Closed first (the list runs in order): pending copies still need the token client.
    closers.insert(0, sender.aclose)
    return sender
