"""Check that a pooled PostgreSQL connection is alive before a request uses it.

SQLAlchemy's ``pool_pre_ping`` runs ``SELECT 1`` through psycopg's cursor machinery, switching
autocommit off and on around it; on the command connection, the request every device makes
after every push, that was a sixth of the request's CPU. An empty query sent straight through
libpq proves the same thing, a round trip to a live server, for a fraction of the cost. A dead
connection raises ``DisconnectionError``, on which the pool connects afresh, as with
``pool_pre_ping``. Other databases keep SQLAlchemy's own ping.

The command connection goes further (:func:`retried_on_disconnect`): it skips the ping and
runs its work at once; only if the connection turns out dead does it empty the pool and run
the work again on a new connection. The ping costs a round trip on every request; a dead
connection costs a second attempt once. Its connections also stay checked out between
requests (``_Held``): the pool's check-out and check-in, with their events and reset, cost
about as much CPU as the request's one statement.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from sqlalchemy import Connection, event, exc
from sqlalchemy.engine import Engine

T = TypeVar("T")
#: Set while the caller handles dead connections itself (see retried_on_disconnect).
_PING_SKIPPED: ContextVar[bool] = ContextVar("ping_skipped", default=False)


def install_libpq_ping(engine: Engine) -> None:
    """Ping every connection checked out of ``engine`` (PostgreSQL through psycopg 3)."""
    from psycopg import Error, pq

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _PING_SKIPPED.get():
            return
        try:
            result = dbapi_connection.pgconn.exec_(b"")
        except Error as error:
            raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error
        if result.status != pq.ExecStatus.EMPTY_QUERY:
            raise exc.DisconnectionError(f"pooled connection is dead: {result.error_message.decode(errors='replace')}")


class _Held:
    """Idle connections kept checked out for the command connection, for one engine at a time:
    a server process has one; when another engine comes (tests make several), the connections
    of the one before go back to its pool. A sync gunicorn worker holds one connection;
    threaded servers take more from the pool and give back what exceeds ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.engine: Engine | None = None
        self.connections: list[Connection] = []
        self._switch = threading.Lock()

    def take(self, engine: Engine) -> Connection:
        if engine is self.engine:
            try:
                return self.connections.pop()  # atomic: two threads never get the same connection
            except IndexError:
                pass
        return engine.connect()

    def give_back(self, engine: Engine, connection: Connection) -> None:
        """Keep ``connection`` for the next request, outside any transaction, as the pool would."""
        if connection.in_transaction():
            connection.rollback()
        if engine is not self.engine:
            with self._switch:
                previous, self.engine, self.connections = self.connections, engine, []
            for old in previous:
                old.close()
        if len(self.connections) < self.limit:
            self.connections.append(connection)
        else:
            connection.close()

    def discard(self, engine: Engine) -> None:
        """Drop the connections kept for ``engine``: after one proved dead, the others likely are."""
        while engine is self.engine:
            try:
                connection = self.connections.pop()
            except IndexError:
                return
            connection.invalidate()
            connection.close()


_HELD = _Held(limit=2)


def retried_on_disconnect(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work(connection)`` on a connection that is not pinged first.

    If the connection proves dead (the database restarted or ended it), the pool's idle
    connections are closed and ``work`` runs once more on a new connection. Only for work that
    may safely run twice: a dead connection fails it before it commits, except in the commit
    itself, after which running it again must change nothing more.
    """
    token = _PING_SKIPPED.set(True)
    try:
        try:
            return _run(engine, _HELD.take(engine), work, may_retry=True)
        except _Disconnected:
            _HELD.discard(engine)
            engine.pool.dispose()
        return _run(engine, engine.connect(), work, may_retry=False)
    finally:
        _PING_SKIPPED.reset(token)


class _Disconnected(Exception):
    """The connection proved dead: the work may run again on a new one."""


def _run(engine: Engine, connection: Connection, work: Callable[[Connection], T], *, may_retry: bool) -> T:
    """``work(connection)``; the connection is then kept, or goes back to the pool if the work failed."""
    try:
        result = work(connection)
    except Exception as error:
        dead = may_retry and _is_disconnect(engine, connection, error)
        if dead:
            connection.invalidate()
        connection.close()  # back to the pool, which resets it
        if dead:
            raise _Disconnected from error
        raise
    _HELD.give_back(engine, connection)
    return result


#: SQLSTATEs of a server ending the session: class 08 (connection exception) and 57P01-57P03 (shutdown).
_SESSION_ENDED = ("08", "57P01", "57P02", "57P03")


def _is_disconnect(engine: Engine, connection: Connection, error: Exception) -> bool:
    if isinstance(error, exc.DBAPIError):  # raised through SQLAlchemy, which already judged it
        return error.connection_invalidated
    dbapi = engine.dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):  # raised by the driver, straight from its cursor
        return False
    if engine.dialect.is_disconnect(error, connection.connection.dbapi_connection, None):
        return True
    if engine.dialect.driver != "psycopg":  # SQLite's OperationalError ("database is locked") is no disconnect
        return False
    # psycopg can fail a statement on a dead socket ("connection socket closed", no SQLSTATE)
    # before libpq marks the connection bad, which is all the dialect looks at.
    return isinstance(error, dbapi.OperationalError) and (error.sqlstate is None or error.sqlstate.startswith(_SESSION_ENDED))
