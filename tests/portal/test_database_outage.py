"""With the database unreachable, every surface answers 503 with Retry-After, in its own form, at once.

The app here points at a port nothing listens on, so each request that needs the database fails
to connect as it would while PostgreSQL restarts (tests/resilience stops a real one)."""
import sqlite3
import time

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

from mdm_core import plist
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE, COMMAND_CONTENT_TYPE
from portal import create_app
from portal.database.outage import RETRY_AFTER_SECONDS, is_outage
from portal.extensions import db
from tests.helpers import TEST_SECRET, local_path


@pytest.fixture
def unreachable(app):
    """The same portal with its database gone (nothing listens on port 9)."""
    down = create_app({"DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:9/gone", "SECRET_KEY": TEST_SECRET,
                       "TESTING": True, "PUBLIC_URL": app.config["PUBLIC_URL"]})
    yield down.test_client()
    with down.app_context():
        db.engine.dispose()


def _answered_503_at_once(send, content_type: str):
    started = time.monotonic()
    response = send()
    assert time.monotonic() - started < 1
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.mimetype == content_type
    return response


def test_health_api_and_admin_answer_503_in_their_own_form(unreachable):
    health = _answered_503_at_once(lambda: unreachable.get("/healthz"), "application/json")
    assert health.get_json()["status"] == "unavailable"
    api = _answered_503_at_once(lambda: unreachable.get("/api/v1/devices", headers={"Authorization": "Bearer x" * 8}),
                                "application/json")
    assert api.get_json()["error"] == "service_unavailable"
    page = _answered_503_at_once(lambda: unreachable.post("/admin/login", data={"email": "a@example.org"}), "text/html")
    assert "Service Unavailable" in page.get_data(as_text=True)


def test_device_requests_answer_503_as_plain_text(enroll, unreachable):
    phone = enroll("user")
    checkin = plist.dumps(phone.token_update_message())
    report = plist.dumps(phone.idle_report())
    for url, body, content_type in ((phone.settings.checkin_url, checkin, CHECKIN_CONTENT_TYPE),
                                    (phone.settings.server_url, report, COMMAND_CONTENT_TYPE)):
        response = _answered_503_at_once(
            lambda: unreachable.put(local_path(url), data=body, headers=phone.headers(body, content_type)), "text/plain")
        assert response.get_data(as_text=True) == "The database is unavailable; retry later.\n"


def test_only_an_unreachable_database_counts_as_an_outage():
    refused = psycopg.OperationalError("connection refused")
    assert is_outage(OperationalError("SELECT 1", {}, refused))
    assert is_outage(DisconnectionError("pooled connection is dead"))
    assert is_outage(DBAPIError("SELECT 1", {}, refused, connection_invalidated=True))
    assert not is_outage(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not is_outage(refused), "a bare driver error needs the engine to be recognised"
    assert is_outage(refused, create_engine("postgresql+psycopg://u@127.0.0.1:9/x"))
    assert is_outage(sqlite3.OperationalError("database is locked"), create_engine("sqlite://"))
    assert not is_outage(ValueError("a bug"), create_engine("sqlite://"))


def test_a_signed_in_admin_gets_the_503_page(app, admin_client, unreachable):
    cookie = admin_client.get_cookie("byod_admin_session")
    unreachable.set_cookie(cookie.key, cookie.value)
    page = _answered_503_at_once(lambda: unreachable.get("/admin/devices"), "text/html")
    assert "The database is unavailable" in page.get_data(as_text=True)
