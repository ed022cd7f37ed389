"""Reading a real mailbox (Dovecot): new mail stored once, restarts, UIDVALIDITY, failures."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import undefer

from app.db.engine import Database
from app.db.mailboxes import Mailbox
from app.db.models import Job, Message
from app.db.scope import ALL_STORES
from app.db.statuses import MessageStatus
from app.intake.mailbox import checkpoint
from app.mail.providers.mailbox import CONTENT_TYPE
from tests.builders import make_eml
from tests.mailbox.conftest import eventually
from tests.mailbox.servers import Dovecot


def email(n: int, **overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "subject": f"Question {n}",
        "body": f"Hello, this is question {n}.\n",
        "message_id": f"<q{n}@example.com>",
    }
    values.update(overrides)
    return make_eml(**values)


async def stored(db: Database) -> list[Message]:
    async with db.read(ALL_STORES) as session:
        rows = await session.execute(
            select(Message)
            .where(Message.provider == "mailbox")
            .order_by(Message.id)
            .options(undefer(Message.raw))
        )
        return list(rows.scalars())


async def row(db: Database) -> Mailbox:
    async with db.read() as session:
        found = (await session.execute(select(Mailbox))).scalar_one()
        session.expunge(found)
        return found


def count_is(db: Database, n: int) -> Any:
    async def check() -> bool:
        return len(await stored(db)) == n

    return check


async def test_new_mail_is_stored_with_its_job_and_flagged_processed(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller():
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(email(1))
        dovecot.deliver(email(2))
        await eventually(count_is(db, 2), what="two messages stored")
        await eventually(lambda: _all_flagged(dovecot, b"\\Seen"), what="flagged")

    first, second = await stored(db)
    assert (first.message_id, second.message_id) == ("<q1@example.com>", "<q2@example.com>")
    # Byte for byte as the server holds it (the delivery wrote CRLF line ends).
    assert first.raw == email(1).replace(b"\n", b"\r\n")
    assert (first.payload_format, first.content_type) == ("rfc822", CONTENT_TYPE)
    assert first.status == MessageStatus.RECEIVED
    async with db.read(ALL_STORES) as session:
        jobs = (await session.execute(select(Job.message_id))).scalars().all()
    assert sorted(j for j in jobs if j is not None) == [first.id, second.id]
    mailbox = await row(db)
    assert (mailbox.last_uid, mailbox.stored, mailbox.state) == (2, 2, "stopped")
    assert mailbox.lease_owner is None


async def test_mail_already_there_at_the_first_read_is_left_to_a_person(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    dovecot.deliver(email(1))
    async with run_poller():
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(email(2))
        await eventually(count_is(db, 1), what="the new message stored")
    assert [m.message_id for m in await stored(db)] == ["<q2@example.com>"]
    flags = [flags for flags, _ in dovecot.messages()]
    assert b"\\Seen" not in flags[0]
    assert b"\\Seen" in flags[1]


async def test_idle_brings_new_mail_without_waiting_for_the_next_poll(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller(poll_seconds=60.0):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        await asyncio.sleep(0.5)
        dovecot.deliver(email(1))
        # Well before the 60 s round: only the server's IDLE push can have said so.
        await eventually(count_is(db, 1), seconds=8, what="stored by IDLE")


async def test_a_restart_neither_misses_nor_repeats(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller():
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(email(1))
        dovecot.deliver(email(2))
        await eventually(count_is(db, 2), what="two stored")
    # Delivered while no worker reads the mailbox.
    dovecot.deliver(email(3))
    # A crash after storing message 2 but before the checkpoint passed it.
    async with db.write() as session:
        await session.execute(update(Mailbox).values(last_uid=1))
    async with run_poller(owner="another-worker"):
        await eventually(count_is(db, 3), what="the third stored")
        await eventually(lambda: _last_uid_is(db, 3), what="checkpoint at 3")
    assert [m.message_id for m in await stored(db)] == [
        "<q1@example.com>", "<q2@example.com>", "<q3@example.com>"
    ]  # fmt: skip


async def test_a_changed_uidvalidity_looks_again_and_stores_only_what_is_new(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    dovecot.create("Support")
    async with run_poller(folder="Support"):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(email(1), "Support")
        await eventually(count_is(db, 1), what="first stored")
    before = dovecot.uidvalidity("Support")
    # The folder is rebuilt (restored from a backup): same mail, new UIDs, new UIDVALIDITY.
    dovecot.delete("Support")
    dovecot.create("Support")
    dovecot.deliver(email(1), "Support")
    dovecot.deliver(email(2), "Support")
    assert dovecot.uidvalidity("Support") != before
    async with run_poller(folder="Support"):
        await eventually(count_is(db, 2), what="only the new one stored")
        await eventually(lambda: _last_uid_is(db, 2), what="checkpoint at 2")
    assert [m.message_id for m in await stored(db)] == ["<q1@example.com>", "<q2@example.com>"]
    assert (await row(db)).uidvalidity == dovecot.uidvalidity("Support")


async def test_a_dropped_connection_is_reconnected(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller(poll_seconds=30.0):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        logins = dovecot.logins()
        await asyncio.to_thread(dovecot.kick)
        await eventually(lambda: _logins_above(dovecot, logins), what="a new login")
        dovecot.deliver(email(1))
        await eventually(count_is(db, 1), what="stored after reconnecting")


async def test_a_server_down_is_reported_and_waited_for(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller():
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        # Its open sessions end too, as in a crash or a reboot.
        await asyncio.to_thread(dovecot.stop)
        await eventually(lambda: _state_is(db, "reconnecting"), what="reconnecting")
        assert (await row(db)).last_error
        await asyncio.to_thread(dovecot.start)
        await eventually(lambda: _state_is(db, "connected"), what="connected again")
        dovecot.deliver(email(1))
        await eventually(count_is(db, 1), what="stored")


async def test_a_wrong_password_is_reported_as_failed(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    from pydantic import SecretStr

    from app.intake.mailbox.oauth import Credentials

    async with run_poller() as poller:
        object.__setattr__(poller, "credentials", Credentials(user="x", password=SecretStr("y")))
        await eventually(lambda: _state_is(db, "failed"), what="failed")
    assert "LOGIN" in ((await row(db)).last_error or "")


async def test_a_message_too_large_is_quarantined_not_lost(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    big = email(1, body="x" * 6000 + "\n")
    async with run_poller(max_message_bytes=4096):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(big)
        dovecot.deliver(email(2))
        await eventually(count_is(db, 2), what="both recorded")
    oversized, normal = await stored(db)
    assert oversized.status == MessageStatus.QUARANTINED
    assert "over INBOUND_MAX_BODY_BYTES" in (oversized.status_reason or "")
    assert oversized.message_id == "<q1@example.com>"
    assert b"Subject: Question 1" in oversized.raw
    assert b"xxxx" not in oversized.raw
    assert normal.status == MessageStatus.RECEIVED
    # The large message stays in the mailbox, unmarked, for a person.
    flags = [flags for flags, _ in dovecot.messages()]
    assert b"\\Seen" not in flags[0]
    assert b"\\Seen" in flags[1]


async def test_processed_mail_can_be_moved_to_a_folder(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller(processed="move", processed_folder="Answered by us"):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        dovecot.deliver(email(1))
        await eventually(count_is(db, 1), what="stored")
        await eventually(lambda: _folder_size(dovecot, "INBOX", 0), what="moved")
    [(_, moved)] = dovecot.messages("Answered by us")
    assert b"<q1@example.com>" in moved


async def test_an_email_already_stored_by_a_webhook_is_not_answered_twice(
    db: Database, dovecot: Dovecot, run_poller: Any, client: Any
) -> None:
    from app.demo.sendgrid_posts import raw_mode_post
    from tests.conftest import BASIC_AUTH

    post = raw_mode_post(email(1))
    response = await client.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200
    async with run_poller():
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        # The mailbox's copy has a trace header more: same Message-ID, other bytes.
        dovecot.deliver(b"Received: from mx.example.com\r\n" + email(1))
        await eventually(count_is(db, 1), what="the mailbox's copy recorded")
    [copy] = await stored(db)
    assert copy.status == MessageStatus.SKIPPED
    async with db.read(ALL_STORES) as session:
        jobs = (await session.execute(select(Job.message_id))).scalars().all()
    assert copy.id not in jobs


async def test_only_one_worker_reads_the_mailbox(
    db: Database, dovecot: Dovecot, run_poller: Any
) -> None:
    async with run_poller(owner="first"):
        await eventually(lambda: _state_is(db, "connected"), what="connected")
        assert await checkpoint.take_lease(db, owner="second", folder="INBOX", seconds=60) is None
    # Released on stop: the next worker takes over at once.
    assert await checkpoint.take_lease(db, owner="second", folder="INBOX", seconds=60)


async def _state_is(db: Database, state: str) -> bool:
    async with db.read() as session:
        found = (await session.execute(select(Mailbox.state))).scalar_one_or_none()
    return found == state


async def _last_uid_is(db: Database, uid: int) -> bool:
    async with db.read() as session:
        found = (await session.execute(select(Mailbox.last_uid))).scalar_one_or_none()
    return found == uid


async def _all_flagged(dovecot: Dovecot, flag: bytes) -> bool:
    return all(flag in flags for flags, _ in await asyncio.to_thread(dovecot.messages))


async def _logins_above(dovecot: Dovecot, count: int) -> bool:
    return dovecot.logins() > count


async def _folder_size(dovecot: Dovecot, folder: str, size: int) -> bool:
    return len(await asyncio.to_thread(dovecot.messages, folder)) == size
