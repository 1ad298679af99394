"""The libpq ping: a pooled PostgreSQL connection the server ended is replaced before use, unless
the caller handles dead connections itself."""
import pytest
from sqlalchemy import create_engine, exc, text

from portal.database.ping import PING_SKIPPED, install_libpq_ping

pytestmark = pytest.mark.postgres_only("the ping goes through libpq")

@pytest.fixture
def engine(database_url):
    engine = create_engine(database_url)
    install_libpq_ping(engine)
    yield engine
    engine.dispose()


def _pooled_backend_ended(engine, database_url) -> int:
    """Put a connection in the pool, end its backend on the server; its pid."""
    with engine.connect() as connection:
        pid = connection.connection.dbapi_connection.info.backend_pid
    killer = create_engine(database_url)
    with killer.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    return pid


def _pooled_socket_closed(engine, _database_url) -> int:
    """Put a connection in the pool with its libpq connection closed on this side; its pid."""
    with engine.connect() as connection:
        dbapi_connection = connection.connection.dbapi_connection
        pid = dbapi_connection.info.backend_pid
    dbapi_connection.pgconn.finish()
    return pid


@pytest.mark.parametrize("dead", [_pooled_backend_ended, _pooled_socket_closed], ids=["ended-by-the-server", "closed"])
def test_a_dead_pooled_connection_is_replaced_at_checkout(engine, database_url, dead):
    pid = dead(engine, database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
        assert connection.connection.dbapi_connection.info.backend_pid != pid


def test_no_ping_while_the_caller_handles_dead_connections(engine, database_url):
    _pooled_backend_ended(engine, database_url)
    token = PING_SKIPPED.set(True)
    try:
        with engine.connect() as connection, pytest.raises(exc.DBAPIError) as raised:
            connection.exec_driver_sql("SELECT 1")
        assert raised.value.connection_invalidated
    finally:
        PING_SKIPPED.reset(token)
