"""The workspace's read models: an email with its notes, assignee and presence; list rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.admin import presence, reporting, workspace
from app.admin.staff import Staff
from app.admin.workspace_schemas import Member, MessageWork, PresenceView
from app.db.models import StaffUser


async def message_work(
    session: AsyncSession, message_pk: int, *, staff: Staff
) -> MessageWork | None:
    """One email's trace with what the workspace adds (None: no such email in this store)."""
    trace = await reporting.message_trace(session, message_pk)
    if trace is None:
        return None
    others = await presence.present(session, [message_pk], besides=staff.id)
    return MessageWork(
        **dict(trace),
        notes=await workspace.notes(session, message_pk),
        assigned_to=await staff_member(session, trace.message.assigned_to_id),
        presence=others.get(message_pk, []),
    )


async def staff_member(session: AsyncSession, staff_id: int | None) -> Member | None:
    """A staff account as the workspace names it (None: nobody)."""
    if staff_id is None:
        return None
    row = await session.get(StaffUser, staff_id)
    return Member(id=row.id, email=row.email, name=row.name) if row is not None else None


async def names(session: AsyncSession, staff_ids: Iterable[int | None]) -> dict[int, str]:
    """Staff members' names (their email when they have none), for list rows."""
    wanted = sorted({i for i in staff_ids if i is not None})
    if not wanted:
        return {}
    statement = select(StaffUser.id, StaffUser.name, StaffUser.email).where(
        StaffUser.id.in_(wanted)
    )
    return {i: n or e for i, n, e in (await session.execute(statement)).all()}


async def row_presence(
    session: AsyncSession, message_pks: Iterable[int], *, staff: Staff
) -> dict[int, list[PresenceView]]:
    """Who else has each listed email open."""
    return await presence.present(session, message_pks, besides=staff.id)
