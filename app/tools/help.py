"""The store's help articles: how things work at this store (sizing, care, gifts, warranty...)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.replies.facts import Block, Facts, Link, Presenter, Quote, Text
from app.tools.kit import Clue, OfflineHint, Scope, ToolArgs, ToolContext, ToolMiss, ToolSet, Topic

MAX_PASSAGES = 3
NO_ARTICLES = (
    "The store has no help article about this. Do not invent an answer; answer from other "
    "tools or hand over to a person."
)
tools = ToolSet()


class HelpArticlePassage(BaseModel):
    """A passage of one help article, with where the whole article is."""

    title: str
    passage: str
    url: str | None
    language: str


class HelpFacts(Facts):
    """The passages of the store's help articles that answer a how-to question."""

    kind = "help"
    customer_data = False

    passages: list[HelpArticlePassage]

    def summary(self) -> str:
        """One line for the audit log: the articles' titles."""
        return ", ".join(p.title for p in self.passages)[:300]

    def present(self, t: Presenter) -> list[Block]:
        """Each passage quoted under its article's title, the title linking to the article."""
        return [
            Quote(Link(p.url, Text(p.title)) if p.url else Text(p.title), p.passage)
            for p in self.passages
        ]

    def shown(self) -> dict[str, list[str]]:
        """Which articles: their URLs (or titles when unpublished)."""
        return {"help": [p.url or p.title for p in self.passages]}


class SearchHelpArgs(ToolArgs):
    """What the customer wants to know."""

    # No description: the name says it, and the prompt budget counts every token offered.
    query: str = Field(min_length=2, max_length=300)


@tools.tool(
    scope=Scope.PUBLIC, offline=OfflineHint(topic=Topic.HOW_TO, args={"query": Clue.QUESTION})
)
async def search_help(ctx: ToolContext, args: SearchHelpArgs) -> HelpFacts:
    """Search the store's how-to articles (sizing, care, gifts, warranty), customer's words."""
    if ctx.knowledge is None:
        raise ToolMiss(NO_ARTICLES)
    found = await ctx.knowledge.search_help(args.query, limit=MAX_PASSAGES)
    if not found:
        raise ToolMiss(NO_ARTICLES)
    return HelpFacts(
        passages=[
            HelpArticlePassage(title=p.title, passage=p.text, url=p.url, language=p.language)
            for p in found
        ]
    )
