"""Fixtures of the profile tests: the corpus, uploads through the API, and employees with chosen groups."""
import pytest
from sqlalchemy import select

from portal.auth import demo_idp
from portal.extensions import db
from portal.models import Device
from tests.helpers import PROFILE_CORPUS as CORPUS, demo_sign_in


@pytest.fixture
def upload(api):
    """``upload(name_or_bytes)``: POST a corpus file (or bytes) to the library; returns the profile id."""

    def make(profile, **query):
        data = (CORPUS / f"{profile}.mobileconfig").read_bytes() if isinstance(profile, str) else profile
        response = api("POST", "/profiles", data=data, query_string=query)
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()["id"]

    return make


@pytest.fixture
def sign_in_with_groups(app, monkeypatch):
    """``sign_in_with_groups(sub, *groups)``: the demo person ``sub`` signs in, the IdP saying these groups."""

    def sign_in(sub, *groups):
        person = demo_idp._USERS[sub]
        monkeypatch.setitem(demo_idp._USERS, sub, demo_idp.DemoUser(person.sub, person.email, person.name, groups))
        with app.test_client() as browser:
            assert demo_sign_in(browser, sub, next_path="/enroll").status_code == 302

    return sign_in


@pytest.fixture
def device_id(app):
    """``device_id(phone)``: the server's id of a simulated phone's enrollment."""

    def find(phone):
        column = Device.enrollment_id if phone.enrollment_type == "user" else Device.udid
        with app.app_context():
            return db.session.scalar(select(Device.id).where(column == phone.identifier))

    return find
