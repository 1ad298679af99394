"""A database outage answers 503 with ``Retry-After``, never 500, and the caller retries.

While PostgreSQL restarts or is unreachable, every request that needs it fails with the driver's
``OperationalError`` (connection refused, the server shutting down or starting up, a statement
cancelled) or SQLAlchemy's ``DisconnectionError`` (a pooled connection found dead and none to
replace it). Those are the service being unavailable, not a bug: devices and load balancers retry
a 503, and the same request succeeds once the database is back, without restarting anything.
"""
from __future__ import annotations

from sqlalchemy import exc
from sqlalchemy.engine import Engine
from werkzeug.wrappers import Response

RETRY_AFTER_SECONDS = 5
MESSAGE = "The database is unavailable; retry later."


def is_outage(error: BaseException, engine: Engine | None = None) -> bool:
    """Whether ``error`` means the database is unreachable or not serving (rather than a bug).

    ``engine`` also recognises the driver's own ``OperationalError``, raised by statements run
    straight on a DBAPI cursor (``portal.database.driver``) without SQLAlchemy wrapping them.
    """
    if isinstance(error, (exc.OperationalError, exc.DisconnectionError)):
        return True
    if isinstance(error, exc.DBAPIError):
        return error.connection_invalidated
    dbapi = engine.dialect.loaded_dbapi if engine is not None else None
    return dbapi is not None and isinstance(error, dbapi.OperationalError)


def unavailable_text() -> Response:
    """The plain-text 503 that devices get (check-in, the command connection, SCEP)."""
    return Response(MESSAGE + "\n", status=503, mimetype="text/plain",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
