"""Replies out through the mailbox: a real SMTP server (aiosmtpd), a copy in Dovecot's Sent."""

from __future__ import annotations

import email
import email.policy
import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.intake.mailbox.imap import Endpoint
from app.intake.mailbox.oauth import Credentials, OAuthRefresh
from app.intake.mailbox.sender import SmtpMailSender
from app.replies.senders import (
    OutgoingEmail,
    SendDeferred,
    SendRejected,
    SendResult,
    SendUncertain,
)
from tests.mailbox.conftest import CREDENTIALS, endpoint_of
from tests.mailbox.servers import HOST, USER, Dovecot, SmtpServer, free_port

TOKEN_URL = "https://oauth.example/token"


def reply(**overrides: Any) -> OutgoingEmail:
    values: dict[str, Any] = {
        "from_address": USER,
        "from_name": "Test Shop",
        "to_address": "sara@example.com",
        "to_name": None,
        "subject": "Re: Where is my order #1001?",
        "text": "Your order is on its way.",
        "html": "<p>Your order is on its way.</p>",
        "message_id": "<reply.1@shop.test>",
        "in_reply_to": "<q1@example.com>",
        "references": ("<earlier@example.com>", "<q1@example.com>"),
    }
    values.update(overrides)
    return OutgoingEmail(**values)


def sender(smtp: SmtpServer, **overrides: Any) -> SmtpMailSender:
    values: dict[str, Any] = {
        "host": HOST,
        "port": smtp.port,
        "security": "starttls",
        "tls_context": smtp.client_context(),
        "credentials": CREDENTIALS,
        "timeout": 5.0,
    }
    values.update(overrides)
    return SmtpMailSender(**values)


async def test_a_reply_is_submitted_with_its_threading_headers_and_filed_in_sent(
    smtp_server: SmtpServer, dovecot: Dovecot
) -> None:
    dovecot.create("Sent")
    mail = sender(smtp_server, sent_folder="Sent", imap=endpoint_of(dovecot))

    result = await mail.send(reply())
    await mail.aclose()

    assert result == SendResult(provider_message_id="<reply.1@shop.test>")
    [received] = smtp_server.handler.received
    assert (received.mail_from, received.rcpt_tos) == (USER, ["sara@example.com"])
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message["Message-ID"] == "<reply.1@shop.test>"
    assert message["In-Reply-To"] == "<q1@example.com>"
    assert message["References"] == "<earlier@example.com> <q1@example.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Subject"] == "Re: Where is my order #1001?"
    [(flags, filed)] = dovecot.messages("Sent")
    assert b"\\Seen" in flags
    assert filed.replace(b"\r\n", b"\n") == received.data.replace(b"\r\n", b"\n")


async def test_a_refusal_for_good_is_rejected_and_a_temporary_one_deferred(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.handler.data_reply = "550 5.7.1 message refused"
    with pytest.raises(SendRejected, match="550"):
        await sender(smtp_server).send(reply())
    smtp_server.handler.data_reply = "451 4.3.0 try again later"
    with pytest.raises(SendDeferred, match="451"):
        await sender(smtp_server).send(reply())
    assert smtp_server.handler.received == []


async def test_a_connection_lost_after_the_message_went_out_is_uncertain(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.handler.drop_after_data = True
    with pytest.raises(SendUncertain):
        await sender(smtp_server).send(reply())


async def test_no_server_means_deferred_nothing_sent() -> None:
    unreachable = SmtpMailSender(
        host=HOST, port=free_port(), security="none", credentials=CREDENTIALS, timeout=2.0
    )
    with pytest.raises(SendDeferred, match="unreachable"):
        await unreachable.send(reply())


async def test_wrong_credentials_are_refused_for_good(smtp_server: SmtpServer) -> None:
    wrong = Credentials(user=USER, password=SecretStr("not-the-password"))
    with pytest.raises(SendRejected, match="sign-in refused: 535"):
        await sender(smtp_server, credentials=wrong).send(reply())


async def test_xoauth2_signs_in_with_a_refreshed_token(smtp_server: SmtpServer) -> None:
    requests: list[httpx.Request] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"access_token": "at-1", "expires_in": 3599})

    smtp_server.handler.token = "at-1"
    async with httpx.AsyncClient(transport=httpx.MockTransport(token_endpoint)) as client:
        oauth = OAuthRefresh(
            client=client,
            token_url=TOKEN_URL,
            client_id="client-1",
            client_secret=SecretStr("client-secret"),
            refresh_token=SecretStr("rt-1"),
        )
        mail = sender(smtp_server, credentials=Credentials(user=USER, oauth=oauth))
        await mail.send(reply())
        await mail.send(reply(message_id="<reply.2@shop.test>"))
    assert len(smtp_server.handler.received) == 2
    # One token served both sign-ins.
    assert len(requests) == 1


async def test_replies_from_another_address_go_through_the_other_sender(
    smtp_server: SmtpServer,
) -> None:
    class Other:
        kind = "other"
        sent: list[OutgoingEmail] = []

        async def send(self, outgoing: OutgoingEmail) -> SendResult:
            self.sent.append(outgoing)
            return SendResult(provider_message_id="other-1")

    other = Other()
    mail = sender(smtp_server, own_addresses=frozenset({USER}), others=other)
    result = await mail.send(reply(from_address="help@another-store.test"))
    assert result.provider_message_id == "other-1"
    assert smtp_server.handler.received == []
    await mail.send(reply())
    assert len(smtp_server.handler.received) == 1


async def test_a_copy_not_filed_in_sent_leaves_the_reply_sent(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = Endpoint(host=HOST, port=free_port(), security="none", timeout=2.0)
    mail = sender(smtp_server, sent_folder="Sent", imap=nowhere)
    with caplog.at_level(logging.WARNING):
        result = await mail.send(reply())
        await mail.aclose()
    assert result.provider_message_id == "<reply.1@shop.test>"
    assert "not filed in the Sent folder" in caplog.text
