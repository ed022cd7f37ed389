"""search_help: the store's help articles, searched on the real database, quoted with their link."""

from __future__ import annotations

import json

import pytest

from app.agent.loop import AgentEmail, MemoryTrace, run_agent
from app.agent.offline import OfflineModel
from app.agent.plan import Intent, ReplyPlan
from app.db.engine import Database
from app.replies.render import ReplyInputs, StoreIdentity, render_reply
from app.replies.verify import gather_evidence, verify_reply
from app.store.demo import ANCHOR, DemoShop
from app.store.knowledge import StoreKnowledge, import_demo_knowledge
from app.tools import tool_registry
from app.tools.help import NO_ARTICLES, HelpFacts
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender, ToolContext
from app.tools.kit.registry import Scope
from tests.tools.calls import assert_facts_are_the_content, invoke

GIFTS = "https://demo-store.example/pages/gift-wrapping"
GIFTS_FA = "https://demo-store.example/fa/pages/gift-wrapping"
STORE = StoreIdentity(name="Demo Store", support_email="support@demo-store.example")
CUSTOMER = "kim@example.com"


@pytest.fixture
async def ctx(db: Database) -> ToolContext:
    await import_demo_knowledge(db.for_store(1))
    return ToolContext(
        shop=DemoShop(now=ANCHOR),
        sender=None,
        journal=MemoryJournal(),
        knowledge=StoreKnowledge(db.for_store(1)),
        now=ANCHOR,
    )


def test_it_is_public() -> None:
    tool = tool_registry().get("search_help")
    assert tool is not None
    assert tool.scope is Scope.PUBLIC
    assert not tool.needs_approval


async def test_an_unverified_sender_gets_passages_with_their_article_links(
    ctx: ToolContext,
) -> None:
    result = await invoke(ctx, "search_help", {"query": "can you gift wrap my order?"})
    assert_facts_are_the_content(result)
    passages = json.loads(result.content)["passages"]
    assert passages[0]["url"] == GIFTS
    assert passages[0]["title"] == "Gift wrapping and gift messages"
    assert "gift" in passages[0]["passage"].lower()
    assert len(passages) <= 3


async def test_a_persian_question_finds_the_persian_article(ctx: ToolContext) -> None:
    result = await invoke(ctx, "search_help", {"query": "مي‌خواهم سفارشم را كادوپيچ كنيد"})
    assert json.loads(result.content)["passages"][0]["url"] == GIFTS_FA


async def test_nothing_found_and_no_library_are_misses_that_say_do_not_invent(
    ctx: ToolContext,
) -> None:
    nothing = await invoke(ctx, "search_help", {"query": "zzqx wibble"})
    assert (nothing.outcome, nothing.content) == (CallOutcome.NOT_FOUND, NO_ARTICLES)
    bare = ToolContext(shop=DemoShop(now=ANCHOR), sender=None, journal=MemoryJournal())
    none = await invoke(bare, "search_help", {"query": "gift wrapping"})
    assert none.outcome is CallOutcome.NOT_FOUND


async def test_the_reply_quotes_the_passage_links_the_article_and_passes_the_verifier(
    ctx: ToolContext,
) -> None:
    result = await invoke(ctx, "search_help", {"query": "gift wrapping message"})
    assert isinstance(result.facts, HelpFacts)
    plan = ReplyPlan(intent=Intent.OTHER, confidence=0.9, language="en", template="other")
    reply = render_reply(
        ReplyInputs(
            plan=plan,
            facts=(result.facts,),
            sender_name="Kim",
            sender_verified=True,
            original_subject="Gift wrapping?",
        ),
        store=STORE,
    )
    passage = result.facts.passages[0].passage
    assert f'href="{GIFTS}"' in reply.html
    assert GIFTS in reply.text
    assert passage.split("\n")[-1][:60] in reply.text
    evidence = gather_evidence(
        [result.content], customer_text="Gift wrapping?", store_hosts=["shop.example"]
    )
    problems = verify_reply(
        reply,
        evidence=evidence,
        recipient=CUSTOMER,
        verified_sender=CUSTOMER,
        own_addresses=["support@demo-store.example"],
    )
    assert problems == []
    # The link is allowed because the tool result carries it: without it, the verifier refuses.
    without = gather_evidence([], customer_text="Gift wrapping?", store_hosts=["shop.example"])
    refused = verify_reply(
        reply,
        evidence=without,
        recipient=CUSTOMER,
        verified_sender=CUSTOMER,
        own_addresses=["support@demo-store.example"],
    )
    assert any("demo-store.example is not an allowed host" in p for p in refused)


async def test_the_offline_model_searches_help_for_a_how_to_question(ctx: ToolContext) -> None:
    registry = tool_registry()
    outcome = await run_agent(
        AgentEmail(
            subject="Question",
            text="Hello, how should I wash my merino sweater? Thanks, Kim",
            sender_name="Kim",
        ),
        ctx=ctx,
        llm=OfflineModel(),
        trace=MemoryTrace(),
        store_name="Demo Store",
        registry=registry,
    )
    assert isinstance(ctx.journal, MemoryJournal)
    calls = {c.tool: c for c in ctx.journal.calls}
    assert "search_help" in calls
    assert calls["search_help"].outcome is CallOutcome.OK
    facts = calls["search_help"].facts or {}
    assert facts["passages"][0]["url"] == "https://demo-store.example/pages/care"
    assert outcome.plan.intent is not Intent.SPAM_OR_IRRELEVANT


async def test_the_offline_model_does_not_search_help_for_an_order_question(
    ctx: ToolContext,
) -> None:
    await run_agent(
        AgentEmail(
            subject="Where is my order #1001?", text="It has not arrived yet.", sender_name="Kim"
        ),
        ctx=ToolContext(
            shop=DemoShop(now=ANCHOR),
            sender=Sender(email=CUSTOMER),
            journal=ctx.journal,
            knowledge=ctx.knowledge,
        ),
        llm=OfflineModel(),
        trace=MemoryTrace(),
        store_name="Demo Store",
    )
    assert isinstance(ctx.journal, MemoryJournal)
    assert "search_help" not in {c.tool for c in ctx.journal.calls}
