"""Fixtures of the DDM tests: DeclarativeManagement check-ins sent as a phone sends them, and declarations
created through the API."""
import json

import pytest
from sqlalchemy import select

from mdm_core import plist
from mdm_core.simulator.device import CHECKIN_CONTENT_TYPE
from portal.extensions import db
from portal.models import Device
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


def self_signed(common_name: str = "wifi.example.org"):
    """A small certificate and its key (EC, quick to make) for certificate and identity assets."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    return certificate, key


def identity_p12(password: bytes) -> bytes:
    """A PKCS #12 identity that opens with ``password``."""
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    certificate, key = self_signed()
    return pkcs12.serialize_key_and_certificates(b"wifi", key, certificate, None, BestAvailableEncryption(password))
