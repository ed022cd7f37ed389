"""The agent's limits end to end: tool-call caps, repeated calls, and unusable model output.

An email is posted to the real webhook and the real worker drains it. OpenAI (both APIs) and
Shopify are faked at the HTTP boundary, so the real SDK, the real adapters and the real
database (SQLite, or PostgreSQL with TEST_DATABASE_URL) take part.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select

from app.admin import reporting
from app.config import Settings
from app.db.engine import Database
from app.db.models import Job, Message, ModelTurn, ToolCall
from app.db.scope import ALL_STORES
from app.demo.sendgrid_posts import raw_mode_post
from app.providers import Providers, build_providers
from app.store.demo import DemoShop
from tests.agent.test_llm import CHAT, RESPONSES, Api, message_item, output_text
from tests.builders import verified_transport
from tests.fakes import SHOP_DOMAIN, SHOPIFY_ENDPOINT, FakeShopify
from tests.test_pipeline import (
    deliver,
    load,
    order_question,
    process,
    reply_of,
)

APIS = pytest.mark.parametrize("api", [RESPONSES, CHAT], ids=lambda a: a.name)
LONE = "\ud800"
Call = tuple[str, str, str]


def confident_plan(show: list[str]) -> str:
    return json.dumps(
        {
            "intent": "order_status",
            "confidence": 0.95,
            "language": "en",
            "show_results_of": show,
            "paragraph": "",
            "needs_human": False,
            "handover_reason": None,
        }
    )


def wire(body: dict[str, Any]) -> httpx.Response:
    """The body as a server sends it: JSON with non-ASCII escaped, lone surrogates included."""
    return httpx.Response(
        200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )


@dataclass
class Service:
    """The service with OpenAI and Shopify faked at HTTP; the model answers from `script`."""

    api: Api
    settings: Settings
    providers: Providers
    shopify: FakeShopify
    script: list[dict[str, Any]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    """The JSON of every request OpenAI received."""
    lookups_before: list[int] = field(default_factory=list)
    """How many order lookups Shopify had received when each model request arrived."""

    @property
    def lookups(self) -> int:
        return self.shopify.operations.count("query SupportOrders")

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        self.lookups_before.append(self.lookups)
        if not self.script:
            raise AssertionError("the model was asked more often than the script allows")
        return wire(self.script.pop(0))

    def turn(self, *calls: Call) -> dict[str, Any]:
        return self.api.calls(*calls)


@pytest.fixture
async def make_service(
    make_settings: Callable[..., Settings],
    respx_mock: respx.MockRouter,
    httpx2_mock: respx.Router,
) -> AsyncIterator[Callable[..., Service]]:
    built: list[Providers] = []

    def build(api: Api, **overrides: Any) -> Service:
        settings = make_settings(
            SHOPIFY_SHOP_DOMAIN=SHOP_DOMAIN,
            SHOPIFY_ACCESS_TOKEN="shpat_test_token",
            OPENAI_API_KEY="sk-test",
            OPENAI_API_MODE=api.name,
            OPENAI_MAX_RETRIES=0,
            AGENT_OFFLINE_FALLBACK=False,
            **overrides,
        )
        shopify = FakeShopify(DemoShop())
        respx_mock.post(SHOPIFY_ENDPOINT).mock(side_effect=shopify)
        providers = build_providers(settings)
        built.append(providers)
        service = Service(api=api, settings=settings, providers=providers, shopify=shopify)
        httpx2_mock.post(api.url).mock(side_effect=service.answer)
        return service

    yield build
    for providers in built:
        await providers.aclose()


async def handle_one(client: httpx.AsyncClient, db: Database, service: Service) -> int:
    pk = await deliver(client, raw_mode_post(order_question(), verified_transport("example.com")))
    await process(db, service.settings, service.providers)
    return pk


async def jobs(db: Database) -> list[tuple[str, str, int]]:
    async with db.read(ALL_STORES) as session:
        rows = (await session.execute(select(Job).order_by(Job.id))).scalars()
        return [(job.kind.value, job.status.value, job.attempts) for job in rows]


def outputs(api: Api, body: dict[str, Any]) -> list[str]:
    return list(api.outputs(body).values())


# --- Caps ------------------------------------------------------------------------------------


@APIS
async def test_a_model_asking_for_300_calls_a_turn_gets_8_a_turn_and_20_an_email(
    api: Api, client: httpx.AsyncClient, db: Database, make_service: Callable[..., Service]
) -> None:
    service = make_service(api)
    numbers = itertools.count(5000)
    for step in range(3):
        service.script.append(
            service.turn(
                *(
                    (
                        f"call_{step}_{n}",
                        "get_order",
                        json.dumps({"order_number": f"#{next(numbers)}"}),
                    )
                    for n in range(300)
                )
            )
        )
    service.script.append(service.turn(("call_plan", "submit_reply_plan", confident_plan([]))))
    pk = await handle_one(client, db, service)

    caused = [b - a for a, b in itertools.pairwise(service.lookups_before)]
    assert caused == [8, 8, 4]
    assert service.lookups == 20
    # Every one of the 900 calls was answered, so each request stayed valid for the API.
    last = service.bodies[-1]
    api.assert_paired(last)
    assert len(api.echoed_calls(last)) == 900
    assert sum(o.startswith("Not run: cap reached") for o in outputs(api, last)) == 880
    async with db.read(ALL_STORES) as session:
        recorded = (await session.execute(select(ToolCall))).scalars().all()
    assert len(recorded) == 20
    # The model was sure of its plan; a cap was hit, so a person sees the reply first.
    message = await load(db, pk)
    reply = await reply_of(db, pk)
    assert (message.status, reply.status) == ("drafted", "draft")
    assert "needs a person: cap_hit" in (reply.decision_reasons or [])
    assert await jobs(db) == [("process_inbound", "done", 1)]


@APIS
async def test_repeated_calls_are_looked_up_once_and_answered_from_the_first_result(
    api: Api, client: httpx.AsyncClient, db: Database, make_service: Callable[..., Service]
) -> None:
    service = make_service(api)
    service.script = [
        service.turn(
            ("call_1", "get_order", '{"order_number":"#1001"}'),
            ("call_2", "get_order", '{"order_number":"#1001"}'),
            ("call_3", "get_order", '{ "order_number" : "#1001" }'),
        ),
        service.turn(("call_4", "get_order", '{"order_number":"#1001"}')),
        service.turn(("call_plan", "submit_reply_plan", confident_plan(["call_4"]))),
    ]
    pk = await handle_one(client, db, service)

    assert service.lookups == 1
    second, third = service.bodies[1], service.bodies[2]
    assert len(set(outputs(api, second))) == 1
    assert api.outputs(third)["call_4"] == api.outputs(second)["call_1"]
    async with db.read(ALL_STORES) as session:
        rows = (await session.execute(select(ToolCall).order_by(ToolCall.id))).scalars().all()
    assert [(row.call_id, row.outcome) for row in rows] == [
        ("call_1", "ok"),
        ("call_2", "duplicate"),
        ("call_3", "duplicate"),
        ("call_4", "duplicate"),
    ]
    # The plan showed the repeat; the reply shows the order from the first lookup, and goes out.
    reply = await reply_of(db, pk)
    assert (reply.status, (await load(db, pk)).status) == ("sent", "answered")
    assert "#1001" in (reply.text_body or "")


# --- Output that cannot be sent back ---------------------------------------------------------


def with_call(api: Api, **fields: Any) -> dict[str, Any]:
    """One `get_order` call with some of its fields replaced (or removed, when None)."""
    body = api.calls(("call_1", "get_order", '{"order_number":"#1001"}'))
    if api is RESPONSES:
        target = body["output"][0]
        names = {"call_id": "call_id", "name": "name", "arguments": "arguments"}
    else:
        call = body["choices"][0]["message"]["tool_calls"][0]
        target = call["function"]
        names = {"name": "name", "arguments": "arguments"}
        if "call_id" in fields:
            call["id"] = fields.pop("call_id")
    for key, value in fields.items():
        if value is None:
            del target[names[key]]
        else:
            target[names[key]] = value
    return body


def with_text(api: Api, text: str) -> dict[str, Any]:
    """A valid call, and text the assistant wrote beside it."""
    body = with_call(api)
    if api is RESPONSES:
        body["output"].insert(0, message_item(output_text(text)))
    else:
        body["choices"][0]["message"]["content"] = text
    return body


BAD_OUTPUT: dict[str, Callable[[Api], dict[str, Any]]] = {
    "lone-surrogate-in-arguments": lambda api: with_call(
        api, arguments='{"order_number":"#1001' + LONE + '"}'
    ),
    "escaped-lone-surrogate": lambda api: with_call(
        api, arguments='{"order_number":"#1001\\ud800"}'
    ),
    "lone-surrogate-in-text": lambda api: with_text(api, "Let me check" + LONE),
    "invalid-json": lambda api: with_call(api, arguments='{"order_number": "#10'),
    "arguments-not-an-object": lambda api: with_call(api, arguments='["#1001"]'),
    "arguments-an-object-on-the-wire": lambda api: with_call(
        api, arguments={"order_number": "#1001"}
    ),
    "arguments-a-number": lambda api: with_call(api, arguments=1001),
    "name-missing": lambda api: with_call(api, name=None),
    "id-a-number": lambda api: with_call(api, call_id=7),
}


@APIS
@pytest.mark.parametrize("kind", list(BAD_OUTPUT))
async def test_output_that_cannot_be_sent_back_is_handed_to_a_person(
    api: Api,
    kind: str,
    client: httpx.AsyncClient,
    db: Database,
    make_service: Callable[..., Service],
) -> None:
    service = make_service(api)
    service.script = [BAD_OUTPUT[kind](api)]
    pk = await handle_one(client, db, service)

    # One model request: the output never went back, and nothing was looked up for it.
    assert len(service.bodies) == 1
    assert service.lookups == 0
    # The job is done (not failed, not waiting for a retry); the email is drafted for a person.
    assert await jobs(db) == [("process_inbound", "done", 1)]
    message = await load(db, pk)
    assert message.status == "drafted"
    assert "needs a person: model_error" in (message.status_reason or "")
    reply = await reply_of(db, pk)
    assert reply.status == "draft"
    # The turn is in the trace, with why it could not be used, and staff can read the trace.
    async with db.read(ALL_STORES) as session:
        [model_turn] = (await session.execute(select(ModelTurn))).scalars().all()
        trace = await reporting.message_trace(session, pk)
    assert (model_turn.error or "").startswith("unusable model output:")
    assert model_turn.response is not None
    assert trace is not None
    trace.model_dump_json().encode("utf-8")


async def test_unusable_output_is_not_put_off_like_an_outage(
    client: httpx.AsyncClient, db: Database, make_service: Callable[..., Service]
) -> None:
    # With OUTAGE_MODE=retry an outage waits for the provider; a broken answer will not mend.
    service = make_service(RESPONSES, OUTAGE_MODE="retry")
    service.script = [with_call(RESPONSES, arguments='{"order_number":"' + LONE + '"}')]
    pk = await handle_one(client, db, service)
    assert await jobs(db) == [("process_inbound", "done", 1)]
    message: Message = await load(db, pk)
    assert (message.status, message.reply_plan is not None) == ("drafted", True)
