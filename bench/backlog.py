"""A stored backlog of emails, and providers that answer at once or after real-world latencies.

The fakes answer like the real providers would for an order-status email from a verified
customer (a `get_order` turn, then the final plan), so every email takes the auto-send path:
either at once (to measure the service's own cost) or after the latencies a real model and
store take (to measure concurrency).
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from app.agent.llm import ModelRequest, ModelResponse, ToolCallRequest, ToolOutput, UserText
from app.agent.loop import SUBMIT_TOOL
from app.db.engine import Database
from app.db.statuses import MessageStatus
from app.demo.sendgrid_posts import Transport, raw_mode_post
from app.intake.messages import NewDelivery
from app.intake.writer import IntakeWriter
from app.mail.formdata import parse_form_data
from app.mail.providers.sendgrid import read_delivery
from app.providers import Providers
from app.replies.senders import LogMailSender
from app.store.demo import DemoShop
from app.store.models import Order

CUSTOMERS = (
    ("sara.ahmadi@example.com", "#1001"),
    ("reza@example.ir", "#1005"),
    ("lena@example.de", "#1007"),
)
"""Demo-store customers and one of their own orders."""
ORDER_NUMBER = re.compile(r"#\d{4}")


def delivery(n: int, *, verified: bool = True) -> NewDelivery:
    """The n-th stored email: a customer asking where their own order is.

    Verified: SPF and DKIM passed for the From domain; else neither was checked (no customer
    data reaches the reply, and it waits as a draft).
    """
    customer, order = CUSTOMERS[n % len(CUSTOMERS)]
    domain = customer.rpartition("@")[2]
    eml = (
        f"From: Customer {n} <{customer}>\r\nTo: support@demo-store.example\r\n"
        f"Subject: Where is my order {order}? ({n})\r\nDate: Sun, 22 Nov 2026 09:00:00 +0000\r\n"
        f"Message-ID: <backlog-{n}@{domain}>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hi, I ordered a linen shirt last week (order {order}) and the tracking page has not "
        "changed since Tuesday. Could you tell me where it is? Thanks\r\n"
    ).encode()
    transport = (
        Transport(envelope_from=customer, spf="pass", dkim=f"{{@{domain} : pass}}")
        if verified
        else Transport(envelope_from=customer, spf="none", dkim="none")
    )
    post = raw_mode_post(eml, transport)
    form = parse_form_data(post.body, post.content_type, max_parts=100)
    found = read_delivery(form)
    return NewDelivery(
        provider="sendgrid",
        payload_format=found.payload_format,
        content_type=post.content_type,
        raw=post.body,
        checksum=found.checksum,
        message_id=found.message_id,
        has_synthetic_message_id=found.has_synthetic_message_id,
        status=MessageStatus.RECEIVED,
    )


async def store_backlog(db: Database, count: int, *, start: int = 0, verified: bool = True) -> None:
    """Store `count` emails and their jobs as the webhook would (group-committed)."""
    writer = IntakeWriter(db)
    for offset in range(start, start + count, 1000):
        end = min(start + count, offset + 1000)
        batch = [delivery(n, verified=verified) for n in range(offset, end)]
        await asyncio.gather(*(writer.store(d) for d in batch))


class ScriptLLM:
    """Answers every email like a model would for an order-status question, after `latency`."""

    kind = "bench"
    model = "bench-script"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.turns = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """First turn: look the order up; second turn: the plan showing it."""
        if self.latency:
            await asyncio.sleep(self.latency)
        self.turns += 1
        outputs = [item for item in request.items if isinstance(item, ToolOutput)]
        if not outputs:
            texts = " ".join(item.text for item in request.items if isinstance(item, UserText))
            found = ORDER_NUMBER.search(texts)
            number = found.group() if found else "#1001"
            call = ToolCallRequest(
                call_id="c1", name="get_order", arguments=json.dumps({"order_number": number})
            )
        else:
            plan: dict[str, Any] = {
                "intent": "order_status",
                "confidence": 0.9,
                "language": "en",
                "show_results_of": ["c1"],
                "paragraph": "",
                "needs_human": False,
                "handover_reason": None,
            }
            call = ToolCallRequest(call_id="c2", name=SUBMIT_TOOL, arguments=json.dumps(plan))
        return ModelResponse(
            text=None,
            tool_calls=(call,),
            finish_reason="completed",
            input_tokens=1800,
            output_tokens=60,
            model=self.model,
        )


class SlowShop(DemoShop):
    """The demo store, answering each read after `latency` seconds, like Shopify over HTTP."""

    def __init__(self, latency: float) -> None:
        super().__init__()
        self.latency = latency

    async def find_order(self, number: str, *, customer_email: str) -> Order | None:
        """`DemoShop.find_order` after the latency."""
        await asyncio.sleep(self.latency)
        return await super().find_order(number, customer_email=customer_email)


def bench_providers(
    outbox: Path, *, model_latency: float = 0.0, shop_latency: float = 0.0
) -> Providers:
    """The demo store and the scripted model (after the latencies given), replies to files."""
    shop = SlowShop(shop_latency) if shop_latency else DemoShop()
    return Providers(shop=shop, llm=ScriptLLM(model_latency), mail=LogMailSender(outbox))
