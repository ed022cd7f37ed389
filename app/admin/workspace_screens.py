"""What the workspace adds to the staff pages: the inbox and its views, and the email's tools.

On an email: the composer, assignment, notes, presence, and the way on to the view's next email.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from app.admin import reporting, views, workspace, workspace_reads
from app.admin.filters import QueueFilter
from app.admin.flash import Flash
from app.admin.presence import HEARTBEAT_SECONDS
from app.admin.reasons import CLOSE_WORDS
from app.admin.schemas import MessageDetail, QueuePage, ReplyView
from app.admin.staff import Staff
from app.admin.templating import render
from app.admin.views import InboxView
from app.agent.plan import Intent
from app.db.engine import Database

HOME = "/admin"
PAGE_SIZE = 50
MIN_ROWS, MAX_ROWS = 6, 40
KEYS = (
    ("j / k", "next / previous email"),
    ("Enter", "open the selected email"),
    ("a", "approve and send (then the next email)"),
    ("e", "edit the draft"),
    ("r", "reply"),
    ("c", "close without a reply"),
    ("?", "this help"),
)


def inbox_view(word: str) -> InboxView:
    """The view a page asks for; an unknown word is the default view."""
    try:
        return InboxView(word)
    except ValueError:
        return InboxView.NEEDS_ACTION


def composer_start_text(
    *, typed: str | None, draft: ReplyView | None, composer_start: str = ""
) -> str:
    """What the composer starts from, decided here only.

    What staff typed (an error brought them back), else a macro they just chose
    (`composer_start`), else the draft, else nothing.
    """
    if typed is not None:
        return typed
    if composer_start:
        return composer_start
    return draft.text or "" if draft is not None else ""


def rows_for(text: str) -> int:
    """The composer's height in lines: the whole text shows, sign-off included."""
    lines = sum(1 + len(line) // 90 for line in text.splitlines()) + 2
    return max(MIN_ROWS, min(MAX_ROWS, lines))


async def inbox_page(
    request: Request,
    base: dict[str, Any],
    db: Database,
    staff: Staff,
    *,
    view: str,
    status: str,
    intent: str,
    verified: str,
    q: str,
    customer: str,
    before_id: int | None,
    after_id: int | None,
    notice: str | None = None,
) -> HTMLResponse:
    """The inbox: a view (needs action by default), filtered; an unknown filter is a 422."""
    problems: list[str] = []
    chosen = inbox_view(view)
    if view and view != chosen.value:
        problems.append(f"unknown view {view!r}: choose one of the tabs")
    wanted: QueueFilter | None = None
    if status:
        try:
            wanted = QueueFilter(status)
        except ValueError:
            problems.append(f"unknown status {status!r}: choose one from the list")
    if intent and intent not in {i.value for i in Intent}:
        problems.append(f"unknown intent {intent!r}: choose one from the list")
    if verified and verified not in ("yes", "no"):
        problems.append("verified must be yes or no")
    filters = {"status": status, "intent": intent, "verified": verified, "q": q}
    filters["customer"] = customer
    page = QueuePage(items=[], next_before_id=None)
    async with db.read() as session:
        counts = await views.counts(session, staff.id)
        if not problems:
            page = await reporting.list_messages(
                session,
                reporting.QueueQuery(
                    status=wanted,
                    intent=intent or None,
                    verified={"yes": True, "no": False}.get(verified),
                    text=q.strip() or None,
                    customer=customer.strip() or None,
                    before_id=before_id,
                    after_id=after_id,
                    oldest_first=chosen.oldest_first,
                    by_priority=chosen.by_priority,
                    where=(views.condition(chosen, staff.id),),
                    limit=PAGE_SIZE,
                ),
            )
        listed = [item.id for item in page.items]
        names = await workspace_reads.names(session, [i.assigned_to_id for i in page.items])
        here = await workspace_reads.row_presence(session, listed, staff=staff)
    active = {"view": chosen.value, **{name: value for name, value in filters.items() if value}}
    cursor = (
        {"after_id": page.next_after_id}
        if page.next_after_id
        else {"before_id": page.next_before_id}
        if page.next_before_id
        else None
    )
    base.update(
        items=page.items,
        view=chosen,
        views=list(InboxView),
        view_counts=counts,
        filters=filters,
        problems=problems,
        status_filters=list(QueueFilter),
        intents=list(Intent),
        assignees=names,
        presence=here,
        notice=notice,
        keys=KEYS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        paged=before_id is not None or after_id is not None,
        first_url=f"{HOME}?{urlencode(active)}",
        older_url=f"{HOME}?{urlencode({**active, **cursor})}" if cursor else None,
    )
    return render("queue.html", base, status_code=422 if problems else 200)


async def thread_context(
    db: Database,
    staff: Staff,
    message: MessageDetail,
    draft: ReplyView | None,
    *,
    view: str,
    back: int | None,
    flash: Flash | None,
    draft_text: str | None,
    composer_start: str,
) -> dict[str, Any]:
    """The workspace's part of an email page."""
    chosen = inbox_view(view)
    async with db.read() as session:
        notes = await workspace.notes(session, message.id)
        members = await workspace.members(session, staff.store_id or 0)
        assignee = await workspace_reads.staff_member(session, message.assigned_to_id)
        others = await workspace_reads.row_presence(session, [message.id], staff=staff)
        following = await views.neighbour(session, chosen, staff.id, message.id)
        previous = await views.neighbour(session, chosen, staff.id, message.id, backwards=True)
    typed = flash.text if flash is not None and flash.ask != "revised" else draft_text
    start = composer_start_text(typed=typed, draft=draft, composer_start=composer_start)
    return {
        "view": chosen,
        "back": back,
        "flash": flash,
        "notes": notes,
        "members": members,
        "assignee": assignee,
        "presence": others.get(message.id, []),
        "next_pk": following,
        "previous_pk": previous,
        "composer_text": start,
        "composer_rows": rows_for(start),
        "their_text": flash.text if flash is not None and flash.ask == "revised" else None,
        "close_reasons": [(r.value, CLOSE_WORDS[r]) for r in workspace.CLOSE_REASONS],
        "closed": message.status == "closed",
        "reopenable": message.status in workspace.REOPENABLE,
        "keys": KEYS,
        "heartbeat_seconds": HEARTBEAT_SECONDS,
    }
