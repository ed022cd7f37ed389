"""The one place store scoping happens: every ORM query on a store's rows gets its store filter.

A unit of work names its scope when it opens (`Database.read(scope)` / `write(scope)`):
`StoreScope.of(store_id)` for work inside one store (the admin, the pipeline once an email is
routed), or `ALL_STORES` for the few that are deployment-wide by nature (claiming jobs, routing a
new email, the CLI, migrations). A query on a `StoreScoped` table in a unit of work that named no
scope raises `UnscopedQuery`, so a forgotten filter is an error, never a leak; and a row added
in one store's scope cannot carry another store's id (`CrossStoreWrite`).

The filter is `with_loader_criteria` on every ORM SELECT, UPDATE and DELETE, relationship and
column loads included. The check for a missing scope walks the whole statement, so a store's
table in a subquery, an EXISTS, a CTE, a union or `select_from` counts as much as one at the top.
In a store's scope, an INSERT or UPDATE statement may write only that store's id (an INSERT
without one gets it stamped), and the forms the filter cannot reach are refused rather than run
unfiltered: a Core table (`Message.__table__`) named through no mapped class, an ORM bulk UPDATE
by primary key (it ignores loader criteria), and INSERT ... FROM SELECT.

Core statements on a bare `Connection` (`Database.run_write`) are not ORM statements and are not
filtered: they are kept to intake's inserts and the job queue. Neither is textual SQL
(`sqlalchemy.text`) run in a session: it names its tables in a string nobody parses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ColumnClause, TableClause

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


@dataclass(frozen=True, slots=True)
class _Reach:
    """Which store tables a statement names anywhere (subqueries, EXISTS, CTEs, unions too)."""

    any: bool
    plain: str | None
    """A store table named as a Core table, not through its mapped class: no filter reaches it."""


def _reach(statement: Any, mappers: Any = ()) -> _Reach:
    names = scoped_table_names()
    # What the ORM itself loads (`session.get`, a deferred column) names its tables bare.
    mapped = {str(mapper.local_table.name) for mapper in mappers} & names
    core: set[str] = set()
    for element in visitors.iterate(statement):
        if isinstance(element, TableClause):
            table: Any = element
        elif isinstance(element, ColumnClause) and element.table is not None:
            table = element.table
        else:
            continue
        if table.name not in names:
            continue
        # The ORM marks what it takes from a mapped class (`parententity`); `Message.__table__`
        # and its columns carry no mark. A statement on a mapped class also names the bare
        # table (a derived FROM, the primary key of `session.get`), so only a table named
        # bare and never through its class is a Core reference.
        if "parententity" in getattr(element, "_annotations", {}):
            mapped.add(table.name)
        else:
            core.add(table.name)
    bare = sorted(core - mapped)
    return _Reach(any=bool(mapped or core), plain=bare[0] if bare else None)


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete or state.is_insert):
        return
    scope = session_scope(state.session)
    if scope is None:
        # An INSERT names its store id itself, as `session.add` does in an unscoped unit of work.
        if state.is_insert:
            return
        # `all_mappers` sees the top level only: the walk also finds a store table in a
        # subquery, an EXISTS, a CTE, a union, `select_from` or a Core table.
        if _touches_store_rows(state) or _reach(state.statement, state.all_mappers).any:
            raise UnscopedQuery(
                "this unit of work named no store scope: open it with db.read(scope) or "
                "db.write(scope)"
            )
        return
    store_id = scope.store_id
    if store_id is None:
        return
    reach = _reach(state.statement, state.all_mappers)
    if reach.plain is not None:
        raise UnscopedQuery(
            f"the Core table {reach.plain} cannot be filtered by store: query it through its "
            "mapped class"
        )
    if not reach.any:
        return
    if state.is_insert or state.is_update:
        _check_written_store(state, store_id)
    if state.is_insert:
        return
    if state.is_update and _executemany(state.parameters):
        # An ORM bulk UPDATE by primary key ignores loader criteria, and SQLAlchemy refuses
        # extra WHERE criteria on it: it has no way to stay inside one store.
        raise CrossStoreWrite(
            "a bulk UPDATE by primary key cannot be scoped to a store: use update().where()"
        )
    state.statement = state.statement.options(
        *(
            # One criterion per table: the lambda is cached per class, its store id is a bound
            # parameter, and it reaches every place the table appears (joins, subqueries).
            with_loader_criteria(table, lambda cls: cls.store_id == store_id, include_aliases=True)
            for table in scoped_tables()
        )
    )


def _executemany(parameters: Any) -> bool:
    return isinstance(parameters, list | tuple)


def _check_written_store(state: ORMExecuteState, store_id: int) -> None:
    """An INSERT or UPDATE in a store's scope writes only that store's id (stamped if absent)."""
    statement: Any = state.statement
    if getattr(statement, "select", None) is not None:
        raise CrossStoreWrite(
            "INSERT ... FROM SELECT into a store's table cannot be checked in a store scope"
        )
    batches = getattr(statement, "_multi_values", None) or ()
    if batches:
        # `insert().values([{...}, {...}])`: each row must name this store (nothing is stamped).
        for row in (row for batch in batches for row in batch):
            named = {_column_name(k): v for k, v in row.items()} if isinstance(row, dict) else {}
            given = named.get("store_id")
            if getattr(given, "value", given) != store_id:
                raise CrossStoreWrite(
                    f"a multi-row INSERT in the scope of store {store_id} names another store, "
                    "or none, in a row"
                )
        return
    values = {_column_name(key): value for key, value in (statement._values or {}).items()}
    if "store_id" in values:
        given = getattr(values["store_id"], "value", values["store_id"])
        if given != store_id:
            raise CrossStoreWrite(f"a statement writes store id {given!r} in store {store_id}")
    rows: Any = state.parameters
    listed: list[dict[str, Any]] = (
        [dict(row) for row in rows] if _executemany(rows) else [dict(rows)] if rows else []
    )
    for row in listed:
        if "store_id" in row and row["store_id"] != store_id:
            raise CrossStoreWrite(
                f"a statement writes store id {row['store_id']!r} in store {store_id}"
            )
    if state.is_insert and "store_id" not in values:
        # New rows are stamped, as `session.add` stamps them.
        if listed:
            stamped = [{**row, "store_id": store_id} for row in listed]
            state.parameters = stamped if _executemany(rows) else stamped[0]
        else:
            state.statement = statement.values(store_id=store_id)


def _column_name(key: Any) -> str:
    return key if isinstance(key, str) else str(getattr(key, "key", key))


@functools.cache
def scoped_table_names() -> frozenset[str]:
    """The names of the tables whose rows carry a store id."""
    return frozenset(str(getattr(table, "__tablename__", "")) for table in scoped_tables())


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
