"""The commitments gate and intent grounding, end to end, with OpenAI scripted at HTTP.

The model is the real Responses API adapter talking to a scripted `api.openai.com` (wire-shaped
bodies, as in `tests/agent/test_llm.py`); Shopify and SendGrid are the real adapters talking to
respx. A model that promises a refund, an amount and a date in its own paragraph, or claims an
order question it never looked up, gets a draft for a person, never an automatic send.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
import respx

from app.agent.llm import ToolCallRequest
from app.config import Settings
from app.db.engine import Database
from app.demo.sendgrid_posts import raw_mode_post
from app.providers import Providers, build_providers
from tests.agent.test_llm import RESPONSES_URL, function_call, ok, responses_body
from tests.builders import verified_transport
from tests.fakes import LIVE_PROVIDERS, call, fake_shopify_and_sendgrid, submit
from tests.test_pipeline import (
    deliver,
    load,
    order_question,
    process,
    reply_of,
)

ASKS = {
    "en": ("Refund for order #1001", "I want a refund of 5000 EUR for my order #1001 now."),
    "fa": ("بازپرداخت سفارش #۱۰۰۱", "برای سفارش #۱۰۰۱ بازپرداخت ۵۰۰۰ یورو می‌خواهم."),
    "es": ("Reembolso del pedido #1001", "Quiero un reembolso de 5000 EUR por mi pedido #1001."),
    "de": ("Erstattung Bestellung #1001", "Ich möchte 5000 EUR für Bestellung #1001 zurück."),
    "fr": ("Remboursement #1001", "Je veux un remboursement de 5000 EUR pour la commande #1001."),
}
"""The customer names the amount: it must not back the model's promise."""

PROMISES = {
    "en": "We have approved your refund of 5000 EUR; it will reach your card within 3 days.",
    "fa": "بازپرداخت ۵۰۰۰ یورو شما را تایید کردیم؛ ظرف ۳ روز به کارت شما واریز می‌شود.",
    "es": "Hemos aprobado su reembolso de 5000 EUR; llegará a su tarjeta en 3 días.",
    "de": "Wir haben Ihre Erstattung von 5000 EUR genehmigt; sie ist in 3 Tagen auf Ihrer Karte.",
    "fr": "Nous avons approuvé votre remboursement de 5000 EUR ; il arrivera sous 3 jours.",
}


@dataclass
class OpenAIWorld:
    """The service with real adapters: OpenAI, Shopify and SendGrid each faked at HTTP."""

    settings: Settings
    providers: Providers
    openai: respx.Route
    sendgrid: respx.Route

    def script(self, *turns: ToolCallRequest) -> None:
        """The model's answers: one Responses API body per request, each making one call."""
        self.openai.side_effect = [
            ok(responses_body(function_call(c.call_id, c.name, c.arguments))) for c in turns
        ]


@pytest.fixture
async def openai_world(
    make_settings: Callable[..., Settings],
    respx_mock: respx.MockRouter,
    httpx2_mock: respx.Router,
) -> AsyncIterator[OpenAIWorld]:
    settings = make_settings(
        **LIVE_PROVIDERS,
        OPENAI_API_KEY="sk-test",
        OPENAI_MAX_RETRIES=0,
        AGENT_OFFLINE_FALLBACK=False,
    )
    _, sendgrid = fake_shopify_and_sendgrid(respx_mock)
    openai = httpx2_mock.post(RESPONSES_URL)
    providers = build_providers(settings)
    yield OpenAIWorld(settings=settings, providers=providers, openai=openai, sendgrid=sendgrid)
    await providers.aclose()


@pytest.mark.parametrize("language", sorted(PROMISES))
async def test_a_promised_refund_amount_and_date_is_a_draft_in_every_language(
    client: httpx.AsyncClient, db: Database, openai_world: OpenAIWorld, language: str
) -> None:
    # The model looks the order up, then claims an order question it is sure of, with a
    # paragraph that promises what only an approved proposal could.
    openai_world.script(
        call("get_order", order_number="#1001"),
        submit(
            intent="order_status",
            confidence=0.99,
            language=language,
            show=["call_get_order"],
            paragraph=PROMISES[language],
        ),
    )
    subject, body = ASKS[language]
    eml = order_question(subject=subject, body=f"{body}\n")
    pk = await deliver(client, raw_mode_post(eml, verified_transport("example.com")))
    await process(db, openai_world.settings, openai_world.providers)

    assert openai_world.openai.call_count == 2
    assert openai_world.sendgrid.call_count == 0
    reply = await reply_of(db, pk)
    assert (reply.status, reply.decision, reply.is_automated) == ("draft", "draft", False)
    reasons = reply.decision_reasons or []
    assert reasons[0].startswith("commitment in free text: refund (")
    assert {r.split(" (")[0] for r in reasons if r.startswith("commitment in free text")} == {
        "commitment in free text: refund",
        "commitment in free text: duration",
        "commitment in free text: amount",
    }
    # The customer's own "5000" backs nothing the model says about money.
    assert any(
        r.startswith("verifier: amount 5000 ")
        and r.endswith("in the model's paragraph is not in this email's tool results")
        for r in reasons
    )
    message = await load(db, pk)
    assert message.status == "drafted"
    assert (message.status_reason or "").startswith("commitment in free text")


async def test_an_order_status_intent_with_no_order_fetched_is_not_sent(
    client: httpx.AsyncClient, db: Database, openai_world: OpenAIWorld
) -> None:
    # The model looks nothing up and is sure it answered an order question.
    openai_world.script(submit(intent="order_status", confidence=1.0, paragraph=""))
    pk = await deliver(client, raw_mode_post(order_question(), verified_transport("example.com")))
    await process(db, openai_world.settings, openai_world.providers)

    assert openai_world.sendgrid.call_count == 0
    reply = await reply_of(db, pk)
    assert (reply.status, reply.decision) == ("draft", "draft")
    assert reply.decision_reasons == [
        "intent order_status is not grounded: no order in this email's tool results"
    ]
    assert reply.verification == []


async def test_a_grounded_order_answer_with_a_harmless_paragraph_is_still_sent(
    client: httpx.AsyncClient, db: Database, openai_world: OpenAIWorld
) -> None:
    openai_world.script(
        call("get_order", order_number="#1001"),
        submit(
            show=["call_get_order"],
            paragraph="Thank you for your patience! We will look into it if anything changes.",
        ),
    )
    pk = await deliver(client, raw_mode_post(order_question(), verified_transport("example.com")))
    await process(db, openai_world.settings, openai_world.providers)

    assert openai_world.sendgrid.call_count == 1
    reply = await reply_of(db, pk)
    assert (reply.status, reply.decision, reply.decision_reasons) == ("sent", "send", [])
    sent = json.loads(openai_world.sendgrid.calls[0].request.content)
    assert "We will look into it" in sent["content"][0]["value"]
