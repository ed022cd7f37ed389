"""The one place store scoping happens: every ORM query on a store's rows gets its store filter.

A unit of work names its scope when it opens (`Database.read(scope)` / `write(scope)`):
`StoreScope.of(store_id)` for work inside one store (the admin, the pipeline once an email is
routed), or `ALL_STORES` for the few that are deployment-wide by nature (claiming jobs, routing a
new email, the CLI, migrations). A query on a `StoreScoped` table in a unit of work that named no
scope raises `UnscopedQuery`, so a forgotten filter is an error, never a leak; and a row added
in one store's scope cannot carry another store's id (`CrossStoreWrite`).

The filter is `with_loader_criteria` on every ORM SELECT, UPDATE and DELETE, relationship and
column loads included. Core statements on a bare `Connection` (`Database.run_write`) are not ORM
statements and are not filtered: they are kept to intake's inserts and the job queue.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.db import models as _models  # noqa: F401 - every table is mapped before the scan.
from app.db.base import Base
from app.db.stores import StoreScoped

SCOPE_KEY = "store_scope"


class UnscopedQuery(RuntimeError):
    """A query touched a store's rows in a unit of work that named no store scope."""


class CrossStoreWrite(RuntimeError):
    """A row of one store was written in another store's scope."""


@dataclass(frozen=True, slots=True)
class StoreScope:
    """Which store's rows a unit of work sees: one store, or (`store_id=None`) every store."""

    store_id: int | None

    @classmethod
    def of(cls, store_id: int) -> StoreScope:
        """The scope of one store."""
        return cls(store_id=store_id)

    @property
    def is_everywhere(self) -> bool:
        """Whether this is `ALL_STORES`."""
        return self.store_id is None


ALL_STORES = StoreScope(store_id=None)
"""Every store's rows: only for work that is deployment-wide by nature."""


def bind_scope(session: Session, scope: StoreScope | None) -> None:
    """Set the scope every statement in `session` runs under (None: no store rows at all)."""
    if scope is None:
        session.info.pop(SCOPE_KEY, None)
    else:
        session.info[SCOPE_KEY] = scope


def session_scope(session: Session) -> StoreScope | None:
    """The scope `session` runs under, if it named one."""
    scope = session.info.get(SCOPE_KEY)
    return scope if isinstance(scope, StoreScope) else None


def _touches_store_rows(state: ORMExecuteState) -> bool:
    return any(issubclass(mapper.class_, StoreScoped) for mapper in state.all_mappers)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = session_scope(state.session)
    if scope is None:
        if _touches_store_rows(state):
            raise UnscopedQuery(
                "this unit of work named no store scope: open it with db.read(scope) or "
                "db.write(scope)"
            )
        return
    if scope.store_id is None:
        return
    store_id = scope.store_id
    state.statement = state.statement.options(
        *(
            # One criterion per table: the lambda is cached per class, its store id is a bound
            # parameter, and it reaches every place the table appears (joins, subqueries).
            with_loader_criteria(table, lambda cls: cls.store_id == store_id, include_aliases=True)
            for table in scoped_tables()
        )
    )


@functools.cache
def scoped_tables() -> tuple[type[StoreScoped], ...]:
    """Every mapped class whose rows carry a store id (read once, after all tables are mapped)."""
    return tuple(
        mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, StoreScoped)
    )


@event.listens_for(Session, "before_flush")
def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    scope = session_scope(session)
    if scope is None or scope.store_id is None:
        # Unscoped and deployment-wide work writes the store ids it means explicitly.
        return
    for row in [*session.new, *session.dirty]:
        if not isinstance(row, StoreScoped):
            continue
        if row.store_id is None:
            row.store_id = scope.store_id
        elif row.store_id != scope.store_id:
            raise CrossStoreWrite(
                f"a {type(row).__name__} of store {row.store_id} in the scope of store "
                f"{scope.store_id}"
            )
