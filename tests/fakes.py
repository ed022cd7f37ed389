"""Fakes for the outside world: a scripted language model, and Shopify at the HTTP boundary."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx

from app.agent.llm import LLMError, ModelRequest, ModelResponse, ToolCallRequest
from app.agent.loop import SUBMIT_TOOL
from app.demo.sendgrid_posts import raw_mode_post
from app.store.demo import DemoShop
from tests.store.demo_nodes import DemoNodes, graphql_response

SHOP_DOMAIN = "demo-test.myshopify.com"
SHOPIFY_ENDPOINT = f"https://{SHOP_DOMAIN}/admin/api/2026-10/graphql.json"
SENDGRID_SEND = "https://api.sendgrid.com/v3/mail/send"
LIVE_PROVIDERS: dict[str, Any] = {
    "SHOPIFY_SHOP_DOMAIN": SHOP_DOMAIN,
    "SHOPIFY_ACCESS_TOKEN": "shpat_test_token",
    "SENDGRID_API_KEY": "SG.test-key",
    "STORE_URL": "https://demo-store.example",
}
"""Settings that make `build_providers` talk HTTP to Shopify and SendGrid, which
`fake_shopify_and_sendgrid` then answers."""

Step = ModelResponse | LLMError | Callable[[ModelRequest], ModelResponse]


def call(name: str, call_id: str | None = None, **arguments: Any) -> ToolCallRequest:
    """A tool call as a model would make it."""
    return ToolCallRequest(
        call_id=call_id or f"call_{name}", name=name, arguments=json.dumps(arguments)
    )


def submit(
    *,
    intent: str = "order_status",
    confidence: float = 0.9,
    language: str = "en",
    show: list[str] | None = None,
    paragraph: str = "",
    needs_human: bool = False,
    handover_reason: str | None = None,
    call_id: str = "call_submit",
) -> ToolCallRequest:
    """The final `submit_reply_plan` call."""
    return call(
        SUBMIT_TOOL,
        call_id=call_id,
        intent=intent,
        confidence=confidence,
        language=language,
        show_results_of=show or [],
        paragraph=paragraph,
        needs_human=needs_human,
        handover_reason=handover_reason,
    )


def turn(*calls: ToolCallRequest, text: str | None = None, tokens: int = 100) -> ModelResponse:
    """One model response making these calls."""
    return ModelResponse(
        text=text,
        tool_calls=tuple(calls),
        finish_reason="completed",
        input_tokens=tokens,
        output_tokens=tokens // 10,
        model="scripted",
    )


@dataclass
class ScriptedLLM:
    """Answers from a script, one step per request, and records every request it got."""

    script: list[Step]
    kind: str = "scripted"
    model: str = "scripted-model"
    requests: list[ModelRequest] = field(default_factory=list)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if not self.script:
            raise AssertionError("the model was asked more often than the script allows")
        step = self.script.pop(0)
        if isinstance(step, LLMError):
            raise step
        if callable(step):
            return step(request)
        return step


class FakeShopify:
    """Shopify's Admin GraphQL endpoint at the HTTP boundary, answering from the demo data.

    Mount it on a respx route (`route.mock(side_effect=fake)`). It answers the service's
    queries with Admin-API-shaped bodies (the demo store's nodes, cost extensions included)
    and records every operation, so a test can prove that no mutation ever arrived.
    """

    def __init__(self, demo: DemoShop) -> None:
        self.demo = DemoNodes(demo.now)
        self.operations: list[str] = []

    @property
    def mutations(self) -> list[str]:
        """The mutations received (store changes): a safe pipeline sends none on its own."""
        return [op for op in self.operations if op.startswith("mutation ")]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        query, variables = str(body["query"]), body.get("variables") or {}
        found = re.search(r"\b(query|mutation)\s+(\w+)", query)
        if found is None:
            return httpx.Response(200, json={"errors": [{"message": "syntax error"}]})
        kind, name = found.groups()
        self.operations.append(f"{kind} {name}")
        if kind == "mutation":
            return httpx.Response(200, json=graphql_response({}))
        return httpx.Response(200, json=self._answer(name, variables))

    def _answer(self, name: str, variables: dict[str, Any]) -> dict[str, Any]:
        search = str(variables.get("query", ""))
        if name == "SupportOrders":
            numbers = re.findall(r"name:#?([A-Za-z0-9-]+)", search)
            email = re.search(r'email:"?([^"\s]+)"?', search)
            nodes = [
                node
                for node in self.demo.order_nodes()
                if (numbers and str(node["name"]).lstrip("#") in numbers)
                or (email and _order_email(node).lower() == email.group(1).lower())
            ]
            return graphql_response({"orders": {"nodes": nodes}}, requested_cost=52)
        if name == "SupportCustomer":
            email = re.search(r'email:"?([^"\s]+)"?', search)
            return self.demo.customers_response(email.group(1) if email else "")
        if name == "SupportProducts":
            words = [
                w for w in re.findall(r"[a-z]+", search.lower()) if w not in ("status", "active")
            ]
            nodes = [
                node
                for node in self.demo.product_nodes()
                if node.get("status") == "ACTIVE"
                and any(word in str(node["title"]).lower() for word in words)
            ]
            return graphql_response({"products": {"nodes": nodes}}, requested_cost=37)
        if name == "SupportCurrency":
            return graphql_response({"shop": {"currencyCode": "EUR"}})
        return self.demo.policies_response()


def _order_email(node: dict[str, Any]) -> str:
    return str(node.get("email") or (node.get("customer") or {}).get("email") or "")


def fake_shopify_and_sendgrid(router: respx.MockRouter) -> tuple[FakeShopify, respx.Route]:
    """Answer Shopify from the demo store and accept every SendGrid send, at the HTTP boundary."""
    shopify = FakeShopify(DemoShop())
    router.post(SHOPIFY_ENDPOINT).mock(side_effect=shopify)
    sendgrid = router.post(SENDGRID_SEND).mock(
        return_value=httpx.Response(202, headers={"X-Message-Id": "sg-msg-1"})
    )
    return shopify, sendgrid


async def post_email(http: httpx.AsyncClient, eml: bytes, domain: str) -> int:
    """Post one email to the real webhook as SendGrid would (DKIM-verified for `domain`)."""
    from tests.builders import verified_transport
    from tests.conftest import BASIC_AUTH

    post = raw_mode_post(eml, verified_transport(domain))
    response = await http.post(
        "/webhooks/sendgrid/inbound",
        content=post.body,
        headers={"content-type": post.content_type},
        auth=BASIC_AUTH,
    )
    assert response.status_code == 200, response.text
    pk: int = response.json()["id"]
    return pk
