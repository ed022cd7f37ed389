"""The offline model reaches tools only through the hints the tools declare."""

from __future__ import annotations

from pydantic import BaseModel

from app.agent.loop import AgentEmail, AgentOutcome, MemoryTrace, run_agent
from app.agent.offline import TOPICS, OfflineModel, clues_of
from app.agent.reading import read_email
from app.store.demo import ANCHOR, DemoShop
from app.tools import tool_registry
from app.tools.kit import Clue, OfflineHint, Scope, ToolArgs, ToolContext, ToolSet, Topic
from app.tools.kit.context import CallOutcome, MemoryJournal, Sender
from app.tools.kit.registry import ToolRegistry

SARA = "sara.ahmadi@example.com"
OLIVER = "oliver.smith@example.org"


async def run(
    subject: str, text: str, *, sender: str | None = SARA, registry: ToolRegistry | None = None
) -> tuple[AgentOutcome, MemoryJournal]:
    journal = MemoryJournal()
    ctx = ToolContext(
        shop=DemoShop(now=ANCHOR),
        sender=Sender(email=sender) if sender else None,
        journal=journal,
        now=ANCHOR,
    )
    run = await run_agent(
        AgentEmail(subject=subject, text=text),
        ctx=ctx,
        llm=OfflineModel(registry),
        trace=MemoryTrace(),
        store_name="Demo Store",
        registry=registry,
    )
    return run, journal


def called(journal: MemoryJournal) -> list[str]:
    return [record.tool for record in journal.calls]


async def test_the_order_number_picks_the_lookup_and_its_absence_the_list() -> None:
    _, with_number = await run("Where is my order #1001?", "Where is order #1001?")
    assert called(with_number) == ["get_order"]
    _, without = await run("Where is my order?", "Where is my order? It has been a week.")
    assert called(without) == ["list_my_orders"]


async def test_a_store_change_is_proposed_only_while_it_is_still_possible() -> None:
    processing, journal = await run(
        "Cancel order #1002", "Please cancel order #1002.", sender=OLIVER
    )
    assert called(journal) == ["get_order", "cancel_order"]
    assert processing.plan.proposals == (1,)
    shipped, journal = await run("Cancel order #1001", "Please cancel order #1001.")
    assert called(journal) == ["get_order"]  # in transit: too late to cancel
    assert shipped.plan.proposals == ()


async def test_tools_that_are_not_offered_are_never_called() -> None:
    _, journal = await run("Where is my order #1001?", "Where is order #1001?", sender=None)
    assert called(journal) == []


class NoteArgs(ToolArgs):
    """No arguments."""


class NoteFacts(BaseModel):
    """A note."""

    text: str


async def test_a_tool_without_a_hint_is_never_called_and_one_with_a_hint_is() -> None:
    extra = ToolSet()

    @extra.tool(scope=Scope.PUBLIC)
    async def get_store_note(ctx: ToolContext, args: NoteArgs) -> NoteFacts:
        """A note from the store."""
        return NoteFacts(text="unhinted")

    @extra.tool(scope=Scope.PUBLIC, offline=OfflineHint(topic=Topic.PRODUCT, args={}))
    async def get_size_guide(ctx: ToolContext, args: NoteArgs) -> NoteFacts:
        """The store's size guide."""
        return NoteFacts(text="sizes")

    # search_help (a how-to hint too) is left out: this run has no help library to search.
    shipped = [tool for tool in tool_registry().all() if tool.name != "search_help"]
    registry = ToolRegistry([*shipped, *extra.all()])
    _, journal = await run(
        "Linen shirt size", "What size of the linen shirt fits me?", registry=registry
    )
    assert "get_store_note" not in called(journal)
    assert "get_size_guide" in called(journal)
    assert "search_products" in called(journal)
    assert all(record.outcome is CallOutcome.OK for record in journal.calls)


def test_the_offline_model_knows_every_topic_and_clue_a_tool_may_declare() -> None:
    # A topic or clue added to app/tools/kit/hints.py fails here until offline.py is taught it.
    assert set().union(*TOPICS.values()) == set(Topic)
    reading = read_email(
        "Linen shirt: return policy", "Please return order #1001, it is small. What size fits?"
    )
    assert set(clues_of(reading)) == set(Clue)
