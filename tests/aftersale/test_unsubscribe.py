"""Unsubscribing (RFC 8058): every proactive email names its one-click URL in List-Unsubscribe
with List-Unsubscribe-Post; a mail client's one-click POST unsubscribes at once, with no login
and no CSRF token (the signed URL is the credential); a GET only shows the page."""

from __future__ import annotations

from email import message_from_bytes

import httpx
import pytest
from sqlalchemy import select

from app.config import Settings
from app.db.aftersale import FollowUp, Unsubscribe
from app.db.engine import Database
from app.db.scope import ALL_STORES
from app.db.statuses import FollowUpKind
from app.replies.links import Purpose, sign
from app.replies.senders import as_mime, sendgrid_payload
from tests.aftersale.rows import ORIGIN, SECRET, T0
from tests.aftersale.test_satisfaction import email
from tests.builders import IN_DEFAULT_STORE
from tests.conftest import SettingsFactory

ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(SATISFACTION_SECRET=SECRET, AFTERSALE_PUBLIC_URL=ORIGIN)


async def add_followup(db: Database, address: str = "Sara@Example.com") -> int:
    async with db.write(IN_DEFAULT_STORE) as session:
        followup = FollowUp(
            kind=FollowUpKind.CHECKIN,
            source_key="gid://shopify/Order/1",
            address=address.lower(),
            due_at=T0,
        )
        session.add(followup)
        await session.flush()
        return followup.id


def url(followup_id: int, secret: str = SECRET) -> str:
    return f"/u/{sign(secret.encode(), Purpose.UNSUBSCRIBE, followup_id, expires=None)}"


async def unsubscribed(db: Database) -> list[tuple[int, str, bool]]:
    async with db.read(ALL_STORES) as session:
        rows = (await session.execute(select(Unsubscribe))).scalars()
        return [(row.store_id, row.address, row.one_click) for row in rows]


def test_a_proactive_email_carries_the_one_click_headers_and_a_reply_does_not() -> None:
    link = f"{ORIGIN}/u/unsub.1.0.sig"
    proactive = email(list_unsubscribe=link)

    headers = proactive.threading_headers()
    assert headers["List-Unsubscribe"] == f"<{link}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Auto-Submitted"] == "auto-generated"
    assert sendgrid_payload(proactive)["headers"]["List-Unsubscribe"] == f"<{link}>"
    mime = message_from_bytes(as_mime(proactive))
    assert mime["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    reply = email().threading_headers()
    assert "List-Unsubscribe" not in reply
    assert reply["Auto-Submitted"] == "auto-replied"


async def test_the_one_click_post_as_mail_clients_send_it_unsubscribes_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    followup = await add_followup(db)

    answer = await client.post(
        url(followup), content="List-Unsubscribe=One-Click", headers=ONE_CLICK
    )

    assert answer.status_code == 200
    assert await unsubscribed(db) == [(1, "sara@example.com", True)]
    # Again (a client retrying): still one entry, still fine.
    again = await client.post(
        url(followup), content="List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert again.status_code == 200
    assert len(await unsubscribed(db)) == 1


async def test_get_shows_the_page_and_unsubscribes_nobody(
    client: httpx.AsyncClient, db: Database
) -> None:
    followup = await add_followup(db)

    page = await client.get(url(followup))

    assert page.status_code == 200
    assert f'<form method="post" action="{url(followup)}">' in page.text
    assert await unsubscribed(db) == []
    pressed = await client.post(url(followup), content="source=page", headers=ONE_CLICK)
    assert pressed.status_code == 200
    assert await unsubscribed(db) == [(1, "sara@example.com", False)]


async def test_a_forged_unsubscribe_link_is_refused(
    client: httpx.AsyncClient, db: Database
) -> None:
    followup = await add_followup(db)

    forged = await client.post(
        url(followup, secret="not-ours"), content="List-Unsubscribe=One-Click", headers=ONE_CLICK
    )

    assert forged.status_code == 404
    assert await unsubscribed(db) == []
