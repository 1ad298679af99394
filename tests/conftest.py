"""Fixtures shared by every test: one migrated database per run (SQLite, or PostgreSQL
with TEST_DATABASE_URL), emptied after each test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db as _db
from tests.helpers import REPO, TEST_SECRET, csrf_token_from

SHARED = REPO.parent / "shared"


def pytest_collection_modifyitems(config, items) -> None:
    """Skip ``@pytest.mark.postgres_only("why")`` tests, saying why, unless TEST_DATABASE_URL is PostgreSQL."""
    if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"):
        return
    for item in items:
        marker = item.get_closest_marker("postgres_only")
        if marker:
            why = f": {marker.args[0]}" if marker.args else ""
            item.add_marker(pytest.mark.skip(reason=f"PostgreSQL only (set TEST_DATABASE_URL){why}"))


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def live_port() -> int:
    """The port ``live_server`` listens on; PUBLIC_URL points there so profile URLs work."""
    return _free_port()


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory, live_port):
    app = create_app({
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET,
        "TESTING": True,
        "PUBLIC_URL": f"http://127.0.0.1:{live_port}",
    })
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Empty every table after each test that used the app, so tests stay independent."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    from portal.pki import forget_cached_identities

    forget_cached_identities()
    with app.app_context():
        _db.session.remove()
        tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
        with _db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield
        _db.session.remove()


@pytest.fixture
def make_admin(app):
    from portal.cli import upsert_admin

    def make(email: str = "admin@example.org", password: str = "correct horse battery staple"):
        with app.app_context():
            upsert_admin(email, password)
            _db.session.commit()
        return email, password

    return make


@pytest.fixture
def admin_client(client, make_admin):
    email, password = make_admin()
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))
    response = client.post("/admin/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302
    return client


@pytest.fixture
def api_token(app):
    """A full-scope API token; ``api_token(scopes=(...))`` for a restricted one."""
    from portal.models import ApiToken
    from portal.models.api_token import DEFAULT_SCOPES

    def make(name: str = "tests", scopes=DEFAULT_SCOPES):
        with app.app_context():
            row, token = ApiToken.issue(name, tuple(scopes))
            _db.session.add(row)
            _db.session.commit()
        return token

    return make


@pytest.fixture
def device_http(app):
    """An httpx client that reaches the app in-process, as the device simulator's transport."""
    import httpx

    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url=app.config["PUBLIC_URL"]) as http:
        yield http


@pytest.fixture
def enroll(device_http, api_token):
    """Enroll a simulated iPhone through a profile minted by the API; returns the device.

    The device then answers the inventory round queued at enrollment (``collect_inventory=False``
    leaves those commands queued).
    """
    from mdm_core.simulator.device import SimulatedDevice

    token = api_token("enroller")

    def make(enrollment_type: str = "user", managed_apple_id: str = "alice@example.org", collect_inventory: bool = True,
             **device_kwargs):
        response = device_http.post("/api/v1/enrollment-profiles", headers={"Authorization": f"Bearer {token}"},
                                    json={"enrollment_type": enrollment_type, "managed_apple_id": managed_apple_id})
        assert response.status_code == 201, response.text
        device = SimulatedDevice(enrollment_type=enrollment_type, **device_kwargs)
        device.install_profile(response.content, device_http)
        if collect_inventory:
            device.poll(device_http)
        return device

    return make


# -- APNs: a stand-in "Apple" push CA, an MDM push certificate, and the local APNs stand-in --------
@pytest.fixture(scope="session")
def standin_pki(tmp_path_factory):
    """Certificates for the APNs stand-in, written once per run: ``(pki, files)``."""
    from mdm_core.apns.standin_pki import create_standin_pki

    pki = create_standin_pki()
    return pki, pki.write(tmp_path_factory.mktemp("apns"))


@pytest.fixture
def apns_standin(standin_pki):
    """A fresh APNs stand-in on a free port (real TLS with client certificates, HTTP/2)."""
    from mdm_core.apns.standin import Standin

    _pki, files = standin_pki
    standin = Standin(files["server_cert"], files["server_key"], files["push_ca"]).start()
    yield standin
    standin.stop()


# -- Apps and Books: the local stand-in of Apple's Apps and Books for Organizations API -------------
@pytest.fixture(scope="session")
def vpp_standin_dir(tmp_path_factory):
    """Where the stand-in keeps its CA and server certificate, made once per run."""
    return tmp_path_factory.mktemp("vpp")


@pytest.fixture
def vpp_standin(vpp_standin_dir):
    """A fresh Apps and Books stand-in on a free port (HTTPS); events complete at once unless
    ``vpp_standin.state.delay`` is set."""
    from mdm_core.vpp.standin import VppStandin

    standin = VppStandin(directory=vpp_standin_dir).start()
    yield standin
    standin.stop()
