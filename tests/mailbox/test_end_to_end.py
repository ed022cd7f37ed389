"""The product with a connected mailbox: mail read from Dovecot is answered by SMTP, filed in Sent.

Only the model is scripted; the IMAP server, the SMTP server, the database, the worker and the
demo store are real.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any

from sqlalchemy import select

from app.db.engine import Database
from app.db.models import Message, Reply
from app.db.scope import ALL_STORES
from app.intake.mailbox.sender import SmtpMailSender
from app.jobs.worker import Worker
from app.providers import Providers
from app.store.demo import DemoShop
from tests.builders import make_eml
from tests.conftest import SettingsFactory
from tests.fakes import ScriptedLLM, call, submit, turn
from tests.mailbox.conftest import CREDENTIALS, endpoint_of, eventually
from tests.mailbox.servers import HOST, USER, Dovecot, SmtpServer

AUTHSERV_ID = "mx.shop.test"


def question(*, results: str) -> bytes:
    raw = make_eml(
        sender="Sara Ahmadi <sara.ahmadi@example.com>",
        to=USER,
        subject="Where is my order #1001?",
        body="Hi, where is my order #1001?\n\nSara\n",
        message_id="<order-question@example.com>",
    )
    # The receiving server's verdict, on top, as it prepends it at delivery.
    return b"Authentication-Results: " + results.encode() + b"\r\n" + raw


async def test_mail_from_the_mailbox_is_answered_through_its_smtp_and_filed_in_sent(
    db: Database,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    run_poller: Any,
    make_settings: SettingsFactory,
) -> None:
    dovecot.create("Sent")
    settings = make_settings(MAILBOX_AUTHSERV_ID=AUTHSERV_ID)
    mail = SmtpMailSender(
        host=HOST,
        port=smtp_server.port,
        security="starttls",
        tls_context=smtp_server.client_context(),
        credentials=CREDENTIALS,
        sent_folder="Sent",
        imap=endpoint_of(dovecot),
    )
    model = ScriptedLLM(
        [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], paragraph="Thank you for your patience!")),
        ]
    )
    providers = Providers(shop=DemoShop(), llm=model, mail=mail)

    async with run_poller(authserv_id=AUTHSERV_ID):
        await eventually(lambda: _connected(db), what="connected")
        dovecot.deliver(
            question(
                results=f"{AUTHSERV_ID}; dkim=pass header.d=example.com; "
                "spf=pass smtp.mailfrom=sara.ahmadi@example.com"
            )
        )
        await eventually(lambda: _stored_count(db, 1), what="stored")
    assert await Worker(db=db, settings=settings, providers=providers).drain() >= 1
    await mail.aclose()

    async with db.read(ALL_STORES) as session:
        message = (await session.execute(select(Message))).scalar_one()
        reply = (await session.execute(select(Reply))).scalar_one()
    assert message.provider == "mailbox"
    assert message.sender_verified is True
    assert (message.status, reply.status) == ("answered", "sent")
    [received] = smtp_server.handler.received
    assert received.rcpt_tos == ["sara.ahmadi@example.com"]
    sent = email.message_from_bytes(received.data, policy=email.policy.default)
    assert sent["In-Reply-To"] == "<order-question@example.com>"
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["Message-ID"] == reply.rfc_message_id
    [(_, filed)] = dovecot.messages("Sent")
    assert reply.rfc_message_id is not None
    assert reply.rfc_message_id.encode() in bytes(filed)


async def test_a_sender_the_server_did_not_verify_gets_a_draft_not_a_reply(
    db: Database,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    run_poller: Any,
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(MAILBOX_AUTHSERV_ID=AUTHSERV_ID)
    mail = SmtpMailSender(
        host=HOST,
        port=smtp_server.port,
        security="starttls",
        tls_context=smtp_server.client_context(),
        credentials=CREDENTIALS,
    )
    model = ScriptedLLM(
        [
            turn(call("get_order", order_number="#1001")),
            turn(submit(show=["call_get_order"], paragraph="Thank you!")),
        ]
    )
    async with run_poller(authserv_id=AUTHSERV_ID):
        await eventually(lambda: _connected(db), what="connected")
        # "Verified" by a header the sender wrote: not the receiving server's, so not believed.
        dovecot.deliver(
            question(results="mx.elsewhere.test; dkim=pass header.d=example.com; spf=pass")
        )
        await eventually(lambda: _stored_count(db, 1), what="stored")
    providers = Providers(shop=DemoShop(), llm=model, mail=mail)
    await Worker(db=db, settings=settings, providers=providers).drain()
    async with db.read(ALL_STORES) as session:
        message = (await session.execute(select(Message))).scalar_one()
    assert message.sender_verified is False
    assert smtp_server.handler.received == []


async def _connected(db: Database) -> bool:
    from app.db.mailboxes import Mailbox

    async with db.read() as session:
        return (await session.execute(select(Mailbox.state))).scalar_one_or_none() == "connected"


async def _stored_count(db: Database, n: int = 0) -> bool:
    async with db.read(ALL_STORES) as session:
        return len((await session.execute(select(Message.id))).all()) == n


async def test_the_worker_reads_the_configured_mailbox_beside_its_claim_loop(
    db: Database, dovecot: Dovecot, make_settings: SettingsFactory
) -> None:
    import asyncio

    from app.agent.offline import OfflineModel

    settings = make_settings(
        MAILBOX_IMAP_HOST=HOST,
        MAILBOX_IMAP_PORT=dovecot.port,
        MAILBOX_IMAP_SECURITY="none",
        MAILBOX_USER=USER,
        MAILBOX_PASSWORD=CREDENTIALS.password.get_secret_value() if CREDENTIALS.password else "",
        MAILBOX_POLL_SECONDS=1,
        WORKER_POLL_SECONDS=30,
    )
    providers = Providers(shop=DemoShop(), llm=OfflineModel())
    worker = Worker(db=db, settings=settings, providers=providers)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, concurrency=2))
    try:
        await eventually(lambda: _connected(db), what="connected")
        dovecot.deliver(question(results="mx.elsewhere.test; spf=none"))
        # Filed well before the claim loop's 30 s poll: storing the email woke it.
        await eventually(lambda: _filed(db), seconds=10, what="filed by the worker")
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)


async def _filed(db: Database) -> bool:
    async with db.read(ALL_STORES) as session:
        statuses = (await session.execute(select(Message.status))).scalars().all()
    return bool(statuses) and all(status != "received" for status in statuses)
