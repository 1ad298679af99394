"""Connections the command connection keeps checked out between requests.

The pool's check-out and check-in, with their events and reset, cost about as much CPU as the
request's one statement. Each app keeps its own, for its one engine, from the moment it is
created (``keep_connections``): a sync gunicorn worker holds one connection; threaded servers
take more from the pool and give back what exceeds ``limit``.
"""
from __future__ import annotations

from flask import Flask, current_app
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

_EXTENSION = "portal.kept_connections"


class KeptConnections:
    """Idle connections of one engine, kept out of its pool."""

    __slots__ = ("engine", "limit", "idle")

    def __init__(self, engine: Engine, limit: int) -> None:
        self.engine = engine
        self.limit = limit
        self.idle: list[Connection] = []  # kept, not in use

    def take(self) -> Connection:
        """A kept connection, or a new one from the pool when none is idle."""
        try:
            return self.idle.pop()  # atomic: two threads never get the same connection
        except IndexError:
            return self.engine.connect()

    def give_back(self, connection: Connection) -> None:
        """Keep ``connection`` for the next request, outside any transaction, as the pool would."""
        if connection.in_transaction():
            connection.rollback()
        if len(self.idle) < self.limit:
            self.idle.append(connection)
        else:
            connection.close()

    def discard(self) -> None:
        """Drop every kept connection: after one proved dead, the others likely are."""
        while True:
            try:
                connection = self.idle.pop()
            except IndexError:
                return
            connection.invalidate()
            connection.close()


def keep_connections(app: Flask, engine: Engine, limit: int = 2) -> None:
    """Give ``app`` its kept connections, for ``engine``."""
    app.extensions[_EXTENSION] = KeptConnections(engine, limit)


def kept_connections() -> KeptConnections:
    """The current app's kept connections."""
    return current_app._get_current_object().extensions[_EXTENSION]  # the proxy's attribute lookup costs more
