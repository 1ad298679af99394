"""Connections kept checked out between requests: up to a limit, one caller at a time, outside any transaction."""
from sqlalchemy import create_engine

from portal.database.kept import KeptConnections, kept_connections
from portal.extensions import db


def test_kept_up_to_the_limit_and_handed_to_one_caller_at_a_time(database_url):
    kept = KeptConnections(create_engine(database_url), limit=1)
    try:
        first, second = kept.take(), kept.take()
        assert first is not second
        kept.give_back(first)
        kept.give_back(second)
        assert kept.idle == [first]
        assert kept.engine.pool.checkedout() == 1, "the one over the limit went back to the pool"
        assert kept.take() is first
        assert kept.take() is not first, "none kept: a new one from the pool"
    finally:
        kept.engine.dispose()


def test_given_back_outside_any_transaction(database_url):
    kept = KeptConnections(create_engine(database_url), limit=1)
    try:
        connection = kept.take()
        connection.begin()
        connection.exec_driver_sql("SELECT 1")
        kept.give_back(connection)
        assert kept.idle == [connection]
        assert not connection.in_transaction()
    finally:
        kept.engine.dispose()


def test_discarded_connections_are_invalidated_and_leave_the_pool(database_url):
    kept = KeptConnections(create_engine(database_url), limit=2)
    try:
        connections = [kept.take(), kept.take()]
        for connection in connections:
            kept.give_back(connection)
        dbapi_connections = [connection.connection.dbapi_connection for connection in connections]
        kept.discard()
        assert kept.idle == []
        assert kept.engine.pool.checkedout() == 0
        with kept.engine.connect() as fresh:
            assert fresh.connection.dbapi_connection not in dbapi_connections, "the pool reuses neither"
    finally:
        kept.engine.dispose()


def test_an_app_keeps_connections_of_its_own_engine(app):
    with app.app_context():
        assert kept_connections().engine is db.engine
