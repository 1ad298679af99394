"""Fixtures shared by the portal tests: devices seeded without enrolling, an API client, a signed-in employee."""
import secrets

import pytest

from portal.extensions import db
from portal.models import Device
from portal.models.base import utcnow
from tests.helpers import IOS17, demo_sign_in


@pytest.fixture
def seed(app):
    """``seed(count, enrollment_type="user", **columns)`` inserts enrolled devices directly; returns their ids."""

    def make(count, *, enrollment_type="user", **columns):
        now = utcnow()
        with app.app_context():
            rows = []
            for index in range(count):
                identifier = secrets.token_hex(8).upper()
                values = dict(enrollment_type=enrollment_type,
                              enrollment_method="profile_driven" if enrollment_type == "user" else "legacy",
                              enrollment_id=identifier if enrollment_type == "user" else None,
                              udid=identifier if enrollment_type == "device" else None, status="enrolled",
                              managed_apple_id=f"user{index}@example.org", certificate_fingerprint=secrets.token_hex(32),
                              os_version="17.5.1", model="MTLW3LL/A", enrolled_at=now, last_seen_at=now)
                values.update(columns)
                rows.append(Device(**values))
            db.session.add_all(rows)
            db.session.commit()
            return [row.id for row in rows]

    return make


@pytest.fixture
def api(client, api_token):
    """``api(method, path, **kwargs)``: the REST API, with a token of every scope."""
    token = api_token("portal-tests")

    def call(method, path, **kwargs):
        return client.open(f"/api/v1{path}", method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


@pytest.fixture
def http_api(device_http, api_token):
    """``http_api(method, path, **kwargs)``: the REST API through httpx, as the device simulator's requests go."""
    token = api_token("portal-tests")

    def call(method: str, path: str, **kwargs):
        return device_http.request(method, f"/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, **kwargs)

    return call


@pytest.fixture
def employee(client):
    """``client`` signed in as the demo employee in Safari on iOS 17, at the privacy page."""
    client.environ_base["HTTP_USER_AGENT"] = IOS17
    assert demo_sign_in(client).location == "/enroll/privacy"
    return client
