"""Store actions in words: each proposal tool's wording, results in words, and no `gid://` id
anywhere on the actions page or outside the email page's collapsed raw details."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.admin.action_words import (
    PROPOSALS,
    ProposalFacts,
    hide_gids,
    proposal_facts,
    result_words,
    words_for,
)
from app.admin.schemas import ProposalView
from app.admin.templating import environment
from app.config import Settings
from app.db.engine import Database
from app.db.models import ProposedAction
from app.db.scope import ALL_STORES
from app.db.statuses import ProposalStatus
from app.providers import Providers
from app.store.models import Money, OrderStatus
from app.tools import tool_registry
from app.tools.orders import ItemFacts, OrderFacts
from tests.admin.test_pages import Desk, lena_return, log_in
from tests.builders import IN_DEFAULT_STORE

GID = "gid://shopify/Order/6150000001007"


@pytest.fixture
async def desk(
    client: httpx.AsyncClient, db: Database, settings: Settings, providers: Providers
) -> Desk:
    return Desk(
        http=client, db=db, settings=settings, providers=providers, csrf=await log_in(client, db)
    )


def order(number: str = "#1001") -> OrderFacts:
    return OrderFacts(
        order_number=number,
        status=OrderStatus.PROCESSING,
        status_text="processing",
        placed_on=date(2026, 11, 20),
        items=[
            ItemFacts(title="Linen shirt", variant="M", quantity=2),
            ItemFacts(title="Wool socks - EU 40", variant="EU 40", quantity=1),
        ],
        total=Money(amount=Decimal("49.00"), currency="EUR"),
        shipped_on=None,
        estimated_delivery=None,
        delivered_on=None,
        tracking=[],
        refunds=[],
        returns=[],
        shipping_address=None,
        status_page_url=None,
    )


def proposal(
    tool: str,
    arguments: dict[str, Any],
    *,
    status: ProposalStatus = ProposalStatus.PENDING,
    result: dict[str, Any] | None = None,
) -> ProposalView:
    return ProposalView(
        id=7,
        message_id=3,
        tool=tool,
        order_name="#1001",
        arguments={"order_number": "1001", "reason": "Too small.", **arguments},
        reason="Too small.",
        status=status,
        result=result,
        created_at=datetime(2026, 11, 22, tzinfo=UTC),
        decided_by=None,
        decided_at=None,
    )


FACTS = ProposalFacts(customer="Lena Fischer <lena@example.de>", order=order())


def test_every_proposal_tool_has_its_own_wording() -> None:
    proposing = {t.name for t in tool_registry().all() if t.needs_approval}
    assert proposing == set(PROPOSALS)


def test_cancel_order_in_words() -> None:
    words = words_for(proposal("cancel_order", {}), FACTS)
    assert words.proposed == "cancel the order and refund 49.00 EUR"
    assert words.headline == "Cancel the order and refund 49.00 EUR"
    assert words.customer == "Lena Fischer <lena@example.de>"
    assert words.order == "#1001"
    assert words.items == ["2 × Linen shirt (M)", "1 × Wool socks - EU 40"]
    assert words.result is None
    assert words_for(proposal("cancel_order", {})).proposed == (
        "cancel the order and refund the payment"
    )


def test_refund_order_in_words() -> None:
    words = words_for(proposal("refund_order", {}), FACTS)
    assert words.proposed == "refund the order to the original payment (up to 49.00 EUR)"
    done = proposal(
        "refund_order",
        {},
        status=ProposalStatus.EXECUTED,
        result={"ok": True, "summary": "49.00 EUR refunded on #1001", "reference": GID},
    )
    assert words_for(done, FACTS).result == "refund 49.00 EUR"


def test_request_return_in_words() -> None:
    some = words_for(proposal("request_return", {"items": ["linen shirt"]}), FACTS)
    assert some.proposed == "open a return for the items below"
    assert some.items == ["2 × Linen shirt (M)"]
    every = words_for(proposal("request_return", {"items": None}), FACTS)
    assert every.proposed == "open a return for every item"
    assert len(every.items) == 2
    unknown_order = words_for(proposal("request_return", {"items": ["Linen shirt"]}))
    assert unknown_order.items == ["Linen shirt"]
    done = proposal(
        "request_return",
        {"items": None},
        status=ProposalStatus.EXECUTED,
        result={"ok": True, "summary": "return #1001-R1 requested", "reference": GID},
    )
    assert words_for(done).result == "return #1001-R1 requested"


def test_change_shipping_address_in_words() -> None:
    new_address = {
        "name": "Lena Fischer",
        "address1": "Aachener Straße 240",
        "address2": None,
        "city": "Köln",
        "province_code": None,
        "zip": "50931",
        "country_code": "DE",
    }
    words = words_for(proposal("change_shipping_address", {"new_address": new_address}), FACTS)
    assert words.proposed == (
        "change the shipping address to Lena Fischer, Aachener Straße 240, 50931 Köln, DE"
    )
    done = proposal(
        "change_shipping_address",
        {"new_address": new_address},
        status=ProposalStatus.EXECUTED,
        result={"ok": True, "summary": "shipping address of #1001 updated"},
    )
    assert words_for(done).result == "shipping address changed"


def test_an_unknown_tool_is_worded_without_gids() -> None:
    words = words_for(proposal("exchange_item", {"line": GID, "size": "L"}), FACTS)
    assert words.proposed == "exchange item (line: order; size: L)"
    assert "gid://" not in repr(words)
    assert hide_gids("refund gid://shopify/OrderTransaction/99 done") == (
        "refund order transaction done"
    )


@pytest.mark.parametrize(
    ("status", "result", "expected"),
    [
        (ProposalStatus.PENDING, None, None),
        (ProposalStatus.APPROVED, None, "approved, being carried out"),
        (ProposalStatus.REJECTED, {"reason": "worn shoes"}, "declined: worn shoes"),
        (
            ProposalStatus.FAILED,
            {"ok": False, "summary": "#1001 was not refunded", "user_errors": [f"{GID} locked"]},
            "failed: #1001 was not refunded; order locked",
        ),
        (
            ProposalStatus.FAILED,
            {"ok": False, "summary": "", "user_errors": []},
            "failed: no reason given",
        ),
        (
            ProposalStatus.EXECUTED,
            {"ok": True, "summary": "#1001 cancellation started", "reference": GID},
            "cancellation started",
        ),
    ],
)
def test_results_in_words(
    status: ProposalStatus, result: dict[str, Any] | None, expected: str | None
) -> None:
    assert result_words("cancel_order", status, result) == expected


def test_the_email_page_partial_keeps_raw_json_in_the_collapsed_details() -> None:
    failed = proposal(
        "refund_order",
        {},
        status=ProposalStatus.FAILED,
        result={"ok": False, "summary": "nothing left to refund", "reference": GID},
    )
    html = environment.get_template("thread/_actions.html").render(
        trace={"proposals": [failed]},
        proposal_facts={7: FACTS},
        csrf_field="csrf_token",
        csrf_token="t",
    )
    words, raw = html.split('<details class="raw">')
    assert "gid://" not in words
    assert "Refund the order to the original payment (up to 49.00 EUR)" in words
    assert "Lena Fischer &lt;lena@example.de&gt;" in words
    assert "2 × Linen shirt (M)" in words
    assert "failed: nothing left to refund" in words
    assert "<summary>raw</summary>" in raw
    assert GID in raw
    # Without the facts loaded, the partial still words the action.
    bare = environment.get_template("thread/_actions.html").render(
        trace={"proposals": [failed]}, csrf_field="csrf_token", csrf_token="t"
    )
    assert "Refund the order to the original payment" in bare


async def test_the_actions_page_shows_words_and_never_a_gid(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    async with desk.db.read(ALL_STORES) as session:
        row = (
            await session.execute(select(ProposedAction).where(ProposedAction.message_id == pk))
        ).scalar_one()
    assert row.order_id.startswith("gid://")
    pending = await desk.http.get("/admin/proposals")
    assert "Open a return for every item" in pending.text
    assert "Order <bdi>#1007</bdi>" in pending.text
    assert "gid://" not in pending.text
    approved = await desk.post(f"/admin/proposals/{row.id}/approve", {"back_to": "proposals"})
    assert approved.status_code == 303
    async with desk.db.read(ALL_STORES) as session:
        done = await session.get(ProposedAction, row.id)
    assert done is not None
    assert "gid://" in str(done.result)  # the store's reference is kept, in the trace only
    listing = await desk.http.get("/admin/proposals?status=")
    assert "return #1007" in listing.text
    assert "requested" in listing.text
    assert "gid://" not in listing.text
    assert "{" not in listing.text.split("<main>")[1]  # no JSON at all
    thread = await desk.http.get(f"/admin/messages/{pk}")
    section = thread.text.split('aria-labelledby="proposals-h"')[1].split("</section>")[0]
    assert "gid://" not in section.split('<details class="raw">')[0]


async def test_the_facts_come_from_the_proposals_own_email(desk: Desk) -> None:
    pk = await desk.seed(lena_return())
    async with desk.db.read(IN_DEFAULT_STORE) as session:
        row = (await session.execute(select(ProposedAction))).scalar_one()
        view = ProposalView.model_validate(row)
        facts = await proposal_facts(session, [view])
    assert facts[view.id].customer == "Lena Fischer <lena@example.de>"
    found = facts[view.id].order
    assert found is not None
    assert found.order_number == "#1007"
    words = words_for(view, facts[view.id])
    assert words.items == ["1 × Leather Derby Shoes - EU 38"]
    assert pk == view.message_id
