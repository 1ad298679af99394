"""Fixtures of the DDM tests: DeclarativeManagement check-ins sent as a phone sends them, and declarations
created through the API."""
import json

import pytest
from sqlalchemy import select

from mdm_core import plist
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE
from portal.extensions import db
from portal.models import Device
from tests.portal.apps.conftest import person, vpp, worker_pass  # noqa: F401 (fixtures shared with the app tests)
from tests.portal.profiles.conftest import sign_in_with_groups  # noqa: F401 (a fixture shared with the profile tests)

MAIL = {"VisibleName": "Work mail", "UserIdentityAssetReference": "example.identity",
        "IncomingServer": {"ServerType": "IMAP", "HostName": "imap.example.org", "Port": 993,
                           "AuthenticationMethod": "Password"},
        "OutgoingServer": {"HostName": "smtp.example.org", "Port": 587, "AuthenticationMethod": "Password"}}
IDENTITY = {"FullName": "$FULL_NAME", "EmailAddress": "$MANAGED_APPLE_ID"}


@pytest.fixture
def ddm(device_http):
    """``ddm(phone, endpoint, data=None)``: one DeclarativeManagement check-in, signed by the phone."""

    def call(phone, endpoint, data=None, **changes):
        message = {"MessageType": "DeclarativeManagement", "EnrollmentID": phone.identifier, "Endpoint": endpoint}
        if data is not None:
            message["Data"] = data if isinstance(data, bytes) else json.dumps(data).encode()
        message.update(changes)
        body = plist.dumps({k: v for k, v in message.items() if v is not None})
        return device_http.put(phone.settings.checkin_url, content=body,
                               headers=phone.headers(body, CHECKIN_CONTENT_TYPE))

    return call


@pytest.fixture
def reports_active(ddm):
    """``reports_active(phone, identifier)``: the phone reads its manifest and reports that configuration active and
    valid, naming the server token it was served."""

    def report(phone, identifier):
        items = ddm(phone, "declaration-items").json()["Declarations"]["Configurations"]
        token = next(item["ServerToken"] for item in items if item["Identifier"] == identifier)
        status = {"StatusItems": {"management": {"declarations": {"configurations": [
            {"identifier": identifier, "server-token": token, "active": True, "valid": "valid"}]}}},
            "Errors": [], "FullReport": False}
        assert ddm(phone, "status", status).status_code == 200

    return report


@pytest.fixture
def declare(api):
    """``declare(type, payload, identifier=None)``: POST a declaration; returns its JSON."""

    def make(kind, payload, identifier=None, **extra):
        response = api("POST", "/declarations", json={"type": kind, "payload": payload,
                                                      **({"identifier": identifier} if identifier else {}), **extra})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.get_json()

    return make


@pytest.fixture
def device_row(app):
    def find(phone):
        with app.app_context():
            device = db.session.scalar(select(Device).where(Device.enrollment_id == phone.identifier))
            db.session.expunge(device)
            return device

    return find

