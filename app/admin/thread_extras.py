"""What the thread page adds around the email: macros, the customer's timeline, actions in words.

Each part has its own module (`macro_fill`, `timeline`, `action_words`); this loads them for one
email in one read unit of work, so the page builder (`app.admin.screens.thread_page`) stays a
list of what the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.admin.action_words import ProposalFacts, proposal_facts
from app.admin.customer_card import CustomerCard
from app.admin.macro_fill import email_language, fill_macro, macros_for
from app.admin.review import NotFound
from app.admin.schemas import ProposalView
from app.admin.timeline import Timeline, load_timeline
from app.db.engine import Database
from app.db.models import Macro, Message


@dataclass(slots=True)
class ThreadExtras:
    """The thread page's context beyond the trace (names as the partials use them)."""

    timeline: Timeline
    picker_macros: list[Macro]
    proposal_facts: dict[int, ProposalFacts]
    chosen_macro: int | None = None
    composer_start: str = ""
    macro_problems: list[str] = field(default_factory=list)

    def context(self) -> dict[str, Any]:
        """The template names for these parts."""
        return {
            "timeline": self.timeline,
            "picker_macros": self.picker_macros,
            "chosen_macro": self.chosen_macro,
            "proposal_facts": self.proposal_facts,
        }


async def load_thread_extras(
    db: Database,
    *,
    store_id: int,
    message_pk: int,
    card: CustomerCard,
    proposals: list[ProposalView],
    macro_id: int | None,
    store_name: str,
) -> ThreadExtras:
    """Load the timeline, the macros for the email's language and, if chosen, one filled macro."""
    async with db.read() as session:
        message = await session.get(Message, message_pk)
        language = await email_language(session, message) if message is not None else ""
        extras = ThreadExtras(
            timeline=await load_timeline(
                session, store_id=store_id, message_pk=message_pk, card=card
            ),
            picker_macros=await macros_for(session, store_id=store_id, language=language),
            proposal_facts=await proposal_facts(session, proposals),
        )
        if macro_id is None:
            return extras
        try:
            filled = await fill_macro(
                session,
                store_id=store_id,
                macro_id=macro_id,
                message_pk=message_pk,
                store_name=store_name,
            )
        except NotFound:
            extras.macro_problems.append(f"There is no macro {macro_id} to use here.")
            return extras
    extras.chosen_macro = filled.macro_id
    extras.composer_start = filled.text
    if filled.missing:
        # Staff see which variables this email's facts could not fill before they send.
        extras.macro_problems.append(
            "This email's facts do not fill: "
            + ", ".join("{{" + name + "}}" for name in filled.missing)
            + ". Replace them in the text before sending."
        )
    return extras
