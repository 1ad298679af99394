"""Check that a pooled PostgreSQL connection is alive before a request uses it.

SQLAlchemy's ``pool_pre_ping`` runs ``SELECT 1`` through psycopg's cursor machinery, switching
autocommit off and on around it; on the command connection, the request every device makes
after every push, that was a sixth of the request's CPU. An empty query sent straight through
libpq proves the same thing, a round trip to a live server, for a fraction of the cost. A dead
connection raises ``DisconnectionError``, on which the pool connects afresh, as with
``pool_pre_ping``. Other databases keep SQLAlchemy's own ping.
"""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

#: Set while the caller handles dead connections itself (``retry.retried_on_disconnect``).
PING_SKIPPED: ContextVar[bool] = ContextVar("ping_skipped", default=False)


def install_libpq_ping(engine: Engine) -> None:
    """Ping every connection checked out of ``engine`` (PostgreSQL through psycopg 3)."""
    from psycopg import Error, pq

    @event.listens_for(engine, "checkout")
    def ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if PING_SKIPPED.get():
            return
        try:
            result = dbapi_connection.pgconn.exec_(b"")
        except Error as error:
            raise exc.DisconnectionError(f"pooled connection is dead: {error}") from error
        if result.status != pq.ExecStatus.EMPTY_QUERY:
            raise exc.DisconnectionError(f"pooled connection is dead: {result.error_message.decode(errors='replace')}")
