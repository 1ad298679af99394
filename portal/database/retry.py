"""Run work on a kept connection without pinging it first, again on a new one if it proved dead.

The ping (``ping.install_libpq_ping``) costs a round trip on every request; a dead connection
costs a second attempt once. The command connection takes that trade: it runs its work at once
on a kept connection (``kept``), and only if the connection turns out dead does it empty the
pool and run the work again on a new connection.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, exc
from sqlalchemy.engine import Engine

from .kept import KeptConnections
from .ping import PING_SKIPPED

T = TypeVar("T")


def retried_on_disconnect(kept: KeptConnections, work: Callable[[Connection], T]) -> T:
    """``work(connection)`` on a kept connection that is not pinged first.

    If the connection proves dead (the database restarted or ended it), the kept and the pool's
    idle connections are closed and ``work`` runs once more on a new connection. Only for work
    that may safely run twice: a dead connection fails it before it commits, except in the
    commit itself, after which running it again must change nothing more.
    """
    token = PING_SKIPPED.set(True)
    try:
        try:
            return _run(kept, kept.take(), work, may_retry=True)
        except _Disconnected:
            kept.discard()
            kept.engine.pool.dispose()
        return _run(kept, kept.engine.connect(), work, may_retry=False)
    finally:
        PING_SKIPPED.reset(token)


class _Disconnected(Exception):
    """The connection proved dead: the work may run again on a new one."""


def _run(kept: KeptConnections, connection: Connection, work: Callable[[Connection], T], *, may_retry: bool) -> T:
    """``work(connection)``; the connection is then kept, or goes back to the pool if the work failed."""
    try:
        result = work(connection)
    except Exception as error:
        dead = may_retry and is_disconnect(kept.engine, connection, error)
        if dead:
            connection.invalidate()
        connection.close()  # back to the pool, which resets it
        if dead:
            raise _Disconnected from error
        raise
    kept.give_back(connection)
    return result


#: SQLSTATEs of a server ending the session: class 08 (connection exception) and 57P01-57P03 (shutdown).
_SESSION_ENDED = ("08", "57P01", "57P02", "57P03")


def is_disconnect(engine: Engine, connection: Connection, error: Exception) -> bool:
    """Whether ``error``, raised by work on ``connection``, means the connection is dead."""
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
