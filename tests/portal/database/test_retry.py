"""Work on a kept connection that is not pinged first: run again on a new connection only if the
first proved dead, and which errors say that."""
import sqlite3

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import create_engine, text

from portal.database.kept import KeptConnections
from portal.database.retry import is_disconnect, retried_on_disconnect
from portal.extensions import db


@pytest.fixture
def kept(database_url):
    kept = KeptConnections(create_engine(database_url), limit=2)
    yield kept
    kept.engine.dispose()


def test_work_runs_on_a_kept_connection_and_keeps_it(kept):
    first = retried_on_disconnect(kept, lambda connection: connection)
    assert kept.idle == [first]
    assert retried_on_disconnect(kept, lambda connection: connection) is first


def test_work_that_fails_runs_once_and_its_connection_goes_back_to_the_pool(kept):
    runs = []

    def failing(connection):
        runs.append(connection)
        connection.exec_driver_sql("SELECT no_such_column FROM no_such_table")

    with pytest.raises(Exception, match="no_such"):
        retried_on_disconnect(kept, failing)
    assert len(runs) == 1
    assert kept.idle == []
    assert kept.engine.pool.checkedout() == 0


@pytest.mark.postgres_only("SQLite has no server to end connections")
def test_work_on_connections_the_server_ended_runs_again_on_a_new_one(kept, database_url):
    dead = [kept.take(), kept.take()]
    for connection in dead:
        kept.give_back(connection)
    pids = [connection.connection.dbapi_connection.info.backend_pid for connection in dead]
    killer = create_engine(database_url)
    with killer.connect() as connection:
        for pid in pids:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    runs = []

    def work(connection):
        runs.append(connection)
        return connection.exec_driver_sql("SELECT 1").scalar()

    assert retried_on_disconnect(kept, work) == 1
    assert len(runs) == 2
    assert runs[1] not in dead, "the retry takes no other kept connection: it is likely dead too"
    assert kept.idle == [runs[1]]


@pytest.mark.postgres_only("SQLite has no server to end connections")
def test_a_statement_failing_on_a_dead_socket_counts_as_a_disconnect(app):
    """psycopg can raise "connection socket closed" before libpq marks the connection bad (seen in CI
    after pg_terminate_backend): that must be retried on a new connection, not answered with a 500."""
    with app.app_context(), db.engine.connect() as connection:
        engine = db.engine
        assert not connection.connection.dbapi_connection.closed  # a live connection, as in the race
        assert is_disconnect(engine, connection, psycopg.OperationalError("connection socket closed"))
        assert is_disconnect(engine, connection, errors.AdminShutdown("terminating connection due to administrator command"))
        assert not is_disconnect(engine, connection, errors.QueryCanceled("canceling statement due to statement timeout"))
        assert not is_disconnect(engine, connection, errors.SerializationFailure("could not serialize access"))
        assert not is_disconnect(engine, connection, psycopg.ProgrammingError("syntax error"))
        assert not is_disconnect(engine, connection, RuntimeError("not the driver's"))


def test_sqlite_operational_errors_are_not_disconnects(app, database_url):
    """The dead-socket rule is psycopg's: on SQLite, "database is locked" must not empty the pool."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite only")
    with app.app_context(), db.engine.connect() as connection:
        assert not is_disconnect(db.engine, connection, sqlite3.OperationalError("database is locked"))
