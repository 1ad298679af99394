"""Core statements run straight on the DBAPI cursor, for the MDM hot path.

SQLAlchemy's execution layer (cache lookup, execution context, result objects) costs several
times more CPU than the statements themselves on the command connection, which every device
hits after every push. A :class:`DriverStatement` compiles its Core statement once per dialect,
with the same SQL text and the same type processing for its parameters, and executes it on the
cursor of the connection it is given: inside that connection's transaction, or committed on its
own under :func:`autocommit`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import Executable


@dataclass(frozen=True)
class _Bind:
    key: str  # the name the caller passes the value under
    required: bool  # False: a literal value built into the statement
    value: Any
    process: Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    returns_rows: bool
    binds: tuple[tuple[str, _Bind], ...]  # (name in the SQL, bind), in the DBAPI's order

    def parameters(self, values: Mapping[str, Any]) -> tuple | dict:
        processed = []
        for name, bind in self.binds:
            value = values[bind.key] if bind.required else bind.value
            processed.append((name, bind.process(value) if bind.process else value))
        if self.positional:
            return tuple(value for _, value in processed)
        return dict(processed)


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if compiled.insert_prefetch or compiled.update_prefetch:  # SQLAlchemy computes those per execution
        raise ValueError("statements with Python-side column defaults need SQLAlchemy's execution layer")
    binds = {name: _Bind(bind.key, bind.required, bind.value, bind.type.dialect_impl(dialect).bind_processor(dialect))
             for bind, name in compiled.bind_names.items()}
    order = compiled.positiontup if compiled.positional else list(binds)
    is_dml = compiled.isinsert or compiled.isupdate or compiled.isdelete
    return _Compiled(compiled.string, compiled.positional, not is_dml or bool(compiled.effective_returning),
                     tuple((name, binds[name]) for name in order))


# One cursor per DBAPI connection, kept in the pool's per-connection ``info`` (cleared when the
# pool replaces the connection): making a cursor costs about as much as running a short statement.
_CURSOR = "driver_statement_cursor"


class DriverStatement:
    """A Core statement executed on the DBAPI cursor; returns its first row (or all) as plain tuples.

    Rows come back as the driver returns them (no result processing): select plain columns
    (integers, strings, bytes), not JSON or datetimes.
    """

    def __init__(self, statement: Executable) -> None:
        self._statement = statement
        self._by_dialect: dict[tuple[str, str], _Compiled] = {}

    def first(self, connection: Connection, values: Mapping[str, Any]) -> tuple | None:
        rows = self.all(connection, values)
        return rows[0] if rows else None

    def all(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple]:
        """Every row the statement returns (none for one that returns no rows)."""
        dialect = connection.dialect
        compiled = self._by_dialect.get((dialect.name, dialect.driver))
        if compiled is None:
            compiled = self._by_dialect[dialect.name, dialect.driver] = _compile(self._statement, dialect)
        cursor = connection.info.get(_CURSOR)
        if cursor is None:
            cursor = connection.info[_CURSOR] = connection.connection.cursor()
        cursor.execute(compiled.sql, compiled.parameters(values))
        if not compiled.returns_rows:
            return []
        return cursor.fetchall()  # drained, so SQLite finishes the statement before the commit


@contextmanager
def autocommit(connection: Connection) -> Iterator[None]:
    """Run single-statement work outside a transaction block (psycopg): each statement commits
    on its own, without a BEGIN and a COMMIT round trip. The connection returns to the pool as
    it came, in transaction mode."""
    dbapi_connection = connection.connection.dbapi_connection
    dbapi_connection.autocommit = True
    try:
        yield
    finally:
        if not dbapi_connection.closed:
            dbapi_connection.autocommit = False
