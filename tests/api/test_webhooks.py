"""The SendGrid Inbound Parse webhook: status codes are promises about retries."""

from __future__ import annotations

import httpx

from app.demo.sendgrid_posts import raw_mode_post
from tests.builders import make_eml
from tests.conftest import BASIC_AUTH

URL = "/webhooks/sendgrid/inbound"


async def test_accepts_and_stores_a_raw_mode_post(client: httpx.AsyncClient) -> None:
    post = raw_mode_post(make_eml())
    response = await client.post(
        URL, content=post.body, headers={"content-type": post.content_type}, auth=BASIC_AUTH
    )
    assert response.status_code == 200
    assert response.json()["status"] == "received"
