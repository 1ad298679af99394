"""The command URL served in front of Flask: other methods, unexpected errors, the connections it
keeps between requests, dead pooled connections."""
import logging
import sqlite3

import psycopg
import pytest
from sqlalchemy import create_engine, select, text

from mdm_core import plist
from mdm_core.simulator.device import COMMAND_CONTENT_TYPE
from portal.database.kept import kept_connections
from portal.extensions import db
from portal.mdm import views
from portal.models import Command


def _idle(device_http, phone):
    body = plist.dumps(phone.idle_report())
    return device_http.put(phone.settings.server_url, content=body, headers=phone.headers(body, COMMAND_CONTENT_TYPE))


def test_other_methods_on_the_command_url_get_405(device_http):
    response = device_http.get("/mdm/connect")
    assert response.status_code == 405
    assert response.headers["Allow"] == "PUT"


def test_the_answer_is_the_next_command_as_xml_or_an_empty_body(enroll, device_http):
    phone = enroll(collect_inventory=False)
    with_command = _idle(device_http, phone)
    assert with_command.status_code == 200
    assert with_command.headers["Content-Type"] == "application/xml"
    assert int(with_command.headers["Content-Length"]) == len(with_command.content)
    assert plist.loads(with_command.content)["Command"]["RequestType"]
    phone.poll(device_http)  # answers everything queued
    nothing = _idle(device_http, phone)
    assert (nothing.status_code, nothing.content, nothing.headers["Content-Length"]) == (200, b"", "0")
    assert "Content-Type" not in nothing.headers


def test_an_unexpected_error_is_a_logged_500_and_the_next_request_works(enroll, device_http, monkeypatch, caplog):
    phone = enroll()
    logging.getLogger("portal.mdm.command_connection").disabled = False  # the in-process migration disables loggers

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(views, "record_report", broken)
        with caplog.at_level(logging.ERROR, logger="portal.mdm.command_connection"):
            response = _idle(device_http, phone)
    assert response.status_code == 500
    assert "disk on fire" not in response.text
    assert any("disk on fire" in (record.exc_text or "") for record in caplog.records)
    assert _idle(device_http, phone).status_code == 200


def _in_transaction(connection) -> bool:
    """What the driver says, not SQLAlchemy: a transaction the database holds open."""
    dbapi_connection = connection.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.in_transaction
    return dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


def _kept(app):
    with app.app_context():
        return kept_connections()


def test_connections_are_kept_between_requests_outside_any_transaction(app, database_url, enroll, device_http):
    phone = enroll(collect_inventory=False)
    assert _idle(device_http, phone).status_code == 200
    held = list(_kept(app).idle)
    assert len(held) == 1 and not _in_transaction(held[0])
    # refused after the device row was stamped in a transaction (SQLite): rolled back, not left open
    report = {**phone.idle_report(), "Status": "Acknowledged", "CommandUUID": "never-sent"}
    body = plist.dumps(report)
    response = device_http.put(phone.settings.server_url, content=body, headers=phone.headers(body, COMMAND_CONTENT_TYPE))
    assert response.status_code == 400
    assert _kept(app).idle == held, "the same connection, kept"
    assert not _in_transaction(held[0])
    if database_url.startswith("sqlite"):  # an open write transaction would lock every other writer out
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
        try:
            other.execute("UPDATE devices SET device_name = device_name")
            other.commit()
        finally:
            other.close()


def _kill_pooled_backends(database_url):
    killer = create_engine(database_url)
    with killer.connect() as connection:
        killed = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )).scalar()
    killer.dispose()
    assert killed >= 1


@pytest.mark.postgres_only("SQLite has no server to drop connections")
def test_a_pooled_connection_killed_by_the_server_is_replaced_and_the_report_handled(app, database_url, enroll, device_http):
    phone = enroll()
    assert _idle(device_http, phone).status_code == 200  # the pool now holds a connection that served the device
    _kill_pooled_backends(database_url)
    assert _idle(device_http, phone).status_code == 200


@pytest.mark.postgres_only("SQLite has no server to drop connections")
def test_every_kept_connection_killed_by_the_server_still_gets_the_report_handled(app, database_url, enroll,
                                                                                 device_http):
    """A threaded server keeps more than one connection: after the first proves dead, the retry
    must not take another dead one."""
    phone = enroll()
    assert _idle(device_http, phone).status_code == 200
    kept = _kept(app)
    kept.give_back(kept.engine.connect())
    assert len(kept.idle) == 2
    _kill_pooled_backends(database_url)
    assert _idle(device_http, phone).status_code == 200
    assert len(kept.idle) == 1


@pytest.mark.postgres_only("SQLite has no server to drop connections")
def test_a_command_status_on_a_killed_connection_is_recorded_once_on_a_new_one(app, database_url, enroll, device_http):
    phone = enroll(collect_inventory=False)
    command = _idle(device_http, phone).content
    _exchange, report = phone.report_for(command)
    _kill_pooled_backends(database_url)
    body = plist.dumps(report)
    response = device_http.put(phone.settings.server_url, content=body,
                               headers=phone.headers(body, COMMAND_CONTENT_TYPE))
    assert response.status_code == 200
    with app.app_context():
        statuses = dict(db.session.execute(select(Command.command_uuid, Command.status)).all())
    assert statuses[report["CommandUUID"]] == "acknowledged"
    assert list(statuses.values()).count("sent") == 1, "the answer handed out the next command, once"
